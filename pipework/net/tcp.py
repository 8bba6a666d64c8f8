"""TCP listeners: accept connections and hand each one to a handler made by the owner.

The owner passes ``factory(conn) -> handler``; it may be swapped at any time (a script reload
does so), and only connections accepted afterwards see the new one. ``max_connections`` is
enforced by closing a connection at once when the listener is full (counted in ``rejected``),
as Envoy does; the kernel's ``backlog`` queues connections not yet accepted.

Lingering close (:meth:`_Inbound.close_lingering`, nginx's ``lingering_close``): closing a socket
that still has unread input makes the kernel answer with RST, and the peer may then lose what it
had not read yet, such as an early 413. So an owner that is done while the peer may still be
sending shuts the writing side down (the peer reads everything, then EOF), and the connection
reads and drops whatever else comes until the peer's EOF or the listener's limits, then closes.
Under a load of short connections nearly every connection lingers for a moment (a client that
sent ``Connection: close`` closes once it has the answer), so the limits are kept by one
:class:`LingerWatch` per listener rather than by a timer per connection, which would cost more
than all the rest of lingering.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from . import errors
from .conn import WRITE_HIGH, Connection, Handler, _drop

log = logging.getLogger("pipework")

#: lingering close, nginx's defaults: the longest wait for the peer's next bytes (or EOF), and the
#: longest linger in all once the last write is flushed (a peer that never stops sending)
LINGERING_TIMEOUT = 5.0
LINGERING_TIME = 30.0
#: a LingerWatch checks its connections at most this often: each check visits all of them
LINGER_RESOLUTION = 0.1

HandlerFactory = Callable[[Connection], Handler]


def split_address(spec: str | int, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``8080`` / ``"8080"`` / ``"127.0.0.1:8080"`` / ``"[::1]:8080"`` → (host, port).

    Raises ``ValueError`` with the reason for anything else.
    """
    if isinstance(spec, bool):
        raise ValueError(f"bad address {spec!r}")
    if isinstance(spec, int):
        host, port_s = default_host, str(spec)
    else:
        s = spec.strip()
        if s.isdigit():
            host, port_s = default_host, s
        elif s.startswith("["):
            end = s.find("]")
            if end < 0 or s[end + 1 : end + 2] != ":":
                raise ValueError(f"bad address {spec!r}: expected [IPv6]:port")
            host, port_s = s[1:end], s[end + 2 :]
        else:
            host, sep, port_s = s.rpartition(":")
            if not sep or not host:
                raise ValueError(f"bad address {spec!r}: expected host:port or a port number")
            if ":" in host:
                raise ValueError(f"bad address {spec!r}: write IPv6 addresses as [addr]:port")
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ValueError(f"bad address {spec!r}: the port must be a number from 0 to 65535")
    return host, int(port_s)


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class LingerWatch:
    """Closes a listener's lingering connections past its limits, with one timer for all.

    The timer is armed only while some connection lingers, for the nearest deadline (but no
    sooner than ``LINGER_RESOLUTION`` after the previous check); a connection that ends before
    its deadline only leaves the table. With the limits fixed, a connection that starts to
    linger has no deadline before the one the timer is armed for; changed limits apply from the
    next check.
    """

    __slots__ = ("_timer", "conns", "listener")

    def __init__(self, listener: TcpListener) -> None:
        self.listener = listener
        #: each lingering connection and the time its write buffer was flushed
        self.conns: dict[_Inbound, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, conn: _Inbound, now: float, loop: Any) -> None:
        self.conns[conn] = now
        if self._timer is None:
            first = min(self.listener.lingering_timeout, self.listener.lingering_time)
            self._timer = loop.call_at(now + first, self._check, loop)

    def _check(self, loop: Any) -> None:
        self._timer = None
        lst = self.listener
        timeout, total = lst.lingering_timeout, lst.lingering_time
        now = loop.time()
        nearest = float("inf")
        for conn, start in tuple(self.conns.items()):
            deadline = min(conn._last_read + timeout, start + total)
            if deadline <= now:
                del self.conns[conn]
                conn.abort()  # nothing is left to write: abort loses nothing
            elif deadline < nearest:
                nearest = deadline
        if self.conns:
            self._timer = loop.call_at(max(nearest, now + LINGER_RESOLUTION), self._check, loop)


class _Inbound(Connection):
    # Only attributes set here: an attribute first set later (or one more in Connection, which
    # Outbound extends to CPython 3.11's 29 shared keys) gives every instance a dict of its own.
    def __init__(self, listener: TcpListener) -> None:
        super().__init__(
            idle_timeout=listener.idle_timeout,
            read_timeout=listener.read_timeout,
            write_high=listener.write_high,
            loop=listener.loop,
        )
        self.listener = listener
        self.at_eof = False  # the peer has shut its writing side down
        self.lingering = False  # close_lingering() was called: reads are dropped

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        lst = self.listener
        if lst.max_connections and lst.active >= lst.max_connections:
            lst.rejected += 1
            self.closed = True
            transport.abort()  # type: ignore[attr-defined]
            return
        lst.active += 1
        lst.accepted += 1
        super().connection_made(transport)
        try:
            self.attach(lst.factory(self))
        except Exception as exc:
            log.error("%s: cannot start a session: %s", lst.address, exc, exc_info=exc)
            transport.abort()  # type: ignore[attr-defined]

    def eof_received(self) -> bool:
        self.at_eof = True
        if self.lingering:
            self.transport.close()  # what was waited for; a flush still under way completes
        elif self.handler is not None:
            self.handler.on_eof()
        return True  # keep the writing side open; the handler closes when it is done

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.listener.active -= 1
            self.listener._on_closed()
        if self.lingering:
            self.listener.linger_watch.conns.pop(self, None)
            exc = None  # the stream was over for the handler: a reset now is no error of its
        super().connection_lost(exc)

    # -- lingering close ----------------------------------------------------------------------
    def close_lingering(self) -> None:
        """Close without losing what was written, though the peer may still be sending.

        If the peer has already sent its EOF (or the listener's ``lingering_time`` or
        ``lingering_timeout`` is 0), this is :meth:`close`. Otherwise the writing side is shut
        down once the buffer is flushed, and from now on every byte read is dropped: the handler
        gets no ``on_data``, ``on_eof`` nor ``on_write_paused`` any more, and writes are dropped.
        The connection closes at the peer's EOF, after ``lingering_timeout`` seconds without a
        byte from the peer, or ``lingering_time`` seconds after the flush, whichever comes first;
        the handler then gets ``on_close(None)`` (an error only if it is aborted with one). Until
        the flush, only the idle and read timeouts bound the wait, as for :meth:`close`.
        """
        t = self.transport
        if t is None or self.lingering or t.is_closing():
            return
        lst = self.listener
        if self.at_eof or lst.lingering_time <= 0 or lst.lingering_timeout <= 0:
            t.close()
            return
        self.lingering = True
        self.write = _drop
        self._on_data = self._linger_read
        try:
            t.write_eof()
        except OSError:
            self.abort(errors.WRITE_ERROR)
            return
        if self.reading_paused:  # the peer's bytes must be read (and dropped) for it to go on
            self.reading_paused = False
            t.resume_reading()
        if t.get_write_buffer_size():
            # with both marks at 0, resume_writing() is called when the buffer is empty
            t.set_write_buffer_limits(high=0, low=0)
        else:
            self._linger_flushed()

    def _linger_read(self, data: bytes) -> None:
        self._last_read = self._loop.time()  # type: ignore[union-attr]

    def _linger_flushed(self) -> None:
        """The write buffer is empty (the rest is the kernel's to send): start the linger clocks,
        which replace the idle and read timeouts."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self._loop
        now = self._last_read = loop.time()  # type: ignore[union-attr]
        self.listener.linger_watch.add(self, now, loop)

    def pause_writing(self) -> None:
        if self.lingering:  # only the watch for the flush: the handler is done with writing
            self.write_paused = True
        else:
            super().pause_writing()

    def resume_writing(self) -> None:
        if self.lingering:
            self.write_paused = False
            t = self.transport
            if not t.get_write_buffer_size() and not t.is_closing():
                self._linger_flushed()
        else:
            super().resume_writing()

    def pause_reading(self) -> None:
        if not self.lingering:  # a lingering connection reads (and drops) all
            super().pause_reading()


class TcpListener:
    """A listening TCP socket and the connections accepted from it.

    ``idle_timeout``, ``read_timeout`` and ``write_high`` are given to each connection (see
    :class:`~pipework.net.conn.Connection`) and ``lingering_timeout`` and ``lingering_time``
    bound its lingering close (see :meth:`_Inbound.close_lingering`; 0: no lingering); changing
    them affects connections accepted, or starting to linger, afterwards.
    """

    def __init__(
        self,
        host: str,
        port: int,
        factory: HandlerFactory,
        *,
        backlog: int = 1024,
        max_connections: int = 0,
        idle_timeout: float = 0.0,
        read_timeout: float = 0.0,
        reuse_port: bool = False,
        write_high: int = WRITE_HIGH,
        lingering_timeout: float = LINGERING_TIMEOUT,
        lingering_time: float = LINGERING_TIME,
    ) -> None:
        self.host = host
        self.port = port
        self.factory = factory
        self.backlog = backlog
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self.reuse_port = reuse_port
        self.write_high = write_high
        self.lingering_timeout = lingering_timeout
        self.lingering_time = lingering_time
        self.linger_watch = LingerWatch(self)
        self.active = 0
        self.accepted = 0
        self.rejected = 0
        self._server: asyncio.Server | None = None
        self._idle: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> str:
        return join_address(self.host, self.port)

    async def start(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = await loop.create_server(
            lambda: _Inbound(self),
            self.host,
            self.port,
            family=family,
            backlog=self.backlog,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop accepting; connections already open go on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def _on_closed(self) -> None:
        if self.active == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return when no connection accepted by this listener is open."""
        if self.active == 0:
            return
        self._idle = asyncio.Event()
        await self._idle.wait()
