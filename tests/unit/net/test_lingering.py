"""Lingering close on real loopback sockets, under both event loops: the writing side is shut down,
the peer's late bytes are dropped before the handler, and the connection closes at the peer's EOF
or at the linger limits, which start once the write buffer is flushed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pipework.net import Connection, TcpListener, run


class Answerer:
    """A handler that answers the first bytes (or, with ``at_eof``, the peer's EOF) with
    ``answer`` and closes lingering."""

    def __init__(self, conn: Connection, answer: bytes, pause_first: bool, at_eof: bool) -> None:
        self.conn = conn
        self.answer = answer
        self.pause_first = pause_first
        self.at_eof = at_eof
        self.data = bytearray()
        self.events: list[Any] = []
        self.closed: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.closed_at = 0.0

    def on_data(self, data: bytes) -> None:
        self.data += data
        if not self.events and not self.at_eof:
            self.events.append("answered")
            if self.pause_first:
                self.conn.pause_reading()  # as a pipeline under back-pressure would
            self.conn.write(self.answer)
            self.conn.close_lingering()

    def on_eof(self) -> None:
        self.events.append("eof")
        if self.at_eof:
            self.conn.write(self.answer)
            self.conn.close_lingering()

    def on_close(self, error: str | None) -> None:
        self.events.append(("close", error))
        self.closed_at = time.monotonic()
        self.closed.set_result(error)

    def on_write_paused(self, paused: bool) -> None:
        self.events.append(("paused", paused))


@asynccontextmanager
async def serve(
    answer: bytes = b"no", *, pause_first: bool = False, at_eof: bool = False, **limits: float
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, list[Answerer]]]:
    """A listener of :class:`Answerer` and a client connected to it; all closed on the way out."""
    handlers: list[Answerer] = []

    def factory(conn: Any) -> Answerer:
        h = Answerer(conn, answer, pause_first, at_eof)
        handlers.append(h)
        return h

    lst = TcpListener("127.0.0.1", 0, factory, **limits)  # type: ignore[arg-type]
    await lst.start()
    r, w = await asyncio.open_connection("127.0.0.1", lst.port, limit=1 << 20)
    try:
        yield r, w, handlers
    finally:
        w.transport.abort()
        for h in handlers:
            h.conn.abort()
        lst.close()


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
@pytest.mark.parametrize("pause_first", [False, True], ids=["reading", "paused"])
def test_late_bytes_are_dropped_until_the_peers_eof(kind: str, pause_first: bool) -> None:
    async def main() -> None:
        async with serve(pause_first=pause_first) as (r, w, handlers):
            w.write(b"first")
            assert await asyncio.wait_for(r.read(), 5) == b"no"  # the answer, then EOF
            h = handlers[0]
            for _ in range(64):  # 4 MiB more: read and dropped, or the writes below would stall
                w.write(b"z" * 65536)
                await asyncio.wait_for(w.drain(), 5)
            assert not h.closed.done()
            w.write_eof()
            t0 = time.monotonic()
            assert await asyncio.wait_for(h.closed, 5) is None
            assert h.closed_at - t0 < 1.0
            assert bytes(h.data) == b"first"
            assert h.events == ["answered", ("close", None)]

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_a_silent_peer_is_closed_after_lingering_timeout(kind: str) -> None:
    async def main() -> None:
        async with serve(lingering_timeout=0.3, lingering_time=10) as (r, w, handlers):
            w.write(b"first")
            assert await asyncio.wait_for(r.read(), 5) == b"no"
            t0 = time.monotonic()
            w.write(b"late")  # restarts the clock
            await w.drain()
            h = handlers[0]
            assert await asyncio.wait_for(h.closed, 5) is None
            assert 0.25 <= h.closed_at - t0 < 2.0
            assert bytes(h.data) == b"first"

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_a_peer_that_never_stops_is_closed_after_lingering_time(kind: str) -> None:
    async def main() -> None:
        async with serve(lingering_timeout=0.3, lingering_time=0.8) as (r, w, handlers):
            w.write(b"first")
            assert await asyncio.wait_for(r.read(), 5) == b"no"
            t0 = time.monotonic()
            h = handlers[0]
            while not h.closed.done() and time.monotonic() - t0 < 5:
                w.write(b"z" * 100)
                await asyncio.sleep(0.05)
            assert h.closed.done()
            assert 0.7 <= h.closed_at - t0 < 2.0

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_the_clocks_start_once_a_big_answer_is_flushed(kind: str) -> None:
    """A client that reads its 32 MiB answer (far more than the kernel's buffers hold) only after
    more than ``lingering_time`` still gets every byte and the EOF."""

    async def main() -> None:
        answer = bytes(range(256)) * 131072
        async with serve(answer, lingering_timeout=0.3, lingering_time=0.5) as (r, w, handlers):
            w.write(b"first")
            await asyncio.sleep(1.0)
            h = handlers[0]
            assert not h.closed.done()  # still flushing: not the linger clocks yet
            assert await asyncio.wait_for(r.read(), 5) == answer
            assert await asyncio.wait_for(h.closed, 5) is None
            assert ("paused", False) not in h.events  # the handler is not told of the flush

    run(main(), kind)


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_no_lingering_after_the_peers_eof_or_when_turned_off(kind: str) -> None:
    async def main() -> None:
        for limits, at_eof in (({}, True), ({"lingering_time": 0.0}, False)):
            async with serve(at_eof=at_eof, **limits) as (r, w, handlers):
                w.write(b"first")
                if at_eof:
                    w.write_eof()
                assert await asyncio.wait_for(r.read(), 5) == b"no"
                h = handlers[0]
                # the peer keeps its socket open: the server did not wait for it
                assert await asyncio.wait_for(h.closed, 1) is None

    run(main(), kind)
