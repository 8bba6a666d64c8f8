"""Small independent TCP/UDP servers for the end-to-end tests, written with plain sockets.

They share no code with pipework: each runs its own asyncio loop (standard asyncio, streams) in a
thread of the test process.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class _ThreadServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.peers: list[tuple[str, int]] = []
        self.connections = 0

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def stop() -> None:
            srv = getattr(self, "server", None)
            if srv is not None:
                srv.close()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()

        try:
            self.call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


class TcpServer(_ThreadServer):
    """A TCP server running ``handler(reader, writer)`` per connection; records peer addresses."""

    def __init__(
        self,
        handler: Callable[..., Coroutine[Any, Any, None]],
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 1024,
    ) -> None:
        super().__init__()

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            peer = w.get_extra_info("peername")
            self.peers.append((peer[0], peer[1]))
            self.connections += 1
            try:
                await handler(r, w)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                w.close()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(on_conn, host, port, backlog=backlog, limit=1 << 20)

        self.server = self.call(start())
        self.port = self.server.sockets[0].getsockname()[1]
        self.address = f"{host}:{self.port}"


async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    """Echo until EOF, then close."""
    while True:
        data = await r.read(1 << 16)
        if not data:
            break
        w.write(data)
        await w.drain()


async def digest(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    """Read until EOF, answer with the SHA-256 of what came, then send N bytes if asked.

    The first line is ``<n>\\n``: after the digest, the server sends ``n`` bytes of a known
    pattern (``pattern(n)``) so the client can check the other direction too.
    """
    line = await r.readline()
    n = int(line)
    h = hashlib.sha256()
    while True:
        data = await r.read(1 << 18)
        if not data:
            break
        h.update(data)
    w.write(h.hexdigest().encode() + b"\n")
    chunk = pattern(251 * 4096)  # a whole number of periods, so the chunks join into pattern(n)
    sent = 0
    while sent < n:
        piece = chunk[: min(len(chunk), n - sent)]
        w.write(piece)
        sent += len(piece)
        await w.drain()


def pattern(n: int) -> bytes:
    block = bytes(range(251))
    return (block * (n // len(block) + 1))[:n]


def greeter(name: str) -> Callable[..., Coroutine[Any, Any, None]]:
    async def greet(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(f"{name}\n".encode())
        await echo(r, w)

    return greet


class UdpEcho(_ThreadServer):
    """Echoes every datagram back to its sender, prefixed with ``prefix``."""

    def __init__(self, prefix: bytes = b"", host: str = "127.0.0.1") -> None:
        super().__init__()
        peers = self.peers

        class Proto(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                peers.append(addr)
                self.t.sendto(prefix + data, addr)  # type: ignore[attr-defined]

        async def start() -> asyncio.BaseTransport:
            t, _ = await asyncio.get_running_loop().create_datagram_endpoint(Proto, local_addr=(host, 0))
            return t

        self.transport = self.call(start())
        self.port = self.transport.get_extra_info("sockname")[1]
        self.address = f"{host}:{self.port}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.transport.close)
        super().close()


def roundtrip(host: str, port: int, payload: bytes, timeout: float = 5.0, greeting: bool = False) -> bytes:
    """Connect, optionally read a greeting line, send ``payload``, read the same length back."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        head = b""
        if greeting:
            f = s.makefile("rb")
            head = f.readline()
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return head + got
