"""`pipework cert` end to end: the files it writes are accepted by the real `openssl` tool.

`openssl verify` checks the chains and purposes, `openssl x509 -text` shows the SANs, and a TLS
handshake between `openssl s_server` (serving the certificate) and `openssl s_client
-verify_return_error` checks what a TLS peer sees, mutual TLS included.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import ROOT, free_port, require, wait_port

TIMEOUT = 20


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipework", "cert", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def ok(*args: str | Path) -> str:
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def openssl(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("openssl")
    d = tmp_path_factory.mktemp("pki")
    out = ok("ca", "--out", d)
    assert f"wrote {d}/ca.pem: CA certificate CN=pipework development CA " in out
    assert f"wrote {d}/ca-key.pem: its private key; keep it private" in out
    out = ok("issue", "localhost", "*.example.test", "127.0.0.1", "::1", "--ca", d, "--out", d)
    assert f"wrote {d}/localhost.pem: server certificate for localhost, *.example.test, 127.0.0.1, ::1" in out
    assert f"wrote {d}/localhost-key.pem: its private key" in out
    ok("issue", "rsa.test", "--rsa", "2048", "--ca", d, "--out", d)
    out = ok("issue", "alice", "--client", "--key-passphrase", "pw", "--ca", d, "--out", d)
    assert f"wrote {d}/alice-client-key.pem: its private key (encrypted)" in out
    return d


@contextmanager
def s_server(*args: str | Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port)
        yield port
    finally:
        proc.kill()
        proc.wait(TIMEOUT)


def s_client(port: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return openssl("s_client", "-connect", f"127.0.0.1:{port}", "-brief", "-verify_return_error", *args)


def test_openssl_verifies_the_chains(pki: Path) -> None:
    ca = pki / "ca.pem"
    for name, purpose in [
        ("localhost", "sslserver"),
        ("rsa.test", "sslserver"),
        ("alice-client", "sslclient"),
    ]:
        r = openssl("verify", "-purpose", purpose, "-CAfile", ca, pki / f"{name}.pem")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == f"{pki}/{name}.pem: OK"
    assert openssl("verify", "-purpose", "sslclient", "-CAfile", ca, pki / "localhost.pem").returncode != 0


def test_openssl_shows_the_names_and_keys(pki: Path) -> None:
    text = openssl("x509", "-noout", "-text", "-in", pki / "localhost.pem").stdout
    assert "DNS:localhost, DNS:*.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" in text
    assert "Subject: O = pipework development certificate, CN = localhost" in text
    assert "TLS Web Server Authentication" in text
    assert "ASN1 OID: prime256v1" in text
    ca_text = openssl("x509", "-noout", "-text", "-in", pki / "ca.pem").stdout
    assert "CA:TRUE, pathlen:0" in ca_text
    rsa = openssl("x509", "-noout", "-text", "-in", pki / "rsa.test.pem").stdout
    assert "Public-Key: (2048 bit)" in rsa
    assert (
        openssl("pkey", "-noout", "-in", pki / "alice-client-key.pem", "-passin", "pass:pw").returncode == 0
    )
    assert (
        openssl("pkey", "-noout", "-in", pki / "alice-client-key.pem", "-passin", "pass:no").returncode != 0
    )


@pytest.mark.parametrize(("base", "name"), [("localhost", "localhost"), ("rsa.test", "rsa.test")])
def test_tls_handshake_with_openssl(pki: Path, base: str, name: str) -> None:
    with s_server("-cert", pki / f"{base}.pem", "-key", pki / f"{base}-key.pem") as port:
        r = s_client(port, "-CAfile", pki / "ca.pem", "-servername", name, "-verify_hostname", name)
        assert r.returncode == 0, r.stderr
        assert "Verification: OK" in r.stderr
        assert f"Verified peername: {name}" in r.stderr
        if base == "localhost":
            r = s_client(port, "-CAfile", pki / "ca.pem", "-verify_hostname", "a.example.test")
            assert "Verified peername: *.example.test" in r.stderr
            r = s_client(port, "-CAfile", pki / "ca.pem", "-verify_ip", "127.0.0.1")
            assert r.returncode == 0, r.stderr
        r = s_client(port, "-CAfile", pki / "ca.pem", "-verify_hostname", "other.test")
        assert r.returncode != 0
        assert "hostname mismatch" in r.stderr


def test_mutual_tls_with_openssl(pki: Path) -> None:
    server = ("-cert", pki / "localhost.pem", "-key", pki / "localhost-key.pem")
    with s_server(*server, "-Verify", "1", "-CAfile", pki / "ca.pem") as port:
        r = s_client(
            port,
            "-CAfile",
            pki / "ca.pem",
            "-cert",
            pki / "alice-client.pem",
            "-key",
            pki / "alice-client-key.pem",
            "-pass",
            "pass:pw",
        )
        assert r.returncode == 0, r.stderr
        assert "Verification: OK" in r.stderr


def test_check_command(pki: Path) -> None:
    out = ok("check", pki / "localhost.pem", pki / "localhost-key.pem")
    assert out.startswith(f"{pki}/localhost.pem: ok\n")
    assert "names:        localhost, *.example.test, 127.0.0.1, ::1" in out
    assert ok("check", pki / "alice-client.pem", pki / "alice-client-key.pem", "--passphrase", "pw")
    r = cli("check", pki / "localhost.pem", pki / "rsa.test-key.pem")
    assert r.returncode == 1
    assert r.stderr.startswith(f"pipework cert: {pki}/rsa.test-key.pem: this private key does not match")
    r = cli("check", pki / "alice-client.pem", pki / "alice-client-key.pem")
    assert (
        r.stderr
        == f"pipework cert: {pki}/alice-client-key.pem: the private key is encrypted; give its passphrase\n"
    )


def test_cli_errors_say_what_to_do(pki: Path, tmp_path: Path) -> None:
    r = cli("issue", "x.test", "--ca", tmp_path / "none", "--out", tmp_path)
    assert r.returncode == 1
    assert r.stderr == (
        f"pipework cert: no CA in {tmp_path}/none (ca.pem and ca-key.pem); "
        f"make one with: pipework cert ca --out {tmp_path}/none\n"
    )
    r = cli("ca", "--out", pki)
    assert r.returncode == 1
    assert "already; remove, choose another --out, or add --force" in r.stderr
    r = cli("issue", "a.*.test", "--ca", pki, "--out", tmp_path)
    assert r.returncode == 1
    assert "'a.*.test' is not a DNS name" in r.stderr
    r = cli("issue", "x.test", "--rsa", "1024", "--ca", pki, "--out", tmp_path)
    assert r.stderr == "pipework cert: RSA keys are 2048, 3072, 4096 bits, not 1024\n"
    r = cli("issue", "x.test", "--days", "0", "--ca", pki, "--out", tmp_path)
    assert r.returncode == 2
    assert "expected days >= 1, got 0" in r.stderr
    assert cli().returncode == 2
    help_text = ok("issue", "--help")
    for word in ("--client", "--rsa", "--ecdsa", "--key-passphrase", "--days", "examples:"):
        assert word in help_text


def test_encrypted_ca_and_name_constraints(tmp_path: Path) -> None:
    require("openssl")
    ok("ca", "--out", tmp_path, "--key-passphrase", "capw", "--name-constraint", "test", "--rsa", "2048")
    r = cli("issue", "a.test", "--ca", tmp_path, "--out", tmp_path)
    assert r.returncode == 1
    assert "ca-key.pem: the private key is encrypted; give its passphrase" in r.stderr
    ok(
        "issue",
        "a.test",
        "--ca",
        tmp_path,
        "--ca-passphrase",
        "capw",
        "--out",
        tmp_path,
        "--basename",
        "site",
    )
    r = openssl("verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "site.pem")
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("issue", "other.example", "--ca", tmp_path, "--ca-passphrase", "capw", "--out", tmp_path)
    assert r.returncode == 1
    assert "may sign only for test, not other.example" in r.stderr
