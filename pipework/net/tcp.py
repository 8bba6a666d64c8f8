"""TCP listeners: accept connections and hand each one to a handler made by the owner.

The owner passes ``factory(conn) -> handler``; it may be swapped at any time (a script reload
does so), and only connections accepted afterwards see the new one. ``max_connections`` is
enforced by closing a connection at once when the listener is full (counted in ``rejected``),
as Envoy does; the kernel's ``backlog`` queues connections not yet accepted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from .conn import WRITE_HIGH, Connection, Handler

log = logging.getLogger("pipework")

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


class _Inbound(Connection):
    def __init__(self, listener: TcpListener) -> None:
        super().__init__(
            idle_timeout=listener.idle_timeout,
            read_timeout=listener.read_timeout,
            write_high=listener.write_high,
            loop=listener.loop,
        )
        self.listener = listener

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

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.listener.active -= 1
            self.listener._on_closed()
        super().connection_lost(exc)


class TcpListener:
    """A listening TCP socket and the connections accepted from it."""

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
