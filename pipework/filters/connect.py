"""``connect``: send the stream to a TCP or UDP server and output what it sends back.

The outbound connection opens when the pipeline starts, so servers that speak first (SMTP,
MySQL, SSH) work. ``Data`` is written to the server; a clean ``StreamEnd`` shuts down the
writing side (half-close) and waits for the server to finish; a ``StreamEnd`` with an error
aborts the connection. What the server sends comes out as ``Data``, its close as ``StreamEnd``
(with an error name such as ``"ConnectionRefused"`` when it failed).

Back-pressure both ways: a full outbound write buffer pauses reading the inbound connection,
and a full inbound write buffer pauses reading the outbound connection.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core import Builder, Data, Event, Filter, OutboundInfo, StreamEnd, adapt, register
from ..core.callback import Callback
from ..core.checks import seconds
from ..core.flow import Hold
from ..net import Outbound, SourcePool, UdpOutbound, split_address
from ..net.conn import WRITE_HIGH

PROTOCOLS = ("tcp", "udp")
log = logging.getLogger("pipework")


class _ConnectCfg:
    __slots__ = (
        "bind",
        "buffer_limit",
        "connect_timeout",
        "host",
        "idle_timeout",
        "name",
        "port",
        "protocol",
        "read_timeout",
        "target",
    )

    def __init__(self) -> None:
        self.target: Callback | None = None
        self.host = ""
        self.port = 0
        self.name = ""
        self.protocol = "tcp"
        self.connect_timeout = 10.0
        self.idle_timeout = 0.0
        self.read_timeout = 0.0
        self.buffer_limit = WRITE_HIGH
        self.bind: str | SourcePool | None = None


def _target(value: Any) -> tuple[str, int]:
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0]), int(value[1])
    if not isinstance(value, str):
        raise TypeError(f"connect(): a target is 'host:port' or (host, port), not {type(value).__name__}")
    host, port = split_address(value, default_host="127.0.0.1")
    if port == 0:
        raise ValueError(f"connect(): target {value!r} needs a port")
    return host, port


class Connect(Filter):
    """See the module docstring."""

    __slots__ = ("_hold", "conn", "ended")

    needs_start = True

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.conn: Any = None
        self.ended = False
        self._hold: Hold | None = None

    def start(self) -> None:
        cfg: _ConnectCfg = self.cfg
        ctx = self.pipeline.context
        if cfg.target is not None:
            host, port = _target(cfg.target.call(ctx))
            name = f"{host}:{port}"
        else:
            host, port, name = cfg.host, cfg.port, cfg.name
        self._hold = Hold(ctx.valve)
        if cfg.protocol == "udp":
            self.conn = UdpOutbound(self, host, port, idle_timeout=cfg.idle_timeout or 60.0, bind=cfg.bind)
        else:
            self.conn = Outbound(
                self,
                host,
                port,
                connect_timeout=cfg.connect_timeout,
                idle_timeout=cfg.idle_timeout,
                read_timeout=cfg.read_timeout,
                write_high=cfg.buffer_limit,
                bind=cfg.bind,
            )
        ctx.outbound = OutboundInfo(cfg.protocol, name, self.conn)
        ctx.watch_output(self._on_output_paused)

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            if self.conn is not None:
                self.conn.write(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd:
            conn = self.conn
            if conn is None:
                self._end(evt)  # type: ignore[arg-type]
            elif evt.error:  # type: ignore[attr-defined]
                conn.abort(evt.error)  # type: ignore[attr-defined]
            else:
                conn.write_eof()

    # -- the outbound connection's handler -------------------------------------------------------
    def on_connect(self) -> None:
        pass

    def on_data(self, data: bytes) -> None:
        try:
            self._out(Data(data))
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def on_eof(self) -> None:
        self._end(StreamEnd())

    def on_close(self, error: str | None) -> None:
        c = self.conn
        if error and c is not None and not c.connected and not self.ended:
            ob = self.pipeline.context.outbound
            log.warning(
                "%r: connect to %s failed: %s", self.pipeline.context, ob.target if ob else "?", error
            )
        self._end(StreamEnd(error))
        self._release()

    def on_write_paused(self, paused: bool) -> None:
        h = self._hold
        if h is not None:
            if paused:
                h.take()
            else:
                h.release()

    def _on_output_paused(self, paused: bool) -> None:
        c = self.conn
        if c is not None:
            if paused:
                c.pause_reading()
            else:
                c.resume_reading()

    def _end(self, evt: StreamEnd) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self._out(evt)
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
        self.pipeline.context.unwatch_output(self._on_output_paused)

    def close(self) -> None:
        self.ended = True
        c = self.conn
        if c is not None and not c.closed:
            c.abort()
        self._release()


def as_source(bind: Any) -> str | SourcePool | None:
    if bind is None or isinstance(bind, SourcePool):
        return bind
    if isinstance(bind, str) and ("," not in bind and "-" not in bind and "/" not in bind):
        return bind
    return SourcePool(bind)


def connect(
    self: Builder,
    target: Any,
    *,
    protocol: str = "tcp",
    connect_timeout: float = 10.0,
    idle_timeout: float = 0.0,
    read_timeout: float = 0.0,
    buffer_limit: int = WRITE_HIGH,
    bind: Any = None,
) -> Builder:
    """Connect to ``target`` (``"host:port"``, ``(host, port)`` or a function of the context).

    ``bind`` is a local address, a :class:`~pipework.net.SourcePool`, or a pool spec
    (``"127.0.0.2-127.0.0.9"``, a CIDR, a list). ``buffer_limit`` is the outbound write buffer's
    high-water mark in bytes: past it the inbound side stops reading. Timeouts are in seconds;
    0 means none (``connect_timeout`` defaults to 10).
    """
    cfg = _ConnectCfg()
    if protocol not in PROTOCOLS:
        raise ValueError(f"connect(): protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    cfg.protocol = protocol
    if callable(target):
        cfg.target = adapt(target, 0, "connect() target")
        if cfg.target.is_async:
            raise TypeError("connect(): the target function must be a plain function, not async")
    else:
        cfg.host, cfg.port = _target(target)
        cfg.name = f"{cfg.host}:{cfg.port}"
    for name, value in (
        ("connect_timeout", connect_timeout),
        ("idle_timeout", idle_timeout),
        ("read_timeout", read_timeout),
    ):
        seconds(value, f"connect(): {name}")
        setattr(cfg, name, float(value))
    if not isinstance(buffer_limit, int) or buffer_limit < 1024:
        raise ValueError(f"connect(): buffer_limit must be at least 1024 bytes, not {buffer_limit!r}")
    cfg.buffer_limit = buffer_limit
    cfg.bind = as_source(bind)
    return self.add("connect", Connect, cfg)


register(connect=connect)
