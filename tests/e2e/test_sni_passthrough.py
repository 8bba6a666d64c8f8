"""SNI pass-through against real peers: a pipework process reads the ClientHello, routes the raw
stream by name to one of two `openssl s_server` processes (each with its own self-signed
certificate, made here by the openssl command line), and openssl s_client and curl check which
backend answered (the certificate's subject), that ALPN went through, and that a non-TLS client
is refused cleanly."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import free_port, require, run_script, wait_port

from pipework.codec.tls import Alert, encode_alert

TIMEOUT = 20

SCRIPT = """
import logging
import pipework as pw

log = logging.getLogger("sni")
backends = {{"a.test": "127.0.0.1:{a}", "b.test": "127.0.0.1:{b}"}}

def seen(hello, ctx):
    log.info("hello for %s, ALPN %s, versions %s", hello.server_name, ",".join(hello.alpn) or "none",
             ",".join(f"{{v:#06x}}" for v in hello.versions))

def backend(ctx):
    return backends.get(ctx.vars.tls_hello.server_name, backends["a.test"])

pw.listen({port}, pw.pipeline(lambda p: p.handle_tls_client_hello(seen)
                                       .link(lambda p: p.connect(backend, connect_timeout=5))))
"""


def openssl(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def self_signed(directory: Path, name: str) -> tuple[str, str]:
    cert, key = str(directory / f"{name}.pem"), str(directory / f"{name}.key")
    made = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
                   "-addext", f"subjectAltName=DNS:{name}", cwd=directory)
    assert made.returncode == 0, made.stderr
    return cert, key


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Two s_servers, a.test's and b.test's, answering HTTP/1.1 with their -www page."""
    require("openssl")
    directory = tmp_path_factory.mktemp("sni-certs")
    procs: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for name in ("a.test", "b.test"):
            cert, key = self_signed(directory, name)
            port = ports[name[0]] = free_port()
            procs.append(subprocess.Popen(
                ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key, "-www",
                 "-alpn", "http/1.1,h2"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=directory))
            wait_port("127.0.0.1", port)
        yield SimpleNamespace(dir=directory, **ports)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(TIMEOUT)


@pytest.fixture
def router(pipework, tmp_path: Path, backends: SimpleNamespace) -> SimpleNamespace:
    port = free_port()
    proc = run_script(pipework, tmp_path / "sni.py", SCRIPT.format(a=backends.a, b=backends.b, port=port))
    return SimpleNamespace(port=port, proc=proc, dir=backends.dir)


def s_client(router: SimpleNamespace, *args: str) -> subprocess.CompletedProcess[str]:
    return openssl("s_client", "-connect", f"127.0.0.1:{router.port}", "-ign_eof", *args,
                   stdin="GET / HTTP/1.0\r\n\r\n", cwd=router.dir)


@pytest.mark.parametrize(("args", "subject"), [
    (("-servername", "a.test"), "CN = a.test"),
    (("-servername", "B.TEST"), "CN = b.test"),  # names compare lower-cased
    (("-servername", "other.test"), "CN = a.test"),  # the default
    (("-noservername",), "CN = a.test"),
    (("-servername", "b.test", "-tls1_2"), "CN = b.test"),
])
def test_s_client_reaches_the_backend_of_its_name(router: SimpleNamespace, args: tuple[str, ...],
                                                  subject: str) -> None:
    r = s_client(router, *args)
    assert f"subject={subject}\n" in r.stdout, r.stdout + r.stderr
    assert "Ciphers supported in s_server binary" in r.stdout  # the -www page: HTTP went through


def test_alpn_passes_through_and_is_seen(router: SimpleNamespace) -> None:
    r = s_client(router, "-servername", "b.test", "-alpn", "h2")
    assert "ALPN protocol: h2" in r.stdout, r.stdout  # the backend chose it from the client's hello
    assert "subject=CN = b.test" in r.stdout
    router.proc.wait_log(r"hello for b\.test, ALPN h2, versions 0x0304,0x0303")


@pytest.mark.parametrize("name", ["a.test", "b.test"])
def test_curl(router: SimpleNamespace, name: str) -> None:
    curl = require("curl")
    r = subprocess.run([curl, "-sS", "-v", "-k", "--max-time", str(TIMEOUT), "--resolve",
                        f"{name}:{router.port}:127.0.0.1", f"https://{name}:{router.port}/"],
                       capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert r.returncode == 0, r.stderr
    assert f"subject: CN={name}" in r.stderr, r.stderr
    assert "ALPN: server accepted http/1.1" in r.stderr or "ALPN, server accepted to use http/1.1" in r.stderr
    assert "Ciphers supported" in r.stdout
    router.proc.wait_log(rf"hello for {name.replace('.', '[.]')}, ALPN h2,http/1.1")


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, read until the proxy closes; what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        return got


def test_non_tls_client_is_refused_cleanly(router: SimpleNamespace) -> None:
    assert exchange(router.port, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n") == b""
    router.proc.wait_log(r"refused, no TLS ClientHello: b'GET / HT' is not a TLS record")
    # a TLS peer that sends another handshake message gets the alert a TLS server would send
    assert exchange(router.port, b"\x16\x03\x01\x00\x04\x02\x00\x00\x00") == encode_alert(
        Alert.UNEXPECTED_MESSAGE)
    router.proc.wait_log("is not client_hello")
    with socket.create_connection(("127.0.0.1", router.port), timeout=TIMEOUT):
        pass  # a connection closed before its first byte ends quietly
    r = s_client(router, "-servername", "b.test")  # and the proxy goes on
    assert "subject=CN = b.test" in r.stdout, r.stdout
    log = router.proc.output()
    assert log.count("refused") == 2, log
    assert "Traceback" not in log, log
    assert "ERROR" not in log, log
