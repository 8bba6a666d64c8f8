"""WebSocket through the reverse proxy (websockets on both ends) and CONNECT tunnels (curl -p -x)."""

from __future__ import annotations

import asyncio
import http.server
import os
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, require

SCRIPT = """\
    import pipework as pw

    fwd = pw.pipeline(lambda p: p.tunnel(allow=["127.0.0.1:{web}", "localhost:*"], connect_timeout=2))
    pw.listen("127.0.0.1:{fwd}", pw.pipeline(lambda p: p.demux_http().to(fwd)))
    pw.listen("127.0.0.1:{rp}", pw.pipeline(lambda p: p.demux_http().to(
        lambda p: p.proxy("http://127.0.0.1:{ws}"))))
"""


@pytest.fixture
def web(tmp_path: Path) -> Iterator[int]:
    """A plain HTTP server (the standard library's) serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "hello.txt").write_text("hello through the tunnel\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(www))  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def start(pipework, tmp_path: Path, web: int, ws: int):  # type: ignore[no-untyped-def]
    ports = {"fwd": free_port(), "rp": free_port(), "web": web, "ws": ws}
    script = tmp_path / "t.py"
    script.write_text(textwrap.dedent(SCRIPT.format(**ports)))
    p = pipework("run", str(script))
    p.wait_log("listening on tcp", count=2)
    return p, ports


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require("curl")
    return subprocess.run(
        ["curl", "-s", "--max-time", "10", *args], capture_output=True, text=True, timeout=20, check=False
    )


def test_connect_tunnel_with_allow_list(pipework, tmp_path: Path, web: int) -> None:
    p, ports = start(pipework, tmp_path, web, free_port())
    proxy = f"http://127.0.0.1:{ports['fwd']}"
    r = curl("-p", "-x", proxy, f"http://127.0.0.1:{web}/hello.txt")
    assert r.stdout == "hello through the tunnel\n"
    # a target outside the allow-list: the CONNECT itself gets 403
    other = free_port()
    r = curl("-p", "-x", proxy, "-w", "%{http_connect}", f"http://127.0.0.1:{other}/")
    assert r.stdout.endswith("403")
    p.wait_log(f"CONNECT to 127.0.0.1:{other} refused by the allow-list")
    # an allowed target where nothing listens: 502 for the CONNECT
    r = curl("-p", "-x", proxy, "-w", "%{http_connect}", f"http://localhost:{other}/")
    assert r.stdout.endswith("502")


def test_websocket_through_the_reverse_proxy(pipework, tmp_path: Path, web: int) -> None:
    websockets = (
        pytest.importorskip("websockets")
        if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1"
        else __import__("websockets")
    )
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    ws_port = free_port()
    _, ports = start(pipework, tmp_path, web, ws_port)
    seen_headers: list[str] = []

    async def echo(conn) -> None:  # type: ignore[no-untyped-def]
        seen_headers.append(conn.request.headers.get("X-Forwarded-For", ""))
        async for message in conn:
            await conn.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", ws_port):
            async with connect(f"ws://127.0.0.1:{ports['rp']}/chat", open_timeout=5) as c:
                await c.send("hello")
                assert await asyncio.wait_for(c.recv(), 5) == "hello"
                blob = os.urandom(512 * 1024)  # under websockets' 1 MiB limit once compressed
                await c.send(blob)
                assert await asyncio.wait_for(c.recv(), 10) == blob
                for i in range(50):
                    await c.send(f"m{i}")
                assert [await asyncio.wait_for(c.recv(), 5) for _ in range(50)] == [
                    f"m{i}" for i in range(50)
                ]
                await c.close()
            assert c.close_code == 1000

    asyncio.run(main())
    assert seen_headers == ["127.0.0.1"]
    assert websockets is not None


def test_refused_upgrade_is_passed_back_and_the_connection_closes(pipework, tmp_path: Path, web: int) -> None:
    import socket

    from peers import TcpServer

    async def refuse(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")
        await w.drain()

    backend = TcpServer(refuse)
    try:
        _, ports = start(pipework, tmp_path, web, backend.port)
        with socket.create_connection(("127.0.0.1", ports["rp"]), timeout=5) as s:
            s.sendall(
                b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            got = b""
            while chunk := s.recv(4096):
                got += chunk
        assert got.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert b"connection: close\r\n" in got
        assert got.endswith(b"\r\n\r\nnope")
    finally:
        backend.close()
