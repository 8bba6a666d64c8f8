"""Every script in examples/ runs, with its fixed ports swapped for free ones, against real peers."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
from helpers import ROOT, free_port
from peers import TcpServer, UdpEcho, echo, greeter, roundtrip

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
        assert bodies == [b"A /x", b"B /y", b"from disk"]
    finally:
        a.close()
        b.close()
