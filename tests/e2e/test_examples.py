"""Every script in examples/ runs, with its fixed ports swapped for free ones, against real peers."""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest
from dns_server import DnsServer
from helpers import ROOT, free_port
from http_peers import blast, fetch, read_response
from peers import TcpServer, UdpEcho, echo, greeter, roundtrip

from pipework.net.certs import issue, make_ca, save

EXAMPLES = Path(ROOT) / "examples"


def localise(name: str, tmp_path: Path, ports: dict[int, int]) -> Path:
    """A copy of an example with each fixed port replaced."""
    text = (EXAMPLES / name).read_text()
    for old, new in ports.items():
        text = re.sub(rf"(?<![\d.]){old}(?!\d)", str(new), text)
    out = tmp_path / name
    out.write_text(text)
    return out


def test_every_example_is_covered() -> None:
    tested = {
        "tcp_proxy.py",
        "udp_proxy.py",
        "source_pool.py",
        "throttle.py",
        "echo_upper.py",
        "routing.py",
        "static_site.py",
        "reverse_proxy.py",
        "canary.py",
        "sticky_sessions.py",
        "header_routing.py",
        "dns_upstream.py",
        "sni_router.py",
        "https_offload.py",
        "http_cache.py",
        "shadow_traffic.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_tcp_proxy(pipework, tmp_path: Path) -> None:
    a, b = TcpServer(greeter("A")), TcpServer(greeter("B"))
    try:
        port = free_port()
        script = localise("tcp_proxy.py", tmp_path, {8000: port, 9000: a.port, 9001: b.port})
        pipework("run", str(script)).wait_log("listening on tcp")
        got = [roundtrip("127.0.0.1", port, b"x", greeting=True) for _ in range(4)]
        assert got == [b"A\nx", b"B\nx", b"A\nx", b"B\nx"]
    finally:
        a.close()
        b.close()


def test_udp_proxy(pipework, tmp_path: Path) -> None:
    up = UdpEcho(b"echo:")
    try:
        port = free_port(kind=socket.SOCK_DGRAM)
        script = localise("udp_proxy.py", tmp_path, {5353: port, 53: up.port})
        pipework("run", str(script)).wait_log("listening on udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            c.sendto(b"q", ("127.0.0.1", port))
            assert c.recvfrom(100)[0] == b"echo:q"
    finally:
        up.close()


def test_source_pool(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        script = localise("source_pool.py", tmp_path, {8000: port, 9000: backend.port})
        pipework("run", str(script)).wait_log("listening on tcp")
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
        for s in socks:
            s.sendall(b"p")
            assert s.recv(1) == b"p"
            s.close()
        assert {h for h, _ in backend.peers} == {f"127.0.0.{i}" for i in range(2, 10)}
    finally:
        backend.close()


def test_throttle(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        script = localise("throttle.py", tmp_path, {8000: port, 9000: backend.port})
        pipework("run", str(script)).wait_log("listening on tcp")
        payload = b"z" * 1_500_000  # 1 MB/s each way: at least half a second past the first burst
        t0 = time.monotonic()
        assert roundtrip("127.0.0.1", port, payload, timeout=20) == payload
        assert time.monotonic() - t0 >= 0.4
    finally:
        backend.close()


def test_echo_upper(pipework, tmp_path: Path) -> None:
    port = free_port()
    script = localise("echo_upper.py", tmp_path, {8000: port})
    pipework("run", str(script)).wait_log("listening on tcp")
    assert roundtrip("127.0.0.1", port, b"shout", greeting=True) == b"hello\nSHOUT"


@pytest.mark.parametrize(("first", "expect"), [(b"ADMIN hi", "admin"), (b"GET /", "app")])
def test_routing(pipework, tmp_path: Path, first: bytes, expect: str) -> None:
    admin, app = TcpServer(greeter("admin")), TcpServer(greeter("app"))
    try:
        port = free_port()
        script = localise("routing.py", tmp_path, {8000: port, 9100: admin.port, 9000: app.port})
        p = pipework("run", str(script))
        p.wait_log("listening on tcp")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(first)
            with s.makefile("rb") as f:
                assert f.readline() == f"{expect}\n".encode()
        p.wait_log(rf"127\.0\.0\.1:\d+ sent {len(first)} bytes")
    finally:
        admin.close()
        app.close()


def test_static_site(pipework, tmp_path: Path) -> None:
    port = free_port()
    script = localise("static_site.py", tmp_path, {8080: port})
    (tmp_path / "hello.txt").write_text("hello from disk\n")
    pipework("run", str(script)).wait_log("listening on tcp")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /api/ping?x=1 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    first, _, second = got.partition(b"hello from disk\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/plain; charset=utf-8\r\n" in first
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'{"path":"/api/ping","time":' in second


def test_reverse_proxy(pipework, tmp_path: Path) -> None:
    import asyncio

    def app(name: str):  # type: ignore[no-untyped-def]
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1]
                body = name.encode() + b" " + path
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await w.drain()

        return handle

    a, b = TcpServer(app("A")), TcpServer(app("B"))
    try:
        port = free_port()
        script = localise("reverse_proxy.py", tmp_path, {8080: port, 9000: a.port, 9001: b.port})
        static = tmp_path / "static"
        static.mkdir()
        (static / "s.txt").write_text("from disk")
        pipework("run", str(script)).wait_log("listening on tcp")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                b"GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET /static/s.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            )
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in got.split(b"HTTP/1.1 200 OK")[1:]]
        # least_conn with no load takes the servers in turn, from either one
        assert bodies[2] == b"from disk"
        assert sorted(bodies[:2]) in ([b"A /x", b"B /y"], [b"A /y", b"B /x"])
    finally:
        a.close()
        b.close()


def test_canary(pipework, tmp_path: Path, backends) -> None:
    one, two, canary = backends(3)
    port = free_port()
    script = localise("canary.py", tmp_path, {8080: port, 9001: one.port, 9002: two.port, 9003: canary.port})
    pipework("run", str(script)).wait_log("listening on tcp")
    seen = Counter(name for _, name, _ in blast(port, 800))
    assert set(seen) == {one.name, two.name, canary.name}
    assert 0.06 <= seen[canary.name] / 800 <= 0.15, seen  # 10%: 80 expected, sd ~8.5
    forced = {fetch(port, "/", {"X-Canary": "always"})[1]["x-backend"] for _ in range(10)}
    assert forced == {canary.name}
    sides = []
    for i in range(40):  # a user stays on one side
        got = {fetch(port, "/", {"Cookie": f"user=u{i}"})[1]["x-backend"] == canary.name for _ in range(3)}
        assert len(got) == 1
        sides.append(got.pop())
    assert 0 < sum(sides) < 20


def test_sticky_sessions(pipework, tmp_path: Path, backends) -> None:
    servers = backends(3)
    port = free_port()
    script = localise(
        "sticky_sessions.py", tmp_path, {8080: port, **{9001 + i: b.port for i, b in enumerate(servers)}}
    )
    p = pipework("run", str(script))
    p.wait_log("listening on tcp")

    def where(session: str) -> str:
        status, fields, _ = fetch(port, "/cart", {"Cookie": f"theme=dark; session={session}"})
        assert status == 200
        return fields["x-backend"]

    sessions = [f"s{i:03}" for i in range(60)]
    first = {s: where(s) for s in sessions}
    assert {s: where(s) for s in sessions} == first  # the same cookie, the same server
    assert set(first.values()) == {b.name for b in servers}

    down = servers[1]
    down.control(health=503)
    p.wait_log(rf"{down.address} is out: 2 checks failed", timeout=10)
    moved = {s: where(s) for s in sessions}
    for s, before in first.items():  # only the sessions of the server that went moved
        assert moved[s] != down.name
        if before != down.name:
            assert moved[s] == before, s
    down.control(health=200)
    p.wait_log(rf"{down.address} is back", timeout=10)
    assert {s: where(s) for s in sessions} == first


def test_header_routing(pipework, tmp_path: Path, backends) -> None:
    web1, web2, v1, v2 = backends(4)
    port = free_port()
    ports = {8080: port, 9001: web1.port, 9002: web2.port, 9003: v1.port, 9004: v2.port}
    pipework("run", str(localise("header_routing.py", tmp_path, ports))).wait_log("listening on tcp")
    www = {"Host": "www.example.com"}

    assert {fetch(port, "/about", www)[1]["x-backend"] for _ in range(4)} == {web1.name, web2.name}

    status, fields, body = fetch(port, "/api/_echo/users/7?full=1", www)
    assert (status, fields["x-backend"]) == (200, v1.name)
    lines = body.decode().lower().split("\r\n")
    assert lines[0] == "get /_echo/users/7?full=1 http/1.1"  # /api stripped, the query kept
    assert "x-api-version: 1" in lines

    status, fields, body = fetch(port, "/api/_echo/users/7", {**www, "X-Api-Version": "2"})
    assert (status, fields["x-backend"]) == (200, v2.name)
    assert body.decode().lower().startswith("get /_echo/users/7 http/1.1")

    status, fields, _ = fetch(port, "/pricing?plan=pro", {"Host": "example.com"})
    assert (status, fields["location"]) == (301, "https://www.example.com/pricing?plan=pro")
    status, fields, _ = fetch(port, "/blog/2019/hello-world", www)
    assert (status, fields["location"]) == (308, "/posts/hello-world")


def test_dns_upstream(pipework, tmp_path: Path, backends) -> None:
    a, b = backends(2)
    name = "_web._tcp.service.consul"
    with DnsServer() as dns:
        dns.set("node-a.node.dc1.consul", "A", 1, "127.0.0.1")
        dns.set("node-b.node.dc1.consul", "A", 1, "127.0.0.1")
        dns.set(name, "SRV", 1, f"1 1 {a.port} node-a.node.dc1.consul.")
        port = free_port()
        script = localise("dns_upstream.py", tmp_path, {8080: port, 8600: dns.port})
        p = pipework("run", str(script))
        p.wait_log(rf"consul -> 127\.0\.0\.1:{a.port}\n")
        assert {fetch(port, "/x")[1]["x-backend"] for _ in range(4)} == {a.name}

        dns.set(name, "SRV", 1, f"1 1 {b.port} node-b.node.dc1.consul.")  # a moved to b
        p.wait_log(rf"consul -> 127\.0\.0\.1:{b.port}\n", timeout=5)
        assert {fetch(port, "/x")[1]["x-backend"] for _ in range(4)} == {b.name}
        status, _, body = fetch(port, "/_upstream")
        assert status == 200
        assert [(t["name"], t["healthy"]) for t in json.loads(body)] == [(b.address, True)]

        both = (f"1 1 {a.port} node-a.node.dc1.consul.", f"1 3 {b.port} node-b.node.dc1.consul.")
        dns.set(name, "SRV", 1, *both)
        p.wait_log(re.escape(f"consul -> {', '.join(sorted([a.address, b.address]))}\n"), timeout=5)
        seen = Counter(backend for _, backend, _ in blast(port, 400, conns=4))
        assert 0.15 <= seen[a.name] / 400 <= 0.35, seen  # SRV weights 1 and 3


def client_hello(name: str) -> bytes:
    """A real TLS client's first flight for ``name``, from Python's ssl module over memory BIOs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    out = ssl.MemoryBIO()
    with pytest.raises(ssl.SSLWantReadError):
        ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname=name).do_handshake()
    return out.read()


def test_sni_router(pipework, tmp_path: Path) -> None:
    a, b = TcpServer(greeter("A")), TcpServer(greeter("B"))  # echo servers: the hello comes back as sent
    try:
        port = free_port()
        script = localise("sni_router.py", tmp_path, {8443: port, 9443: a.port, 9444: b.port})
        pipework("run", str(script)).wait_log("listening on tcp")
        for name, backend in (("a.test", b"A\n"), ("b.test", b"B\n"), ("other.test", b"A\n")):
            hello = client_hello(name)
            got = roundtrip("127.0.0.1", port, hello)
            assert got.startswith(backend)
            assert (backend + hello).startswith(got)
    finally:
        a.close()
        b.close()


def fetch_tls(
    port: int, path: str, ca: Path, cert: Path | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One GET over HTTPS to localhost, verified against ``ca``, with a client certificate (and its key
    beside it, ``NAME-key.pem``) if given."""
    tls = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        tls.load_cert_chain(cert, cert.with_name(cert.name.replace(".pem", "-key.pem")))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        tls.wrap_socket(raw, server_hostname="localhost") as s,
    ):
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n{extra}\r\n".encode())
        return read_response(s.makefile("rb"))


def test_https_offload(pipework, tmp_path: Path, backends) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    ca = make_ca()
    save(ca, pki / "ca.pem", pki / "ca-key.pem")
    save(issue(ca, ["localhost", "127.0.0.1"]), pki / "localhost.pem", pki / "localhost-key.pem")
    save(issue(ca, ["admin"], client=True), pki / "admin-client.pem", pki / "admin-client-key.pem")
    stranger = make_ca()  # a client certificate from a CA the proxy does not trust
    save(issue(stranger, ["mallory"], client=True), pki / "mallory.pem", pki / "mallory-key.pem")
    web1, web2, admin = backends(3)
    port, plain = free_port(), free_port()
    ports = {8443: port, 8080: plain, 9001: web1.port, 9002: web2.port, 9003: admin.port}
    pipework("run", str(localise("https_offload.py", tmp_path, ports))).wait_log("listening on tcp")
    ca_file, client = pki / "ca.pem", pki / "admin-client.pem"

    hsts = "max-age=31536000"
    seen = set()
    for _ in range(4):
        status, fields, _ = fetch_tls(port, "/", ca_file)
        assert (status, fields["strict-transport-security"]) == (200, hsts)
        seen.add(fields["x-backend"])
    assert seen == {web1.name, web2.name}
    _, _, body = fetch_tls(port, "/_echo", ca_file)
    assert "x-forwarded-proto: https" in body.decode().lower().split("\r\n")

    forged = {"X-Client-Cert": "forged", "X-Client-DN": "CN=root"}
    status, fields, body = fetch_tls(port, "/admin/_echo", ca_file, headers=forged)
    assert (status, fields["strict-transport-security"]) == (403, hsts), body
    status, fields, body = fetch_tls(port, "/admin/_echo?x=1", ca_file, client, headers=forged)
    assert (status, fields["x-backend"], fields["strict-transport-security"]) == (200, admin.name, hsts)
    lines = body.decode().split("\r\n")
    assert lines[0] == "GET /_echo?x=1 HTTP/1.1"
    got = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert got["x-client-dn"] == "CN=admin,O=pipework development certificate"
    assert unquote(got["x-client-cert"]) == client.read_text().split("-----END CERTIFICATE-----")[0] + (
        "-----END CERTIFICATE-----\n"
    )
    assert "forged" not in body.decode()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        fetch_tls(port, "/admin/_echo", ca_file, pki / "mallory.pem")

    status, fields, _ = fetch(plain, "/admin/x?y=1", {"Host": "localhost:8080"})
    assert (status, fields["location"]) == (301, f"https://localhost:{port}/admin/x?y=1")


def test_http_cache(pipework, tmp_path: Path, backends) -> None:
    (app,) = backends(1)
    port, admin = free_port(), free_port()
    script = localise("http_cache.py", tmp_path, {8080: port, 9000: app.port, 9101: admin})
    pipework("run", str(script)).wait_log("listening on tcp", count=2)
    path = "/_cache/products/42?cc=max-age%3D60"
    assert [fetch(port, path)[1]["x-cache"] for _ in range(3)] == ["MISS", "HIT", "HIT"]
    assert app.count() == 1
    with socket.create_connection(("127.0.0.1", admin), timeout=5) as s:
        s.sendall(b"PURGE /_cache/products/* HTTP/1.1\r\nHost: admin\r\n\r\n")
        status, _, body = read_response(s.makefile("rb"))
    assert (status, json.loads(body)) == (200, {"purged": 1})
    assert fetch(port, path)[1]["x-cache"] == "MISS"
    assert app.count() == 2


def test_shadow_traffic(pipework, tmp_path: Path, backends) -> None:
    live, v2 = backends(2)
    port, metrics = free_port(), free_port()
    ports = {8080: port, 9000: live.port, 9001: v2.port, 9102: metrics}
    script = localise("shadow_traffic.py", tmp_path, ports)
    pipework("run", str(script)).wait_log("listening on tcp", count=2)
    assert {fetch(port, f"/x{i}")[2] for i in range(300)} == {live.name.encode()}
    deadline = time.monotonic() + 5
    while v2.count() < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    copies = v2.count()
    assert 8 <= copies <= 60, copies  # binomial(300, 0.1): outside once in five million runs
    assert live.count() == 300

    def completed() -> int:
        text = fetch(metrics, "/metrics")[2].decode()
        done = re.search(r'pipework_mirror_requests_total\{mirror="v2",outcome="completed"\} (\d+)', text)
        return int(done.group(1)) if done else -1

    deadline = time.monotonic() + 5
    while completed() != copies and time.monotonic() < deadline:
        time.sleep(0.05)
    assert completed() == copies
