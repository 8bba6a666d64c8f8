"""TLS termination and origination against real peers: openssl s_client and s_server, curl.

Certificates are made for each test run by the openssl command line (a CA, server certificates
for a.test, *.b.test and a default, a client certificate), never committed.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import time
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


def serve_tls(pipework, tmp_path: Path, pki: SimpleNamespace, options: str = "", inner: str = ""):  # type: ignore[no-untyped-def]
    port = free_port()
    inner = inner or (
        "p.demux_http().to(lambda p: p.replace_message(lambda msg, ctx: pw.Response("
        "f'sni={ctx.tls.server_name} alpn={ctx.tls.alpn} {ctx.tls.version}\\n')))"
    )
    p = run_script(
        pipework,
        tmp_path / "tls.py",
        textwrap.dedent(f"""\
        import pipework as pw
        certs = [{pki.default_test!r}, {pki.a_test!r}, {pki.wild_b_test!r}]
        pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.accept_tls(certificates=certs{options})
            .to(lambda p: {inner})))
        """),
    )
    return p, port


def s_client(port: int, *args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    return openssl("s_client", "-connect", f"127.0.0.1:{port}", "-brief", *args, stdin=stdin, cwd=cwd)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require("curl")
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_sni_picks_the_certificate(pipework, tmp_path: Path, pki) -> None:
    _, port = serve_tls(pipework, tmp_path, pki)
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
    _, port = serve_tls(pipework, tmp_path, pki, ", alpn=['h2', 'http/1.1']")
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
    _, port = serve_tls(pipework, tmp_path, pki)
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
    _, port = serve_tls(
        pipework,
        tmp_path,
        pki,
        f", client_ca={pki.ca!r}, verify_client='required'",
        inner="p.demux_http().to(lambda p: p.replace_message(lambda msg, ctx: pw.Response("
        "f'client {ctx.tls.peer[\"subject\"]} {len(ctx.tls.peer_cert)} bytes\\n')))",
    )
    base = ("--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/")
    good = curl("--cert", pki.client[0], "--key", pki.client[1], *base)
    assert good.stdout.startswith("client CN=client "), good.stdout + good.stderr
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


def _served_cert(port: int, name: str, ca: str) -> bytes:
    ctx = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as s,
    ):
        der = s.getpeercert(binary_form=True)
        assert der is not None
        return der


def test_rotated_certificate_serves_new_handshakes_and_old_connections_stay(
    pipework, tmp_path: Path, pki
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for ext in ("pem", "key"):
        shutil.copy(f"{pki.dir}/a.test.{ext}", live / f"a.test.{ext}")
    port = free_port()
    p = run_script(
        pipework,
        tmp_path / "tls.py",
        "import pipework as pw\n"
        f"cert = ({str(live / 'a.test.pem')!r}, {str(live / 'a.test.key')!r})\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.accept_tls(cert, reload_interval=0.1)\n"
        "    .to(lambda p: p.demux_http().to(\n"
        "        lambda p: p.replace_message(lambda m: pw.Response('ok\\n'))))))\n",
    )
    before = _served_cert(port, "a.test", pki.ca)
    ctx = ssl.create_default_context(cafile=pki.ca)
    old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="a.test")
    try:
        issue(pki.dir, "a2.test", "DNS:a.test")  # a new certificate for the same name
        for ext in ("pem", "key"):  # replaced as a deployment would: a new file renamed over the old
            shutil.copy(f"{pki.dir}/a2.test.{ext}", live / f"new.{ext}")
        (live / "new.key").rename(live / "a.test.key")
        (live / "new.pem").rename(live / "a.test.pem")
        p.wait_log(r"certificates reloaded \(a\.test\)", timeout=5)
        after = _served_cert(port, "a.test", pki.ca)
        assert after != before
        assert after == ssl.PEM_cert_to_DER_cert((pki.dir / "a2.test.pem").read_text())
        old.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")  # the old connection goes on
        assert old.recv(4096).endswith(b"\r\n\r\nok\n")
    finally:
        old.close()


def test_a_bad_certificate_fails_at_load_with_the_file(tmp_path: Path, pki) -> None:
    script = tmp_path / "bad.py"
    script.write_text(
        "import pipework as pw\n"
        f"pair = ({pki.a_test[0]!r}, {pki.default_test[1]!r})\n"
        "layout = pw.pipeline(lambda p: p.accept_tls(pair).to(lambda p: p.dump()))\n"
        "pw.listen(8443, layout)\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "pipework", "check", str(script)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode != 0
    assert f"{script}:3:" in r.stderr
    assert "does not match" in r.stderr


def test_handshake_timeout_and_a_garbage_client_cost_only_their_connection(
    pipework, tmp_path: Path, pki
) -> None:
    p, port = serve_tls(pipework, tmp_path, pki, ", handshake_timeout=0.3")
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    garbage = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = garbage.recv(100)
        assert first == b"" or first[:1] == b"\x15"  # perhaps a TLS alert, then the close
        assert first == b"" or garbage.recv(100) == b""
        t0 = time.monotonic()
        assert idle.recv(100) == b""  # closed by the handshake timeout
        assert time.monotonic() - t0 < 2
        r = curl("--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/")
        assert r.stdout.startswith("sni=a.test"), r.stderr
        p.wait_log(r"no TLS handshake within 0\.3s")
        p.wait_log(r"TLS handshake failed: (HTTP_REQUEST|WRONG_VERSION_NUMBER|UNSUPPORTED_PROTOCOL)")
    finally:
        idle.close()
        garbage.close()


def test_https_upstream_with_x_forwarded_proto(pipework, tmp_path: Path, pki) -> None:
    backend_port = free_port()
    backend = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve().parent.parent / "backend.py"),
            str(backend_port),
            "tlsback",
            "--cert",
            pki.a_test[0],
            "--key",
            pki.a_test[1],
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", backend_port)
        port = free_port()
        run_script(
            pipework,
            tmp_path / "offload.py",
            "import pipework as pw\n"
            f"certs = [{pki.default_test!r}]\n"
            f"target = ['https://127.0.0.1:{backend_port}']\n"
            f"good = pw.Upstream(target, ca={pki.ca!r}, server_name='a.test')\n"
            f"wrong = pw.Upstream(target, ca={pki.ca!r}, server_name='b.test')\n"
            "routes = pw.Router()\n"
            "routes.add(wrong, prefix='/wrong')\n"
            "routes.add(good, prefix='/')\n"
            f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.accept_tls(certificates=certs)\n"
            "    .to(lambda p: p.demux_http().to(lambda p: p.route(routes)))))\n",
        )
        base = ("--cacert", pki.ca, "--resolve", f"default.test:{port}:127.0.0.1")
        r = curl(*base, f"https://default.test:{port}/_echo")
        assert "x-forwarded-proto: https" in r.stdout.lower(), r.stdout + r.stderr
        r = curl(*base, "-o", "/dev/null", "-w", "%{http_code}", f"https://default.test:{port}/wrong")
        assert r.stdout == "502"
    finally:
        backend.kill()
        backend.wait()


def test_connect_tls_pins_the_certificate(pipework, tmp_path: Path, pki, s_server: int) -> None:
    der = ssl.PEM_cert_to_DER_cert(Path(pki.a_test[0]).read_text())
    right = hashlib.sha256(der).hexdigest()
    for pin, works in ((right, True), ("00" * 32, False)):
        port = free_port()
        p = run_script(
            pipework,
            tmp_path / f"pin{works}.py",
            "import pipework as pw\n"
            f"tls = dict(ca={pki.ca!r}, pin={pin!r})\n"
            f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.connect_tls('a.test', **tls)\n"
            f"    .to(lambda p: p.connect('127.0.0.1:{s_server}'))))\n",
        )
        r = curl(f"http://127.0.0.1:{port}/")
        if works:
            assert "s_server" in r.stdout, r.stderr
        else:
            assert r.stdout == ""
            p.wait_log("the server's certificate is [0-9a-f]{64}, not the pinned 0{64}")


def test_certificates_and_their_expiry_for_scripts(pipework, tmp_path: Path, pki) -> None:
    _, port = serve_tls(
        pipework,
        tmp_path,
        pki,
        inner="p.demux_http().to(lambda p: p.replace_message(lambda msg: pw.Response("
        "'\\n'.join(f'{c[\"names\"][0]} {c[\"days_left\"]:.0f}' for c in pw.tls_certificates()))))",
    )
    r = curl("--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/")
    lines = sorted(r.stdout.split("\n"))
    assert [ln.split()[0] for ln in lines] == ["*.b.test", "a.test", "default.test"], r.stdout + r.stderr
    assert all(29 <= int(ln.split()[1]) <= 30 for ln in lines)  # issued for 30 days


def test_serve_and_reverse_proxy_commands_over_https(pipework, tmp_path: Path, pki, backends) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello over tls\n")
    port = free_port()
    pipework("serve", str(www), "--listen", f"127.0.0.1:{port}", "--tls-cert", pki.a_test[0],
             "--tls-key", pki.a_test[1]).wait_listening("127.0.0.1", port)  # fmt: skip
    r = curl("--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/")
    assert r.stdout == "hello over tls\n", r.stderr

    (b,) = backends(1)
    port, plain = free_port(), free_port()
    p = pipework("reverse-proxy", "--listen", f"127.0.0.1:{port}", "--to", b.address,
                 "--tls-cert", pki.a_test[0], "--tls-key", pki.a_test[1], "--hsts", "31536000",
                 "--redirect-http", f"127.0.0.1:{plain}")  # fmt: skip
    p.wait_listening("127.0.0.1", port)
    r = curl(
        "-i", "--cacert", pki.ca, "--resolve", f"a.test:{port}:127.0.0.1", f"https://a.test:{port}/_echo"
    )
    assert "strict-transport-security: max-age=31536000" in r.stdout.lower(), r.stdout + r.stderr
    assert "x-forwarded-proto: https" in r.stdout.lower()
    r = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", f"Host: a.test:{plain}",
             f"http://127.0.0.1:{plain}/x?y=1")  # fmt: skip
    assert r.stdout == f"301 https://a.test:{port}/x?y=1"


def test_tickets_off_and_a_client_closing_without_close_notify(pipework, tmp_path: Path, pki) -> None:
    p, port = serve_tls(pipework, tmp_path, pki, ", session_tickets=False")
    sess = tmp_path / "sess.pem"
    stdin = "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    first = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername", "a.test",
                    "-sess_out", str(sess), "-ign_eof", stdin=stdin, cwd=tmp_path)  # fmt: skip
    assert "New, TLSv1.3" in first.stdout
    assert "Post-Handshake New Session Ticket" not in first.stdout
    # a client that closes its socket without close_notify, as most HTTP clients do
    ctx = ssl.create_default_context(cafile=pki.ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="a.test") as s:  # Python's close sends no close_notify
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    time.sleep(0.3)
    assert "WARNING" not in p.output()


def test_connect_tls_presents_a_client_certificate_and_verify_false_warns(
    pipework, tmp_path: Path, pki
) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", pki.a_test[0], "-key", pki.a_test[1],
         "-Verify", "1", "-CAfile", pki.ca, "-verify_return_error", "-www"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port("127.0.0.1", port)
        results = {}
        for name, options in (
            ("with", f"verify=False, certificate={pki.client!r}"),
            ("without", "verify=False"),
        ):
            lport = free_port()
            p = run_script(
                pipework,
                tmp_path / f"{name}.py",
                "import pipework as pw\n"
                f"pw.listen('127.0.0.1:{lport}', pw.pipeline(lambda p: p.connect_tls({options})\n"
                f"    .to(lambda p: p.connect('127.0.0.1:{port}'))))\n",
            )
            p.wait_log(r"the server's certificate will not be verified \(verify=False\)")
            results[name] = curl(f"http://127.0.0.1:{lport}/").stdout
        assert "s_server" in results["with"]
        assert results["without"] == ""  # the server asked for a certificate and got none
    finally:
        server.kill()
        server.wait()
