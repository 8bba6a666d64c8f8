"""The I/O layer on real loopback sockets, under both event loops: buffering, limits, errors."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from pipework.net import Outbound, SourcePool, TcpListener, run


class Recorder:
    """A handler that writes down what the connection tells it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.events: list[Any] = []
        self.closed: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.connected = asyncio.Event()
        self.eof = asyncio.Event()

    def on_connect(self) -> None:
        self.events.append("connect")
        self.connected.set()

    def on_data(self, data: bytes) -> None:
        self.data += data

    def on_eof(self) -> None:
        self.events.append("eof")
        self.eof.set()

    def on_close(self, error: str | None) -> None:
        self.events.append(("close", error))
        if not self.closed.done():
            self.closed.set_result(error)

    def on_write_paused(self, paused: bool) -> None:
        self.events.append(("paused", paused))


class Sink:
    """A server that reads everything (or, with ``read=False``, nothing)."""

    def __init__(self, read: bool = True) -> None:
        self.read = read
        self.got = bytearray()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.srv = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.srv.sockets[0].getsockname()[1])

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.writers.append(w)
        if not self.read:
            await asyncio.sleep(30)
        while data := await r.read(1 << 16):
            self.got.extend(data)
        w.close()

    async def close(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.srv.close()
        await self.srv.wait_closed()


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_writes_before_connect_are_buffered_and_paced(kind: str) -> None:
    async def main() -> None:
        sink = Sink()
        port = await sink.start()
        got = sink.got
        h = Recorder()
        conn = Outbound(h, "127.0.0.1", port, write_high=64 * 1024)
        for _ in range(4):
            conn.write(b"x" * 32 * 1024)  # 128 KiB before the connection is up
        assert ("paused", True) in h.events
        await asyncio.wait_for(h.connected.wait(), 5)
        assert h.events.index(("paused", False)) > h.events.index("connect")
        conn.write_eof()
        for _ in range(200):
            if len(got) == 128 * 1024:
                break
            await asyncio.sleep(0.01)
        assert bytes(got) == b"x" * 128 * 1024
        conn.close()
        assert await asyncio.wait_for(h.closed, 5) is None
        await sink.close()

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_a_writer_that_ignores_back_pressure_is_cut_off(kind: str) -> None:
    async def main() -> None:
        sink = Sink(read=False)
        port = await sink.start()
        h = Recorder()
        conn = Outbound(h, "127.0.0.1", port, write_high=16 * 1024)
        await asyncio.wait_for(h.connected.wait(), 5)
        chunk = b"y" * 65536
        for _ in range(1000):  # 64 MiB, far past 16 x 16 KiB plus the kernel's buffers
            conn.write(chunk)
            if conn.closed or h.closed.done():
                break
            await asyncio.sleep(0)
        assert await asyncio.wait_for(h.closed, 5) == "BufferOverflow"
        await sink.close()

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_refused_and_pool_failures_have_names(kind: str) -> None:
    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        h = Recorder()
        Outbound(h, "127.0.0.1", dead)
        assert await asyncio.wait_for(h.closed, 5) == "ConnectionRefused"

        sink = Sink()
        port = await sink.start()
        h2 = Recorder()
        # 192.0.2.1 is no address of this host: skipped, and the next one is used
        pool = SourcePool(["192.0.2.1", "127.0.0.7"])
        pool.active["192.0.2.1"] = -1  # make it the first choice
        c = Outbound(h2, "127.0.0.1", port, bind=pool)
        await asyncio.wait_for(h2.connected.wait(), 5)
        assert c.local[0] == "127.0.0.7"
        assert pool.failures["192.0.2.1"] == 1
        assert pool.active["127.0.0.7"] == 1
        c.close()
        await asyncio.wait_for(h2.closed, 5)
        assert pool.active["127.0.0.7"] == 0
        await sink.close()

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_listener_hands_connections_to_the_factory(kind: str) -> None:
    async def main() -> None:
        handlers: list[Recorder] = []

        def factory(conn: Any) -> Recorder:
            h = Recorder()
            h.conn = conn  # type: ignore[attr-defined]
            handlers.append(h)
            return h

        lst = TcpListener("127.0.0.1", 0, factory)
        await lst.start()
        r, w = await asyncio.open_connection("127.0.0.1", lst.port)
        w.write(b"hello")
        await w.drain()
        w.write_eof()
        for _ in range(500):
            if handlers:
                break
            await asyncio.sleep(0.01)
        h = handlers[0]
        await asyncio.wait_for(h.eof.wait(), 5)
        assert bytes(h.data) == b"hello"
        assert h.conn.peer == w.get_extra_info("sockname")  # type: ignore[attr-defined]
        h.conn.write(b"bye")  # type: ignore[attr-defined]
        h.conn.close()  # type: ignore[attr-defined]
        assert await r.read() == b"bye"
        assert await asyncio.wait_for(h.closed, 5) is None
        assert lst.active == 0
        assert lst.accepted == 1
        w.close()
        lst.close()

    run(main(), kind)
