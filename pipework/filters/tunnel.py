"""``tunnel``: answer ``CONNECT host:port`` (forward proxying) with a TCP connection to the target.

Used under ``demux_http`` for the CONNECT requests: 200 once the connection is up, then bytes
pass both ways until either side ends; targets may be limited by an allow-list. Back-pressure
runs both ways, as for ``connect``.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, register
from ..core.flow import Hold
from ..net import Outbound, split_address

log = logging.getLogger("pipework")


class _TunnelCfg:
    __slots__ = ("allow", "connect_timeout", "idle_timeout")

    def __init__(
        self, allow: list[tuple[str, str]] | None, connect_timeout: float, idle_timeout: float
    ) -> None:
        self.allow = allow
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout

    def allows(self, host: str, port: int) -> bool:
        if self.allow is None:
            return True
        h = host.lower()
        return any(fnmatchcase(h, hp) and (pp == "*" or pp == str(port)) for hp, pp in self.allow)


class Tunnel(Filter):
    """``CONNECT host:port`` answered with a TCP connection: 200, then bytes both ways."""

    __slots__ = ("_hold", "conn", "connected", "ended")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.conn: Outbound | None = None
        self.connected = False
        self.ended = False
        self._hold: Hold | None = None

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is MessageStart:
            head: RequestHead = evt.head  # type: ignore[attr-defined]
            if head.method != "CONNECT":
                self._answer(405, "only CONNECT goes through this tunnel\n")
                return
            try:
                host, port = split_address(head.target, default_host="")
                if not host or port == 0:
                    raise ValueError(head.target)
            except ValueError:
                self._answer(400, f"bad CONNECT target {head.target!r}\n")
                return
            if not self.cfg.allows(host, port):
                log.warning("%r: CONNECT to %s refused by the allow-list", self.pipeline.context, head.target)
                self._answer(403, f"CONNECT to {head.target} is not allowed\n")
                return
            ctx = self.pipeline.context
            self._hold = Hold(ctx.valve)
            self.conn = Outbound(
                self, host, port, connect_timeout=self.cfg.connect_timeout, idle_timeout=self.cfg.idle_timeout
            )
            ctx.watch_output(self._on_output_paused)
        elif t is Data and self.conn is not None:
            self.conn.write(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd and self.conn is not None:
            if evt.error:  # type: ignore[attr-defined]
                self.conn.abort(evt.error)  # type: ignore[attr-defined]
            else:
                self.conn.write_eof()

    def _answer(self, status: int, text: str) -> None:
        self.ended = True
        self._out(MessageStart(ResponseHead(status, "", "1.1", [(b"content-type", b"text/plain")])))
        self._out(Data(text.encode()))
        self._out(MessageEnd())

    # -- the outbound connection's handler ---------------------------------------------------------
    def on_connect(self) -> None:
        self.connected = True
        self._out(MessageStart(ResponseHead(200, "Connection Established")))
        self._out(MessageEnd())

    def on_data(self, data: bytes) -> None:
        try:
            self._out(Data(data))
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def on_eof(self) -> None:
        self._end(None)

    def on_close(self, error: str | None) -> None:
        if not self.connected and not self.ended:
            log.warning(
                "%r: CONNECT to %s:%d failed: %s",
                self.pipeline.context,
                *(self.conn.host, self.conn.port) if self.conn else ("?", 0),
                error,
            )
            status = 504 if error == "ConnectionTimeout" else 502
            self._answer(status, f"cannot connect: {error}\n")
            return
        self._end(error)

    def on_write_paused(self, paused: bool) -> None:
        if self._hold is not None:
            self._hold.take() if paused else self._hold.release()

    def _on_output_paused(self, paused: bool) -> None:
        if self.conn is not None:
            self.conn.pause_reading() if paused else self.conn.resume_reading()

    def _end(self, error: str | None) -> None:
        if not self.ended:
            self.ended = True
            try:
                self._out(StreamEnd(error))
            except Exception as exc:
                self.pipeline.context.fail(exc)

    def close(self) -> None:
        self.ended = True
        if self.conn is not None and not self.conn.closed:
            self.conn.abort()
        if self._hold is not None:
            self._hold.release()
        self.pipeline.context.unwatch_output(self._on_output_paused)


def tunnel(
    self: Builder,
    *,
    allow: list[str] | None = None,
    connect_timeout: float = 10.0,
    idle_timeout: float = 300.0,
) -> Builder:
    """Answer ``CONNECT host:port`` requests (forward proxying) with a TCP tunnel.

    ``allow`` limits the targets: ``"host:port"`` patterns where the host may use ``*``
    wildcards (``"*.example.com:443"``) and the port may be ``*``; others get 403. Without it,
    every target is allowed. Use it under ``demux_http`` for the CONNECT requests.
    """
    rules = None
    if allow is not None:
        rules = []
        for rule in allow:
            host, sep, port = rule.rpartition(":")
            if not sep or not host or not (port == "*" or port.isdigit()):
                raise ValueError(
                    f"tunnel(): bad allow rule {rule!r}: write host:port (wildcards: *.example.com:443, *)"
                )
            rules.append((host.lower(), port))
    return self.add("tunnel", Tunnel, _TunnelCfg(rules, connect_timeout, idle_timeout))


register(tunnel=tunnel)
