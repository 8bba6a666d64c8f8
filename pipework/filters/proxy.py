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
from time import monotonic
from typing import Any

from ..codec.http1 import (
    END,
    HOP_BY_HOP,
    RemoteProtocolError,
    RequestHead,
    ResponseDecoder,
    ResponseHead,
    drop_named,
    forward_fields,
    header_block,
    request_line,
)
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, adapt, register
from ..core.callback import Callback
from ..core.flow import Hold
from ..net import Outbound, split_address
from ..net.loop import running_loop

log = logging.getLogger("pipework")

IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
#: request fields not passed on: hop-by-hop (RFC 9110 7.6.1) and the X-Forwarded-* we write ourselves
_REQUEST_DROP = HOP_BY_HOP | {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
VIA = (b"via", b"1.1 pipework")
VIA_LINE = b"%s: %s\r\n" % VIA
#: idle connections kept per target; more are closed when returned
DEFAULT_MAX_IDLE = 1024


class _Upstream:
    """One connection to a target: the Outbound's handler, lent to one exchange at a time."""

    __slots__ = ("conn", "dec", "exchange", "idle_since", "key", "pool", "used")

    def __init__(self, pool: _Pool, key: tuple[str, int], connect_timeout: float) -> None:
        self.pool = pool
        self.key = key
        self.dec = ResponseDecoder(one_at_a_time=True)
        self.exchange: Exchange | None = None
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
        self.active: set[Exchange] = set()
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
        if self.sweeper is None:
            self.sweep_later()

    def forget(self, up: _Upstream) -> None:
        q = self.idle.get(up.key)
        if q:
            try:
                q.remove(up)
            except ValueError:
                pass

    def sweep_later(self) -> None:
        if self.sweeper is None:
            period = min(t for t in (1.0, self.read_timeout / 4, self.idle_timeout / 4) if t > 0)
            self.sweeper = running_loop().call_later(period, self._sweep)

    def _sweep(self) -> None:
        self.sweeper = None
        now = monotonic()
        if self.read_timeout > 0:
            for ex in [ex for ex in self.active if now - ex.last_read >= self.read_timeout]:
                ex.timed_out()
        if self.idle_timeout > 0:
            for q in self.idle.values():
                while q and now - q[0].idle_since >= self.idle_timeout:
                    q.popleft().conn.close()
        if self.active or any(self.idle.values()):
            self.sweep_later()


class _ProxyCfg:
    """Settings shared by every exchange of one ``proxy()`` or ``mux_http()``."""

    __slots__ = ("forwarded", "key", "keys", "pool", "read_timeout", "retries", "target")

    def __init__(self, target: Any, pool: _Pool, read_timeout: float, retries: int, forwarded: bool) -> None:
        self.target: Callback | None = None
        self.key: tuple[str, int] = ("", 0)
        self.keys: dict[Any, tuple[str, int]] = {}
        if callable(target):
            self.target = adapt(target, 1, "proxy() target")
        else:
            self.key = parse_target(target)
        self.pool = pool
        self.read_timeout = read_timeout
        self.retries = retries
        #: proxy(): X-Forwarded-* and Via are added; mux_http(): the request goes as it is
        self.forwarded = forwarded

    def target_key(self, value: Any) -> tuple[str, int]:
        """The (host, port) a target function's answer names; parsed once per distinct answer."""
        key = self.keys.get(value)
        if key is None:
            key = parse_target(value)
            if len(self.keys) >= 1024:
                self.keys.clear()
            self.keys[value] = key
        return key

    def exchange(self, head: RequestHead, ctx: Any, sink: Any, tag: Any) -> Exchange:
        """``demux_http``'s direct path: a new exchange for ``head`` (parsed by demux_http, so
        trusted), its head already sent."""
        ex = Exchange(self, ctx, sink, tag)
        ex.start(head, True)
        return ex


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


#: lengths of the request field names _REQUEST_DROP holds, or ``host``: only those are lowered
_REQUEST_LOOK = frozenset(len(n) for n in (*_REQUEST_DROP, b"host"))
#: the start of a request line for the common methods
_LINE_STARTS = {m: f"{m} ".encode() for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}
#: methods whose requests carry no body unless they say so with Content-Length
_NO_BODY_METHODS = frozenset(("GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"))


def request_head(
    head: RequestHead, peer: str | None, default_host: bytes, trusted: bool
) -> tuple[bytes, bool, bytes | None]:
    """The request head to send upstream: (bytes, whether the body goes chunked, the Upgrade to
    ask for). Hop-by-hop fields are left out; with ``peer`` (a proxy) X-Forwarded-For/-Proto/-Host
    and Via are added, the client's X-Forwarded-For extended. ``trusted`` fields came from our
    own parser, which refuses CR, LF and NUL, so they are not checked again."""
    method = head.method
    if not trusted:
        request_line(method, head.target)  # LocalProtocolError for a space, CR, LF or NUL
        header_block(head.raw_headers)  # and for CR, LF or NUL in a field
    # one flat list of pieces, joined once: four appends cost less than three concatenations
    out = [_LINE_STARTS.get(method) or f"{method} ".encode("latin-1"), head.raw_target, b" HTTP/1.1\r\n"]
    xff = host = upgrade = conn = None
    chunked = False
    length = False
    look = _REQUEST_LOOK
    for k, v in head.raw_headers:
        if len(k) in look:
            kl = k.lower()
            if kl in _REQUEST_DROP:
                if kl == b"x-forwarded-for":
                    if peer is not None:
                        xff = v if xff is None else xff + b", " + v
                        continue
                elif kl == b"transfer-encoding":
                    chunked = b"chunked" in v.lower()
                    continue
                elif kl == b"connection":
                    conn = v.lower() if conn is None else conn + b"," + v.lower()
                    continue
                elif kl == b"upgrade":
                    upgrade = v
                    continue
                elif kl == b"x-forwarded-proto" or kl == b"x-forwarded-host":
                    if peer is not None:
                        continue
                else:
                    continue
            elif kl == b"host":
                host = v
        elif len(k) == 14 and k.lower() == b"content-length":
            length = True
        out += (k, b": ", v, b"\r\n")
    if conn is not None and conn != b"keep-alive" and conn != b"close":  # it names fields to drop
        out = [*out[:3], *drop_named(conn, [b"".join(out[i : i + 4]) for i in range(3, len(out), 4)])]
    if peer is not None:
        p = peer.encode()
        out += (b"x-forwarded-for: ", xff + b", " + p if xff else p, b"\r\nx-forwarded-proto: http\r\n")
        if host is not None:
            out += (b"x-forwarded-host: ", host, b"\r\n")
        out.append(VIA_LINE)
    else:
        if host is None:
            out[3:3] = (b"host: ", default_host, b"\r\n")
        if not chunked and not length and method not in _NO_BODY_METHODS:
            chunked = True  # a body of unknown length streams chunked
    if upgrade is not None and conn is not None and b"upgrade" in conn:
        # hop-by-hop, yet the one pair that must reach the server for a protocol switch
        out += (b"connection: upgrade\r\nupgrade: ", upgrade, b"\r\n")
    else:
        upgrade = None
    if chunked:
        out.append(b"transfer-encoding: chunked\r\n")
    out.append(b"\r\n")
    return b"".join(out), chunked, upgrade


class Exchange:
    """One request sent to an upstream and its response coming back (see the module docstring).

    The response goes to ``sink``, with ``tag`` as the first argument of each call:
    ``on_response_head(tag, head)`` for the final head, ``on_response_data(tag, bytes)``,
    ``on_response_end(tag, trailers)``, ``on_response_failed(tag, error)`` (nothing more follows),
    ``on_response_flush(tag)`` after each batch read from the upstream, and, for a protocol
    switch, ``on_switched(tag, head)`` then data until ``on_tunnel_end(tag)``. Two sinks exist:
    the ``mux_http``/``proxy`` filter (events out) and ``demux_http``'s direct path (bytes out).
    """

    __slots__ = (
        "cfg",
        "chunked",
        "ctx",
        "done",
        "head",
        "head_bytes",
        "hold",
        "last_read",
        "paused",
        "request_done",
        "responded",
        "sent_body",
        "sink",
        "tag",
        "tries",
        "tunnel",
        "up",
        "upgrade",
    )

    def __init__(self, cfg: _ProxyCfg, ctx: Any, sink: Any, tag: Any = None) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.sink = sink
        self.tag = tag
        self.up: _Upstream | None = None
        self.head: RequestHead | None = None
        self.head_bytes = b""
        self.chunked = False
        self.request_done = False
        self.responded = False  # a response head went to the sink
        self.done = False
        self.sent_body = False
        self.tries = 0
        self.upgrade: bytes | None = None  # the Upgrade the client asked for, passed on
        self.tunnel = False  # the server switched protocols: bytes pass through both ways
        self.last_read = 0.0
        self.hold: Hold | None = None  # taken on the client's valve while the upstream is full
        self.paused = ctx.output_paused  # the client's output is full: the upstream is not read

    # -- the request ----------------------------------------------------------------------------------
    def start(self, head: RequestHead, trusted: bool = False) -> None:
        cfg = self.cfg
        key = cfg.key if cfg.target is None else cfg.target_key(cfg.target.call(head, self.ctx))
        self.head = head
        peer = self.ctx.inbound.remote_address if cfg.forwarded else None
        default_host = b"" if cfg.forwarded else _host_field(key)
        self.head_bytes, self.chunked, self.upgrade = request_head(head, peer, default_host, trusted)
        self._send(key)

    def data(self, data: bytes) -> None:
        up = self.up
        if up is not None and data:
            self.sent_body = True
            up.conn.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def end(self) -> None:
        self.request_done = True
        if self.chunked and self.up is not None:
            self.up.conn.write(b"0\r\n\r\n")

    def client_eof(self) -> None:
        """The client is done sending: a tunnel passes that on; otherwise the request is dropped."""
        if self.tunnel and self.up is not None:
            self.up.conn.write_eof()  # the server may go on sending
        else:
            self.abort()

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
        if self.paused:
            up.conn.pause_reading()
        if pool.read_timeout > 0:  # the pool's sweep ends it if no byte comes for read_timeout
            self.last_read = monotonic()
            pool.active.add(self)
            if pool.sweeper is None:
                pool.sweep_later()

    # -- the response, from the upstream connection ----------------------------------------------
    def upstream_events(self) -> None:
        up = self.up
        if up is None or self.done:
            return
        self.last_read = monotonic()
        events = up.dec.events
        if not events:
            return
        up.dec.events = []
        sink, tag = self.sink, self.tag
        for e in events:
            t = type(e)
            if t is bytes:
                sink.on_response_data(tag, e)
            elif t is ResponseHead:
                status = e.status  # type: ignore[union-attr]
                if status == 101 and self.upgrade is not None:
                    self.responded = self.tunnel = True
                    self.cfg.pool.active.discard(self)  # a tunnel may be quiet as long as it likes
                    sink.on_switched(tag, e)
                elif status >= 200:  # interim responses (100 Continue) stay between us and the server
                    self.responded = True
                    sink.on_response_head(tag, e)
            elif self.tunnel:  # the end of the tunnel's bytes: the server closed it
                self._finish(None, reuse=False)
                sink.on_tunnel_end(tag)
                return
            else:
                # give the connection back first: the end may close the client's side at once
                self._finish(None, reuse=up.dec.keep_alive and self.request_done)
                sink.on_response_end(tag, e.trailers if e is not END else None)  # type: ignore[union-attr]
                return
        sink.on_response_flush(tag)

    def upstream_failed(self, error: str) -> None:
        up = self.up
        log.warning("%r: upstream %s:%d: %s", self.ctx, *(up.key if up else ("?", 0)), error)
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
            log.warning("%r: upstream %s:%d failed: %s", self.ctx, *(up.key if up else ("?", 0)), error)
        self._finish(error or "UpstreamClosed", reuse=False)

    def upstream_write_paused(self, paused: bool) -> None:
        hold = self.hold
        if hold is None:
            if not paused:
                return
            hold = self.hold = Hold(self.ctx.valve)
        hold.take() if paused else hold.release()

    def output_paused(self, paused: bool) -> None:
        """The client's side stopped (or went on) taking the response."""
        self.paused = paused
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
                if self.paused:
                    up.conn.resume_reading()
                pool.give_back(up, self.last_read)
            else:
                up.exchange = None
                up.conn.abort()
        if self.hold is not None:
            self.hold.release()
        if error is not None:
            self.sink.on_response_failed(self.tag, error)

    def abort(self) -> None:
        """The client went away (or its side closed): the upstream connection is dropped."""
        self._finish(None, reuse=False)


def _host_field(key: tuple[str, int]) -> bytes:
    host, port = key
    if ":" in host:
        host = f"[{host}]"
    return (host if port == 80 else f"{host}:{port}").encode("idna")


class MuxHTTP(Filter):
    """``mux_http`` and ``proxy``: each request in this pipeline goes over a pooled connection;
    its response comes back as ``MessageStart Data* MessageEnd``, failures as ``StreamEnd(error)``."""

    __slots__ = ("ex", "watching")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.ex: Exchange | None = None
        self.watching = False

    def process(self, evt: Event) -> None:
        t = type(evt)
        ex = self.ex
        if t is Data:
            if ex is not None:
                ex.data(evt.data)  # type: ignore[attr-defined]
        elif t is MessageStart:
            ctx = self.pipeline.context
            if ex is not None and not ex.done:
                ex.abort()  # a new request before the last one was answered: the last is dropped
            ex = self.ex = Exchange(self.cfg, ctx, self)
            if not self.watching:
                self.watching = True
                ctx.watch_output(self._on_output_paused)
            head = evt.head  # type: ignore[attr-defined]
            if not isinstance(head, RequestHead):
                raise TypeError(f"{self.cfg_name()}: a request head must be a RequestHead, not {head!r}")
            ex.start(head)
        elif t is MessageEnd:
            if ex is not None:
                ex.end()
        elif t is StreamEnd and ex is not None and not ex.done:
            if evt.error:  # type: ignore[attr-defined]
                ex.abort()
            else:
                ex.client_eof()

    def cfg_name(self) -> str:
        return "proxy()" if self.cfg.forwarded else "mux_http()"

    def _on_output_paused(self, paused: bool) -> None:
        if self.ex is not None:
            self.ex.output_paused(paused)

    # -- the exchange's sink ---------------------------------------------------------------------
    def on_response_head(self, tag: Any, e: ResponseHead) -> None:
        fields = forward_fields(e.raw_headers)
        if self.cfg.forwarded:
            fields.append(VIA)
        self._out(MessageStart(ResponseHead(e.status, e.reason, e.version, fields, e.keep_alive)))

    def on_response_data(self, tag: Any, data: bytes) -> None:
        self._out(Data(data))

    def on_response_flush(self, tag: Any) -> None:
        pass

    def on_response_end(self, tag: Any, trailers: list[tuple[bytes, bytes]] | None) -> None:
        self._out(MessageEnd(trailers) if trailers else MessageEnd())

    def on_response_failed(self, tag: Any, error: str) -> None:
        self._out(StreamEnd(error))

    def on_switched(self, tag: Any, e: ResponseHead) -> None:
        ex = self.ex
        fields = forward_fields(e.raw_headers)
        value = next((v for k, v in e.raw_headers if k.lower() == b"upgrade"), ex.upgrade if ex else b"")
        fields += [(b"upgrade", value or b""), VIA]
        self._out(MessageStart(ResponseHead(101, e.reason, e.version, fields, False)))
        self._out(MessageEnd())

    def on_tunnel_end(self, tag: Any) -> None:
        self._out(StreamEnd())

    def close(self) -> None:
        if self.ex is not None:
            self.ex.abort()
        if self.watching:
            self.watching = False
            self.pipeline.context.unwatch_output(self._on_output_paused)


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


def _pool(
    name: str, connect_timeout: float, read_timeout: float, max_idle: int, idle_timeout: float
) -> _Pool:
    for what, value in (
        ("connect_timeout", connect_timeout),
        ("read_timeout", read_timeout),
        ("idle_timeout", idle_timeout),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name}(): {what} must be a number of seconds >= 0, not {value!r}")
    if isinstance(max_idle, bool) or not isinstance(max_idle, int) or max_idle < 0:
        raise ValueError(f"{name}(): max_idle must be a number of connections >= 0, not {max_idle!r}")
    return _Pool(max_idle, float(idle_timeout), float(connect_timeout), float(read_timeout))


def _client_method(name: str, forwarded: bool, doc: str) -> Any:
    def method(
        self: Builder,
        target: Any,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_idle: int = DEFAULT_MAX_IDLE,
        idle_timeout: float = 60.0,
        retries: int = 1,
    ) -> Builder:
        pool = _pool(name, connect_timeout, read_timeout, max_idle, idle_timeout)
        return self.add(name, MuxHTTP, _ProxyCfg(target, pool, float(read_timeout), retries, forwarded))

    method.__name__ = name
    method.__doc__ = doc
    return method


proxy = _client_method(
    "proxy",
    True,
    """Forward each request to ``target`` (``"http://host:port"``, ``"host:port"``, or a function
    of the request head and the context returning one); see the module docstring.

    ``read_timeout`` is the longest wait for the next bytes of the response (504 if it passes
    before the response started); ``max_idle`` and ``idle_timeout`` bound the pool of kept-alive
    connections per target; ``retries`` is how often a request is resent when a kept-alive
    connection turns out to be closed.""",
)
mux_http = _client_method(
    "mux_http",
    False,
    """Send each request of this pipeline (``MessageStart(RequestHead) Data* MessageEnd``) to
    ``target`` over a pool of kept-alive connections, and output its response: the client side
    of HTTP, as ``proxy`` is without the forwarding fields. A request without ``Host`` gets the
    target's; a body of unknown length goes chunked. Options as for ``proxy``.""",
)


register(proxy=proxy, mux_http=mux_http, tunnel=tunnel)
