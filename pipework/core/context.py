"""Per-connection context: user variables, inbound and outbound facts, back-pressure links.

One context is made for each inbound connection (or UDP session, or task run) and shared by its
pipeline and every sub-pipeline made under it, as in Pipy. Scripts keep per-stream state on
``ctx.vars`` (a plain namespace) rather than in globals.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Protocol

from .flow import Valve

_ids = itertools.count(1)
log = logging.getLogger("pipework")


def _log_failure(exc: BaseException) -> None:
    log.error("pipeline error: %s", exc, exc_info=exc)


class _Addresses(Protocol):
    @property
    def peer(self) -> tuple[str, int]: ...
    @property
    def local(self) -> tuple[str, int]: ...


class _NoAddresses:
    peer = ("", 0)
    local = ("", 0)


_NONE = _NoAddresses()


class InboundInfo:
    """Facts about the inbound side of a connection, read from the socket on first use."""

    __slots__ = ("_conn", "protocol")

    def __init__(self, protocol: str = "tcp", conn: _Addresses = _NONE) -> None:
        self.protocol = protocol
        self._conn = conn

    @property
    def remote_address(self) -> str:
        return self._conn.peer[0]

    @property
    def remote_port(self) -> int:
        return self._conn.peer[1]

    @property
    def local_address(self) -> str:
        return self._conn.local[0]

    @property
    def local_port(self) -> int:
        return self._conn.local[1]

    def __repr__(self) -> str:
        return f"<InboundInfo {self.protocol} {self.remote_address}:{self.remote_port}>"


class OutboundInfo(InboundInfo):
    """Facts about the latest outbound connection made by ``connect``: ``target`` as asked for,
    the addresses once connected."""

    __slots__ = ("target",)

    def __init__(self, protocol: str = "tcp", target: str = "", conn: _Addresses = _NONE) -> None:
        super().__init__(protocol, conn)
        self.target = target

    def __repr__(self) -> str:
        return f"<OutboundInfo {self.protocol} {self.target}>"


class Context:
    """What the pipelines of one connection share.

    ``vars`` holds script variables; ``inbound`` and ``outbound`` describe the connections,
    ``tls`` the inbound TLS session when there is one;
    ``valve`` pauses reading the inbound connection (see :mod:`pipework.core.flow`).
    """

    __slots__ = (
        "_drain_listeners",
        "_output_listeners",
        "fail",
        "id",
        "inbound",
        "outbound",
        "output_paused",
        "tls",
        "valve",
        "vars",
    )

    def __init__(self, inbound: InboundInfo | None = None, valve: Valve | None = None) -> None:
        self.id = next(_ids)
        self.vars: Any = SimpleNamespace()
        self.inbound = inbound if inbound is not None else InboundInfo(protocol="none")
        self.outbound: OutboundInfo | None = None
        #: the inbound TLS session once ``accept_tls`` finished its handshake (filters.tls.TlsInfo)
        self.tls: Any = None
        self.valve = valve if valve is not None else Valve()
        self.output_paused = False
        self._output_listeners: list[Callable[[bool], None]] | None = None
        self._drain_listeners: list[Callable[[], None]] | None = None
        #: called with an exception raised inside this context's pipelines outside the inbound
        #: connection's own call (a timer, an outbound read); the owner logs it and closes
        self.fail: Callable[[BaseException], None] = _log_failure

    def watch_output(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(paused)`` whenever the inbound connection's writes back up or drain."""
        if self._output_listeners is None:
            self._output_listeners = []
        self._output_listeners.append(listener)
        if self.output_paused:
            listener(True)

    def unwatch_output(self, listener: Callable[[bool], None]) -> None:
        if self._output_listeners is not None:
            try:
                self._output_listeners.remove(listener)
            except ValueError:
                pass

    def set_output_paused(self, paused: bool) -> None:
        """Called by the inbound connection when its write buffer passes its marks."""
        self.output_paused = paused
        if self._output_listeners:
            for listener in tuple(self._output_listeners):
                listener(paused)

    def watch_drain(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` when the process starts to shut down, so that a protocol can end
        the stream at a clean point (an idle HTTP keep-alive connection closes at once)."""
        if self._drain_listeners is None:
            self._drain_listeners = []
        self._drain_listeners.append(listener)

    def drain(self) -> None:
        """The process is shutting down: tell the listeners (once)."""
        listeners, self._drain_listeners = self._drain_listeners, None
        for listener in listeners or ():
            listener()

    def __repr__(self) -> str:
        ib = self.inbound
        return f"<Context #{self.id} {ib.protocol} {ib.remote_address}:{ib.remote_port}>"
