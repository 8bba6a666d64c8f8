"""A TCP connection as an asyncio Protocol that drives a handler, with timeouts and flow control.

Theory of operation: the I/O layer knows no pipelines. Whoever owns a connection gives it a
*handler*, an object with four methods the connection calls:

- ``on_data(data: bytes)`` for every chunk read,
- ``on_eof()`` when the peer shuts its writing side down (the connection stays open for writes),
- ``on_close(error: str | None)`` once, when the connection is gone (error names from
  :mod:`pipework.net.errors`),
- ``on_write_paused(paused: bool)`` when the write buffer passes its high-water mark and when it
  drains below the low one, so the handler can stop whatever feeds it.

The hot path is kept to the fewest Python calls: ``conn.write`` is the transport's own bound
``write`` while nothing needs checking (no timeout to track, buffer below its mark), and switches
to a checking version only while the buffer is over its mark or a timeout is set. Likewise reads
go straight to the handler unless a timeout needs their time. Timeouts cost one timer per
connection: reads and writes store the loop time, and the timer, when it fires, re-arms itself
for the nearest deadline still ahead. Addresses are looked up only when someone asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from . import errors
from .loop import running_loop

#: default write buffer marks: above HIGH the handler is told to stop feeding, below LOW to go on
WRITE_HIGH = 256 * 1024
WRITE_LOW = 64 * 1024
#: a writer that ignores back-pressure is cut off when this many times HIGH bytes are waiting
WRITE_HARD_FACTOR = 16


class Handler(Protocol):
    def on_data(self, data: bytes) -> None: ...
    def on_eof(self) -> None: ...
    def on_close(self, error: str | None) -> None: ...
    def on_write_paused(self, paused: bool) -> None: ...


def _drop(data: bytes) -> None:
    pass


def _no_handler(data: bytes) -> None:
    pass


class Connection(asyncio.Protocol):
    """One TCP connection; see the module docstring for the handler contract."""

    write: Callable[[bytes], None]

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        idle_timeout: float = 0.0,
        read_timeout: float = 0.0,
        write_high: int = WRITE_HIGH,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # With Outbound's 11 these are 29 instance attributes, as many as CPython 3.11 keeps in a
        # class's shared keys; one more (data_received, when timed, is one) gives every instance
        # a dict of its own: +10% instructions per proxied connection. Add to subclasses instead.
        self.transport: Any = None
        self.handler = handler
        self._on_data: Callable[[bytes], None] = handler.on_data if handler is not None else _no_handler
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self.write_high = write_high
        self.closed = False
        self.reading_paused = False
        self.write_paused = False
        self._error: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop = loop
        self._timed = idle_timeout > 0 or read_timeout > 0
        self._last_read = self._last_write = 0.0
        self._peer: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None
        self.write = self._write_before_connect
        if self._timed:
            self.data_received = self._data_received_timed  # type: ignore[method-assign]

    def attach(self, handler: Handler) -> None:
        """Give the connection its handler (for connections made before the handler).

        A handler with a ``take_bytes`` callable (not None) gets reads there instead of through
        ``on_data``: one call less per read for a handler that only passes them on.
        """
        self.handler = handler
        self._on_data = getattr(handler, "take_bytes", None) or handler.on_data

    # -- addresses, looked up on first use --------------------------------------------------
    @property
    def peer(self) -> tuple[str, int]:
        if self._peer is None:
            p = self.transport.get_extra_info("peername") if self.transport is not None else None
            self._peer = (str(p[0]), int(p[1])) if p else ("", 0)
        return self._peer

    @property
    def local(self) -> tuple[str, int]:
        if self._local is None:
            p = self.transport.get_extra_info("sockname") if self.transport is not None else None
            self._local = (str(p[0]), int(p[1])) if p else ("", 0)
        return self._local

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self._loop is None:
            self._loop = running_loop()
        transport.set_write_buffer_limits(high=self.write_high, low=min(WRITE_LOW, self.write_high // 4))  # type: ignore[attr-defined]
        self._choose_writer()
        if self._timed:
            self._last_read = self._last_write = self._loop.time()
            self._arm()

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def _data_received_timed(self, data: bytes) -> None:
        self._last_read = self._loop.time()  # type: ignore[union-attr]
        self._on_data(data)

    def eof_received(self) -> bool:
        if self.handler is not None:
            self.handler.on_eof()
        return True  # keep the writing side open; the handler closes when it is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.write = _drop
        self._on_data = _no_handler
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        error = self._error or errors.error_name(exc)
        handler = self.handler
        if handler is not None:
            self.handler = None
            handler.on_close(error)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._choose_writer()
        if self.handler is not None:
            self.handler.on_write_paused(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        self._choose_writer()
        if self.handler is not None:
            self.handler.on_write_paused(False)

    # -- writing ------------------------------------------------------------------------------
    def _choose_writer(self) -> None:
        if self.closed:
            self.write = _drop
        elif self.write_paused or self._timed:
            self.write = self._write_checked
        else:
            self.write = self.transport.write

    def _write_before_connect(self, data: bytes) -> None:
        raise RuntimeError("write before the connection is made")

    def _write_checked(self, data: bytes) -> None:
        t = self.transport
        t.write(data)
        if self._timed:
            self._last_write = self._loop.time()  # type: ignore[union-attr]
        if self.write_paused and t.get_write_buffer_size() > self.write_high * WRITE_HARD_FACTOR:
            self.abort(errors.BUFFER_OVERFLOW)

    def writelines(self, chunks: list[bytes]) -> None:
        for c in chunks:
            self.write(c)

    def write_eof(self) -> None:
        t = self.transport
        if t is not None and not self.closed and t.can_write_eof() and not t.is_closing():
            try:
                t.write_eof()
            except OSError:
                self.abort(errors.WRITE_ERROR)

    def close(self) -> None:
        """Close after the buffered data is written."""
        t = self.transport
        if t is not None and not t.is_closing():
            t.close()

    def abort(self, error: str | None = None) -> None:
        """Close at once, dropping buffered data; the handler sees ``error``."""
        if error and self._error is None:
            self._error = error
        t = self.transport
        if t is not None:
            t.abort()

    def pause_reading(self) -> None:
        t = self.transport
        if t is not None and not self.reading_paused and not t.is_closing():
            self.reading_paused = True
            t.pause_reading()

    def resume_reading(self) -> None:
        t = self.transport
        if t is not None and self.reading_paused and not t.is_closing():
            self.reading_paused = False
            if self._timed:
                self._last_read = self._loop.time()  # type: ignore[union-attr]
            t.resume_reading()

    def extra(self, name: str) -> Any:
        return None if self.transport is None else self.transport.get_extra_info(name)

    # -- timeouts ---------------------------------------------------------------------------
    def _next_deadline(self) -> float:
        d = float("inf")
        if self.read_timeout > 0 and not self.reading_paused:
            d = self._last_read + self.read_timeout
        if self.idle_timeout > 0:
            d = min(d, max(self._last_read, self._last_write) + self.idle_timeout)
        return d

    def _arm(self) -> None:
        d = self._next_deadline()
        if d == float("inf"):
            # only a paused read timeout: look again later
            d = self._loop.time() + max(self.read_timeout, 1.0)  # type: ignore[union-attr]
        self._timer = self._loop.call_at(d, self._check)  # type: ignore[union-attr]

    def _check(self) -> None:
        self._timer = None
        if self.closed:
            return
        now = self._loop.time()  # type: ignore[union-attr]
        if self.read_timeout > 0 and not self.reading_paused and now - self._last_read >= self.read_timeout:
            self.abort(errors.READ_TIMEOUT)
            return
        if self.idle_timeout > 0 and now - max(self._last_read, self._last_write) >= self.idle_timeout:
            self.abort(errors.IDLE_TIMEOUT)
            return
        self._arm()
