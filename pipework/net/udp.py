"""UDP: a listener that turns datagrams into per-peer sessions, and outbound UDP "connections".

Theory of operation: like nginx's ``stream`` module, a UDP listener keeps one session per remote
address. The first datagram from a new peer makes a session and asks the owner's factory for a
handler; every datagram is one ``on_data`` call and every ``write`` one datagram back. A session
ends after ``idle_timeout`` seconds without a datagram either way (``on_close("IdleTimeout")``)
or when the owner closes it. Outbound, :class:`UdpOutbound` is a connected datagram socket with
the same handler contract as a TCP :class:`~pipework.net.outbound.Outbound`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from . import errors
from .conn import Handler
from .source_pool import SourcePool
from .tasks import spawn

log = logging.getLogger("pipework")

#: datagrams waiting for an outbound socket to open; later ones are dropped, as the network would
MAX_PENDING_DATAGRAMS = 256
DEFAULT_UDP_IDLE = 60.0


class _Timed:
    """One timer per session that fires at the idle deadline, re-armed lazily."""

    idle_timeout: float
    _last: float
    _timer: asyncio.TimerHandle | None
    _loop: asyncio.AbstractEventLoop

    def _arm(self) -> None:
        if self.idle_timeout > 0:
            self._timer = self._loop.call_at(self._last + self.idle_timeout, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._loop.time() - self._last >= self.idle_timeout:
            self._expire()
        else:
            self._arm()

    def _expire(self) -> None:
        raise NotImplementedError


class UdpSession(_Timed):
    """The datagrams exchanged with one remote address on a listener."""

    def __init__(self, listener: UdpListener, peer: tuple[Any, ...]) -> None:
        self.listener = listener
        self.peer = (str(peer[0]), int(peer[1]))
        self._addr = peer
        self.local = (listener.host, listener.port)
        self.closed = False
        self.idle_timeout = listener.idle_timeout
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer = None
        self.handler: Handler | None = None
        self._arm()

    def write(self, data: bytes) -> None:
        t = self.listener.transport
        if t is not None and not self.closed:
            self._last = self._loop.time()
            t.sendto(data, self._addr)

    def writelines(self, chunks: list[bytes]) -> None:
        for c in chunks:
            self.write(c)

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self._end(None)

    def abort(self, error: str | None = None) -> None:
        self._end(error)

    def _expire(self) -> None:
        self._end(errors.IDLE_TIMEOUT)

    def _end(self, error: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.listener._sessions.pop(self._addr, None)
        self.listener._on_closed()
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.on_close(error)


class UdpListener(asyncio.DatagramProtocol):
    """A bound UDP socket whose peers become sessions (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        factory: Callable[[UdpSession], Handler],
        *,
        idle_timeout: float = DEFAULT_UDP_IDLE,
        max_connections: int = 0,
        reuse_port: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.factory = factory
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.reuse_port = reuse_port
        self.transport: asyncio.DatagramTransport | None = None
        self.accepting = True
        self._sessions: dict[Any, UdpSession] = {}
        self.accepted = 0
        self.rejected = 0
        self._idle: asyncio.Event | None = None

    @property
    def active(self) -> int:
        return len(self._sessions)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port), family=family, reuse_port=self.reuse_port or None
        )
        self.transport = transport
        if self.port == 0:
            self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        s = self._sessions.get(addr)
        if s is None:
            if not self.accepting:
                return
            if self.max_connections and len(self._sessions) >= self.max_connections:
                self.rejected += 1
                return
            s = self._sessions[addr] = UdpSession(self, addr)
            self.accepted += 1
            s.handler = self.factory(s)
        s._last = s._loop.time()
        if s.handler is not None:
            s.handler.on_data(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s: %s", self.address, exc)

    def close(self) -> None:
        """Stop receiving new datagrams: the socket closes once every session has ended."""
        if self.transport is not None and not self._sessions:
            self.transport.close()
            self.transport = None
        self.accepting = False

    @property
    def listening(self) -> bool:
        return self.accepting

    def shorten_idle(self, seconds: float) -> None:
        """End every session after at most ``seconds`` more without a datagram (used to drain)."""
        self.idle_timeout = min(self.idle_timeout, seconds) if self.idle_timeout > 0 else seconds
        for s in list(self._sessions.values()):
            s.idle_timeout = self.idle_timeout
            if s._timer is not None:
                s._timer.cancel()
            s._arm()

    def _on_closed(self) -> None:
        if not self._sessions:
            if not self.accepting and self.transport is not None:
                self.transport.close()
                self.transport = None
            if self._idle is not None:
                self._idle.set()

    async def wait_idle(self) -> None:
        if not self._sessions:
            return
        self._idle = asyncio.Event()
        await self._idle.wait()


class UdpOutbound(asyncio.DatagramProtocol, _Timed):
    """A connected UDP socket to ``host:port``; each write is one datagram."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        idle_timeout: float = DEFAULT_UDP_IDLE,
        bind: str | SourcePool | None = None,
    ) -> None:
        if isinstance(bind, SourcePool):
            bind = bind.candidates(socket.AF_INET6 if ":" in host else socket.AF_INET)[0]
        self.handler: Handler | None = handler
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.bind = bind
        self.closed = False
        self.connected = False
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self._pending: deque[bytes] = deque(maxlen=MAX_PENDING_DATAGRAMS)
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer = None
        self._task: asyncio.Task[None] | None = spawn(self._open(), f"udp connect {host}:{port}")

    async def _open(self) -> None:
        loop = self._loop
        try:
            await loop.create_datagram_endpoint(
                lambda: self,
                remote_addr=(self.host, self.port),
                local_addr=(self.bind, 0) if self.bind else None,
            )
        except asyncio.CancelledError:
            self._task = None
            self._end(errors.CONNECTION_CANCELED)
            raise
        except Exception as exc:
            self._end(errors.error_name(exc, errors.CONNECTION_REFUSED))
        self._task = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connected = True
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = (peer[0], peer[1])
        local = transport.get_extra_info("sockname")
        if local:
            self.local = (local[0], local[1])
        if self.closed:
            transport.close()
            return
        if self.handler is not None:
            self.handler.on_connect()  # type: ignore[attr-defined]
        while self._pending:
            transport.sendto(  # type: ignore[attr-defined]
                self._pending.popleft()
            )
        self._arm()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._last = self._loop.time()
        if self.handler is not None:
            self.handler.on_data(data)

    def error_received(self, exc: Exception) -> None:
        self._end(errors.error_name(exc, errors.CONNECTION_REFUSED))

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(errors.error_name(exc))

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self._last = self._loop.time()
        if self.transport is not None:
            self.transport.sendto(data)
        else:
            self._pending.append(data)

    def writelines(self, chunks: list[bytes]) -> None:
        for c in chunks:
            self.write(c)

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self._end(None)

    def abort(self, error: str | None = None) -> None:
        self._end(error)

    def _expire(self) -> None:
        self._end(errors.IDLE_TIMEOUT)

    def _end(self, error: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.close()
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.on_close(error)
