"""TLS termination and origination against real peers: openssl s_client and s_server, curl.

Certificates are made for each test run by the openssl command line (a CA, server certificates
for a.test, *.b.test and a default, a client certificate), never committed.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import free_port, require, run_script, wait_port


def openssl(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=30, check=False
    )


def issue(d: Path, name: str, sans: str, client: bool = False) -> None:
    ok = openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={name}",
        cwd=d,
    )
    assert ok.returncode == 0, ok.stderr
    ext = d / f"{name}.ext"
    usage = "clientAuth" if client else "serverAuth"
    ext.write_text(
        f"subjectAltName={sans}\nextendedKeyUsage={usage}\n" if sans else f"extendedKeyUsage={usage}\n"
    )
    ok = openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        ext.name,
        "-out",
        f"{name}.pem",
        cwd=d,
    )
    assert ok.returncode == 0, ok.stderr


NAMES = ("a.test", "wild.b.test", "default.test", "client")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    require("openssl")
    d = tmp_path_factory.mktemp("pki")
    ok = openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=pipework test CA",
        cwd=d,
    )
    assert ok.returncode == 0, ok.stderr
    issue(d, "a.test", "DNS:a.test")
    issue(d, "wild.b.test", "DNS:*.b.test")
    issue(d, "default.test", "DNS:default.test")
    issue(d, "client", "", client=True)
    pairs = {n.replace(".", "_"): (str(d / f"{n}.pem"), str(d / f"{n}.key")) for n in NAMES}
    return SimpleNamespace(dir=d, ca=str(d / "ca.pem"), **pairs)


def serve_tls(pipework, tmp_path: Path, pki: SimpleNamespace, options: str = "", inner: str = "") -> int:  # type: ignore[no-untyped-def]
    port = free_port()
    inner = inner or (
        "p.demux_http().to(lambda p: p.replace_message(lambda msg, ctx: pw.Response("
        "f'sni={ctx.tls.server_name} alpn={ctx.tls.alpn} {ctx.tls.version}\\n')))"
    )
    run_script(
        pipework,
        tmp_path / "tls.py",
        textwrap.dedent(f"""\
        import pipework as pw
        certs = [{pki.default_test!r}, {pki.a_test!r}, {pki.wild_b_test!r}]
        pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.accept_tls(certificates=certs{options})
            .to(lambda p: {inner})))
        """),
    )
    return port


def s_client(port: int, *args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    return openssl("s_client", "-connect", f"127.0.0.1:{port}", "-brief", *args, stdin=stdin, cwd=cwd)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require("curl")
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_sni_picks_the_certificate(pipework, tmp_path: Path, pki) -> None:
    port = serve_tls(pipework, tmp_path, pki)
    for name, served in (("a.test", "a.test"), ("x.b.test", "wild.b.test"), ("other.test", "default.test")):
        r = openssl(
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            name,
            "-CAfile",
            pki.ca,
            stdin="",
            cwd=tmp_path,
        )
        assert f"subject=CN = {served}" in r.stdout, r.stdout + r.stderr
    r = curl("--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/")
    assert r.stdout.startswith("sni=a.test alpn=None TLSv1.3"), r.stderr


def test_alpn_and_versions(pipework, tmp_path: Path, pki) -> None:
    port = serve_tls(pipework, tmp_path, pki, ", alpn=['h2', 'http/1.1']")
    r = openssl(
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-alpn",
        "http/1.1",
        "-servername",
        "a.test",
        stdin="",
        cwd=tmp_path,
    )
    assert "ALPN protocol: http/1.1" in r.stdout
    r = s_client(port, "-tls1_2", "-servername", "a.test", cwd=tmp_path)
    assert "Protocol version: TLSv1.2" in r.stdout + r.stderr
    for old in ("-tls1", "-tls1_1"):
        r = s_client(port, old, "-servername", "a.test", cwd=tmp_path)
        assert r.returncode != 0
        assert "Protocol version" not in r.stdout + r.stderr
    # a refused handshake costs only its own connection
    r = curl(
        "--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", "--http1.1", f"https://a.test:{port}/"
    )
    assert r.stdout == "sni=a.test alpn=http/1.1 TLSv1.3\n"


def test_session_resumption(pipework, tmp_path: Path, pki) -> None:
    port = serve_tls(pipework, tmp_path, pki)
    sess = tmp_path / "sess.pem"
    first = openssl(
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "a.test",
        "-sess_out",
        str(sess),
        "-ign_eof",
        stdin="GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        cwd=tmp_path,
    )
    assert "New, TLSv1.3" in first.stdout, first.stdout
    again = openssl(
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "a.test",
        "-sess_in",
        str(sess),
        stdin="",
        cwd=tmp_path,
    )
    assert "Reused, TLSv1.3" in again.stdout, again.stdout


def test_mutual_tls(pipework, tmp_path: Path, pki) -> None:
    port = serve_tls(
        pipework,
        tmp_path,
        pki,
        f", client_ca={pki.ca!r}, verify_client='required'",
        inner="p.demux_http().to(lambda p: p.replace_message(lambda msg, ctx: pw.Response("
        "f'client cert {len(ctx.tls.peer_cert)} bytes\\n')))",
    )
    base = ("--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/")
    good = curl("--cert", pki.client[0], "--key", pki.client[1], *base)
    assert good.stdout.startswith("client cert "), good.stderr
    assert good.stdout.endswith(" bytes\n")
    none = curl(*base)
    assert none.returncode != 0
    assert none.stdout == ""
    # a certificate from a CA the server does not trust is refused too
    other = tmp_path / "other"
    other.mkdir()
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "k.pem",
        "-out",
        "c.pem",
        "-days",
        "2",
        "-subj",
        "/CN=intruder",
        cwd=other,
    )
    bad = curl("--cert", str(other / "c.pem"), "--key", str(other / "k.pem"), *base)
    assert bad.returncode != 0
    assert bad.stdout == ""


@pytest.fixture
def s_server(pki: SimpleNamespace) -> Iterator[int]:
    """openssl s_server with a.test's certificate, answering HTTP with its -www page."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            pki.a_test[0],
            "-key",
            pki.a_test[1],
            "-www",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port)
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("server_name", "works"), [("a.test", True), ("wrong.test", False)])
def test_connect_tls_verifies_the_server(
    pipework, tmp_path: Path, pki, s_server: int, server_name: str, works: bool
) -> None:
    port = free_port()
    p = run_script(
        pipework,
        tmp_path / "up.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.connect_tls({server_name!r}, ca={pki.ca!r})\n"
        f"    .to(lambda p: p.connect('127.0.0.1:{s_server}'))))\n",
    )
    r = curl(f"http://127.0.0.1:{port}/")
    if works:
        assert "Ciphers supported in s_server binary" in r.stdout, r.stderr
    else:
        assert r.stdout == ""
        p.wait_log(r"TLS handshake failed: CERTIFICATE_VERIFY_FAILED")
