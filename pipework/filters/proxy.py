"""``proxy``: forward each HTTP request to an upstream server over a pool of kept-alive connections.

Theory of operation: ``proxy(target)`` sits in the sub-pipeline ``demux_http`` makes for each
request. On the request head it takes an idle connection to the target from the pool (or opens
one), writes the head — hop-by-hop fields removed, ``X-Forwarded-For/-Proto/-Host`` and ``Via``
added — and then streams the body as it comes (re-chunked when the client sent it chunked). The
response is parsed by the sans-IO :class:`~pipework.codec.http1.ResponseDecoder` and streamed back
as ``MessageStart Data* MessageEnd``; when it is complete and both sides allow it, the connection
goes back to the pool for the next request.

Failures become ``StreamEnd(error)``, which ``demux_http`` answers with 502 (504 for timeouts).
A kept-alive connection that the server had closed before our request reached it is the one
failure that is retried: once, on a new connection, and only for a request without a body whose
method is idempotent (RFC 9110 9.2.2).

Back-pressure runs both ways, as for ``connect``: a full upstream write buffer pauses reading the
client; a full client write buffer pauses reading the upstream.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from fnmatch import fnmatchcase
from typing import Any

from ..codec.http1 import (
    END,
    EndOfMessage,
    RemoteProtocolError,
    RequestHead,
    ResponseDecoder,
    ResponseHead,
    encode_request_head,
    forward_fields,
)
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, adapt, register
from ..core.callback import Callback
from ..core.flow import Hold
from ..net import Outbound, split_address
from ..net.loop import running_loop

log = logging.getLogger("pipework")

IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
#: request fields not passed on: hop-by-hop (RFC 9110 7.6.1) and the X-Forwarded-* we write ourselves
_REQUEST_DROP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
    )
)
_CONNECTION_OPTIONS = frozenset((b"close", b"keep-alive", b"upgrade", b""))
VIA = (b"via", b"1.1 pipework")
#: idle connections kept per target; more are closed when returned
DEFAULT_MAX_IDLE = 64


class _Upstream:
    """One connection to a target: the Outbound's handler, lent to one exchange at a time."""

    __slots__ = ("conn", "dec", "exchange", "idle_since", "key", "pool", "used")

    def __init__(self, pool: _Pool, key: tuple[str, int], connect_timeout: float) -> None:
        self.pool = pool
        self.key = key
        self.dec = ResponseDecoder()
        self.exchange: Proxy | None = None
        self.idle_since = 0.0
        self.used = 0
        self.conn = Outbound(self, key[0], key[1], connect_timeout=connect_timeout)

    def on_connect(self) -> None:
        pass

    def on_data(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:  # data on an idle connection: nobody asked; drop the connection
            self.conn.abort()
            return
        try:
            self.dec.receive_data(data)
        except RemoteProtocolError as exc:
            ex.upstream_failed(f"BadGateway: {exc}")
            return
        ex.upstream_events()

    def on_eof(self) -> None:
        ex = self.exchange
        try:
            self.dec.receive_data(b"")
        except RemoteProtocolError as exc:
            if ex is not None:
                ex.upstream_failed(f"BadGateway: {exc}")
            self.conn.abort()
            return
        if ex is not None:
            ex.upstream_events()
        self.conn.close()

    def on_close(self, error: str | None) -> None:
        self.pool.forget(self)
        ex = self.exchange
        if ex is not None:
            ex.upstream_closed(error)

    def on_write_paused(self, paused: bool) -> None:
        if self.exchange is not None:
            self.exchange.upstream_write_paused(paused)


class _Pool:
    """Idle connections per target, and one timer that enforces both the idle timeout of pooled
    connections and the read timeout of exchanges in flight (no timer per request)."""

    __slots__ = ("active", "connect_timeout", "idle", "idle_timeout", "max_idle", "read_timeout", "sweeper")

    def __init__(
        self, max_idle: int, idle_timeout: float, connect_timeout: float, read_timeout: float
    ) -> None:
        self.idle: dict[tuple[str, int], deque[_Upstream]] = {}
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.active: set[Proxy] = set()
        self.sweeper: asyncio.TimerHandle | None = None

    def take(self, key: tuple[str, int]) -> _Upstream | None:
        q = self.idle.get(key)
        while q:
            up = q.pop()  # the most recently used: the least likely to have been closed
            if not up.conn.closed:
                return up
        return None

    def open(self, key: tuple[str, int]) -> _Upstream:
        return _Upstream(self, key, self.connect_timeout)

    def give_back(self, up: _Upstream, now: float) -> None:
        up.exchange = None
        q = self.idle.setdefault(up.key, deque())
        if len(q) >= self.max_idle or up.conn.closed:
            up.conn.close()
            return
        up.idle_since = now
        q.append(up)
        self._sweep_later()

    def forget(self, up: _Upstream) -> None:
        q = self.idle.get(up.key)
        if q:
            try:
                q.remove(up)
            except ValueError:
                pass

    def watch(self, ex: Proxy) -> None:
        """``ex`` waits for a response: end it if no byte comes for ``read_timeout``."""
        self.active.add(ex)
        self._sweep_later()

    def _sweep_later(self) -> None:
        if self.sweeper is None:
            period = min(t for t in (1.0, self.read_timeout / 4, self.idle_timeout / 4) if t > 0)
            self.sweeper = running_loop().call_later(period, self._sweep)

    def _sweep(self) -> None:
        self.sweeper = None
        now = running_loop().time()
        if self.read_timeout > 0:
            for ex in [ex for ex in self.active if now - ex.last_read >= self.read_timeout]:
                ex.timed_out()
        if self.idle_timeout > 0:
            for q in self.idle.values():
                while q and now - q[0].idle_since >= self.idle_timeout:
                    q.popleft().conn.close()
        if self.active or any(self.idle.values()):
            self._sweep_later()


class _ProxyCfg:
    __slots__ = ("key", "pool", "read_timeout", "retries", "target")

    def __init__(self, target: Any, pool: _Pool, read_timeout: float, retries: int) -> None:
        self.target: Callback | None = None
        self.key: tuple[str, int] = ("", 0)
        if callable(target):
            self.target = adapt(target, 1, "proxy() target")
        else:
            self.key = parse_target(target)
        self.pool = pool
        self.read_timeout = read_timeout
        self.retries = retries


def parse_target(value: Any) -> tuple[str, int]:
    """``"http://host:port"``, ``"host:port"`` or ``(host, port)`` → (host, port)."""
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0]), int(value[1])
    if not isinstance(value, str):
        raise TypeError(f"proxy(): a target is 'http://host:port', not {type(value).__name__}")
    s = value
    if s.startswith("http://"):
        s = s[7:].rstrip("/")
    elif "://" in s:
        raise ValueError(f"proxy(): {value!r}: only http:// upstreams for now")
    if ":" not in s.rpartition("]")[2]:
        s += ":80"
    host, port = split_address(s, default_host="")
    if not host:
        raise ValueError(f"proxy(): {value!r} needs a host")
    return host, port


class Proxy(Filter):
    """See the module docstring."""

    __slots__ = (
        "_hold",
        "_watching",
        "chunked",
        "done",
        "head",
        "head_bytes",
        "last_read",
        "request_done",
        "responded",
        "sent_body",
        "tries",
        "tunnel",
        "up",
        "upgrade",
    )

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.up: _Upstream | None = None
        self.head: RequestHead | None = None
        self.head_bytes = b""
        self.chunked = False
        self.request_done = False
        self.responded = False  # a response head went out
        self.done = False
        self.sent_body = False
        self.tries = 0
        self.upgrade: bytes | None = None  # the Upgrade the client asked for, passed on
        self.tunnel = False  # the server switched protocols: bytes pass through both ways
        self.last_read = 0.0
        self._hold: Hold | None = None
        self._watching = False

    # -- the request, from demux_http ----------------------------------------------------------------
    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            if self.up is not None and evt.data:  # type: ignore[attr-defined]
                data = evt.data  # type: ignore[attr-defined]
                self.sent_body = True
                self.up.conn.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        elif t is MessageStart:
            self._start(evt.head)  # type: ignore[attr-defined]
        elif t is MessageEnd:
            self.request_done = True
            if self.chunked and self.up is not None:
                self.up.conn.write(b"0\r\n\r\n")
        elif t is StreamEnd and not self.done:
            if self.tunnel and self.up is not None and not evt.error:  # type: ignore[attr-defined]
                self.up.conn.write_eof()  # the client is done sending; the server may go on
                return
            # the client went away before the exchange finished: drop the upstream connection
            self._finish(None, reuse=False)

    def _start(self, head: RequestHead) -> None:
        cfg: _ProxyCfg = self.cfg
        ctx = self.pipeline.context
        key = parse_target(cfg.target.call(head, ctx)) if cfg.target is not None else cfg.key
        self.head = head
        # one pass over the fields: hop-by-hop ones and our own X-Forwarded-* are left out
        fields: list[tuple[bytes, bytes]] = []
        xff = host = upgrade = conn = None
        chunked = False
        for k, v in head.raw_headers:
            kl = k.lower()
            if kl in _REQUEST_DROP:
                if kl == b"x-forwarded-for":
                    xff = v if xff is None else xff + b", " + v
                elif kl == b"transfer-encoding":
                    chunked = b"chunked" in v.lower()
                elif kl == b"connection":
                    conn = v.lower() if conn is None else conn + b"," + v.lower()
                elif kl == b"upgrade":
                    upgrade = v
                continue
            if kl == b"host":
                host = v
            fields.append((k, v))
        if conn is not None:
            named = {t.strip() for t in conn.split(b",")} - _CONNECTION_OPTIONS
            if named:  # RFC 9110 7.6.1: the fields Connection names are hop-by-hop too
                fields = [(k, v) for k, v in fields if k.lower() not in named]
        self.chunked = chunked
        peer = ctx.inbound.remote_address.encode()
        fields.append((b"x-forwarded-for", xff + b", " + peer if xff else peer))
        fields.append((b"x-forwarded-proto", b"http"))
        if host is not None:
            fields.append((b"x-forwarded-host", host))
        fields.append(VIA)
        if upgrade is not None and conn is not None and b"upgrade" in conn:
            # hop-by-hop, yet the one pair that must reach the server for a protocol switch
            self.upgrade = upgrade
            fields += [(b"connection", b"upgrade"), (b"upgrade", upgrade)]
        self.head_bytes = encode_request_head(head, fields, chunked)
        self._hold = Hold(ctx.valve)
        self._send(key)

    def _send(self, key: tuple[str, int]) -> None:
        pool = self.cfg.pool
        up = pool.take(key)
        if up is None:
            up = pool.open(key)
        up.exchange = self
        up.used += 1
        self.up = up
        self.tries += 1
        assert self.head is not None
        up.dec.expect(self.head.method)
        up.conn.write(self.head_bytes)
        if not self._watching:
            self._watching = True
            self.pipeline.context.watch_output(self._on_output_paused)
        pool = self.cfg.pool
        if pool.read_timeout > 0:
            self.last_read = running_loop().time()
            pool.watch(self)

    # -- the response, from the upstream connection ----------------------------------------------
    def upstream_events(self) -> None:
        up = self.up
        if up is None or self.done:
            return
        self.last_read = running_loop().time()
        events = up.dec.events
        if not events:
            return
        up.dec.events = []
        out = self._out
        for e in events:
            t = type(e)
            if t is bytes:
                out(Data(e))  # type: ignore[arg-type]
            elif t is ResponseHead:
                if e.status == 101 and self.upgrade is not None:  # type: ignore[union-attr]
                    fields = forward_fields(e.raw_headers)  # type: ignore[union-attr]
                    value = next((v for k, v in e.raw_headers if k.lower() == b"upgrade"), self.upgrade)  # type: ignore[union-attr]
                    fields += [(b"upgrade", value), VIA]
                    self.responded = self.tunnel = True
                    self.cfg.pool.active.discard(self)  # a tunnel may be quiet as long as it likes
                    out(MessageStart(ResponseHead(101, e.reason, e.version, fields, False)))  # type: ignore[union-attr]
                    out(MessageEnd())
                    continue
                if e.status < 200:  # type: ignore[union-attr]
                    continue  # interim responses (100 Continue) stay between us and the server
                self.responded = True
                fields = forward_fields(e.raw_headers)  # type: ignore[union-attr]
                fields.append(VIA)
                out(MessageStart(ResponseHead(e.status, e.reason, e.version, fields, e.keep_alive)))  # type: ignore[union-attr]
            elif isinstance(e, EndOfMessage) and self.tunnel:
                self._finish(None, reuse=False)  # the server closed the tunnel
                out(StreamEnd())
                return
            elif isinstance(e, EndOfMessage):
                # give the connection back first: the MessageEnd may close this pipeline at once
                self._finish(None, reuse=up.dec.keep_alive and self.request_done)
                out(MessageEnd(e.trailers) if e is not END else MessageEnd())
                return

    def upstream_failed(self, error: str) -> None:
        log.warning("%r: upstream %s:%d: %s", self.pipeline.context, *self.up.key, error)  # type: ignore[union-attr]
        self._finish(error, reuse=False)

    def upstream_closed(self, error: str | None) -> None:
        if self.done:
            return
        up = self.up
        head = self.head
        if (
            up is not None
            and head is not None
            and up.used > 1
            and not self.responded
            and not self.sent_body
            and head.method in IDEMPOTENT
            and self.tries <= self.cfg.retries
            and up.dec.idle is False
        ):
            # a kept-alive connection the server had already closed: try once more, fresh
            self.up = None
            self._send(up.key)
            return
        if error is None and not self.responded:
            error = "ConnectionReset"
        if error is not None:
            log.warning(
                "%r: upstream %s:%d failed: %s", self.pipeline.context, *(up.key if up else ("?", 0)), error
            )
        self._finish(error or "UpstreamClosed", reuse=False)

    def upstream_write_paused(self, paused: bool) -> None:
        if self._hold is not None:
            self._hold.take() if paused else self._hold.release()

    def _on_output_paused(self, paused: bool) -> None:
        up = self.up
        if up is not None:
            up.conn.pause_reading() if paused else up.conn.resume_reading()

    def timed_out(self) -> None:
        """No byte of the response came within the read timeout (the pool's sweep tells)."""
        if not self.done:
            self._finish("ReadTimeout", reuse=False)

    def _finish(self, error: str | None, reuse: bool) -> None:
        if self.done:
            return
        self.done = True
        pool: _Pool = self.cfg.pool
        pool.active.discard(self)
        up, self.up = self.up, None
        if up is not None:
            if reuse and not up.conn.closed:
                pool.give_back(up, self.last_read)
            else:
                up.exchange = None
                up.conn.abort()
        self._release()
        if error is not None:
            self._out(StreamEnd(error))

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
        if self._watching:
            self._watching = False
            self.pipeline.context.unwatch_output(self._on_output_paused)

    def close(self) -> None:
        if not self.done:
            self.done = True
            self.cfg.pool.active.discard(self)
            up, self.up = self.up, None
            if up is not None:
                up.exchange = None
                up.conn.abort()
        self._release()


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


def proxy(
    self: Builder,
    target: Any,
    *,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    max_idle: int = DEFAULT_MAX_IDLE,
    idle_timeout: float = 60.0,
    retries: int = 1,
) -> Builder:
    """Forward each request to ``target`` (``"http://host:port"``, ``"host:port"``, or a function
    of the request head and the context returning one); see the module docstring.

    ``read_timeout`` is the longest wait for the next bytes of the response (504 if it passes
    before the response started); ``max_idle`` and ``idle_timeout`` bound the pool of kept-alive
    connections per target; ``retries`` is how often a request is resent when a kept-alive
    connection turns out to be closed.
    """
    for name, value in (
        ("connect_timeout", connect_timeout),
        ("read_timeout", read_timeout),
        ("idle_timeout", idle_timeout),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"proxy(): {name} must be a number of seconds >= 0, not {value!r}")
    pool = _Pool(max_idle, idle_timeout, connect_timeout, float(read_timeout))
    return self.add("proxy", Proxy, _ProxyCfg(target, pool, float(read_timeout), retries))


register(proxy=proxy, tunnel=tunnel)
