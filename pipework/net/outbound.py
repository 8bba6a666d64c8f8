"""Outbound TCP connections: connect with a timeout, optionally from a source address or pool.

An :class:`Outbound` exists from the moment it is asked for: the owner may write to it at once
and the bytes wait in a bounded buffer until the connection is up (past ``write_high`` the
handler is told to pause, as for a full socket buffer). Besides the :class:`~pipework.net.conn.Handler`
methods, the handler gets ``on_connect()`` when the connection is established. Any failure,
including a connect timeout, arrives as ``on_close(error)``.

asyncio's ``create_connection`` is a coroutine, so each outbound connection runs one named task
while it connects; the connect timeout is a plain timer that cancels it.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl

from . import errors
from .conn import WRITE_HIGH, Connection, Handler
from .loop import running_loop
from .source_pool import SourcePool
from .tasks import spawn


def ip_family(host: str) -> int | None:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


class Outbound(Connection):
    """A TCP connection being made to ``host:port``; see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        connect_timeout: float = 10.0,
        idle_timeout: float = 0.0,
        read_timeout: float = 0.0,
        write_high: int = WRITE_HIGH,
        bind: str | SourcePool | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        loop = running_loop()
        super().__init__(
            handler, idle_timeout=idle_timeout, read_timeout=read_timeout, write_high=write_high, loop=loop
        )
        self.host = host
        self.port = port
        self.bind = bind
        #: TLS over this connection (the handler sees plaintext): the context, and the name the
        #: server's certificate must carry (the host by default)
        self.tls = tls
        self.server_name = server_name
        self.connected = False
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._eof_pending = False
        self._close_pending = False
        self._pool_address: str | None = None
        self.write = self._write_pending
        self._task: asyncio.Task[None] | None = spawn(self._connect(loop), "connect", loop)
        self._deadline = loop.call_later(connect_timeout, self._time_out) if connect_timeout > 0 else None

    def _time_out(self) -> None:
        self._deadline = None
        if self._task is not None:
            self._error = errors.CONNECTION_TIMEOUT
            self._task.cancel()

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            if isinstance(self.bind, SourcePool):
                await self._connect_from_pool(loop, self.bind)
            elif self.tls is not None:
                await loop.create_connection(
                    lambda: self,
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.server_name or self.host,
                    local_addr=(self.bind, 0) if self.bind else None,
                )
            elif self.bind:
                await loop.create_connection(lambda: self, self.host, self.port, local_addr=(self.bind, 0))
            else:
                await loop.create_connection(lambda: self, self.host, self.port)
        except asyncio.CancelledError:
            self._give_up(self._error or errors.CONNECTION_CANCELED)
        except Exception as exc:  # every failure ends this connection only
            self._give_up(errors.error_name(exc, errors.CONNECTION_REFUSED))
        finally:
            self._task = None
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    async def _connect_from_pool(self, loop: asyncio.AbstractEventLoop, pool: SourcePool) -> None:
        family = ip_family(self.host)
        address: tuple[str, int] = (self.host, self.port)
        if family is None:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            family, addr = infos[0][0], infos[0][4]
            address = (str(addr[0]), int(addr[1]))
        last: OSError | None = None
        for local in pool.candidates(family):
            try:
                sock = pool.bound_socket(local, family)
            except OSError as exc:  # not an address of this host (any more)
                last = exc
                pool.failures[local] += 1
                continue
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                last = exc
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EADDRINUSE):
                    pool.failures[local] += 1
                    continue
                raise
            except BaseException:
                sock.close()
                raise
            pool.acquire(local)
            self._pool_address = local
            try:
                await loop.create_connection(lambda: self, sock=sock)
            except BaseException:
                pool.release(local)
                self._pool_address = None
                sock.close()
                raise
            return
        raise (
            last if last is not None else OSError(errno.EADDRNOTAVAIL, "no usable address in the source pool")
        )

    def _give_up(self, error: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.write = _drop
        self._pending.clear()
        handler = self.handler
        if handler is not None:
            self.handler = None
            handler.on_close(error)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.connected = True
        handler = self.handler
        if handler is not None:
            handler.on_connect()  # type: ignore[attr-defined]
        if self._pending:
            chunks, self._pending, self._pending_size = self._pending, [], 0
            transport.writelines(chunks)  # type: ignore[attr-defined]
            if not self.write_paused and self.handler is not None:
                self.handler.on_write_paused(False)
        if self._eof_pending:
            self.write_eof()
        if self._close_pending:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pool_address is not None and isinstance(self.bind, SourcePool):
            self.bind.release(self._pool_address)
            self._pool_address = None
        super().connection_lost(exc)

    def _write_pending(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self.write_high and self.handler is not None:
            self.handler.on_write_paused(True)

    def write_eof(self) -> None:
        if self.connected:
            super().write_eof()
        else:
            self._eof_pending = True

    def close(self) -> None:
        if self.connected:
            super().close()
        elif self._task is not None:
            self._close_pending = True
            if not self._pending:
                self.abort()

    def abort(self, error: str | None = None) -> None:
        if self.connected:
            super().abort(error)
        elif self._task is not None:
            self._error = error
            self._task.cancel()


def _drop(data: bytes) -> None:
    pass
