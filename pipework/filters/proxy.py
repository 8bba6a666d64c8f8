"""``proxy``: forward each HTTP request to an upstream server over a pool of kept-alive connections.

Theory of operation: ``proxy(target)`` sits in the sub-pipeline ``demux_http`` makes for each
request. The target is an :class:`~pipework.filters.upstream.Upstream` (a string or list of
addresses makes one; a function of the request may name either). For each try of a request the
upstream picks a target, which lends an idle connection from its pool or opens one; the head is
written — hop-by-hop fields removed, ``X-Forwarded-For/-Proto/-Host`` and ``Via`` added — and the
body streams as it comes (re-chunked when the client sent it chunked). The response is parsed by
the sans-IO :class:`~pipework.codec.http1.ResponseDecoder` and streamed back as
``MessageStart Data* MessageEnd``; when it is complete and both sides allow it, the connection goes
back to the pool.

Failures before the response head reached the client are retried as the route's
:class:`~pipework.lb.retry.Retry` allows (a different target when there is one, after a jittered
back-off, within a budget); a kept-alive connection that the server had closed before our request
reached it is always tried once more on a fresh one (idempotent requests without a body, RFC
9110 9.2.2). What is left becomes ``StreamEnd(error)``, which ``demux_http`` answers with 502 (503
when no target may take the request, 504 for timeouts). Every try is reported to the upstream,
which feeds its balancer (latency) and outlier detection (failures).

Timeouts, per route: ``connect_timeout``; ``read_timeout`` between two reads of the response
(and for its first byte unless ``first_byte_timeout`` says otherwise); ``timeout`` for the whole
exchange. One timer per route sweeps the exchanges in flight (no timer per request).

Back-pressure runs both ways, as for ``connect``: a full upstream write buffer pauses reading the
client; a full client write buffer pauses reading the upstream.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any

from ..codec.http1 import (
    END,
    HOP_BY_HOP,
    RequestHead,
    ResponseHead,
    drop_named,
    forward_fields,
    header_block,
    request_line,
)
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, adapt, register
from ..core.callback import Callback
from ..core.checks import seconds
from ..core.flow import Hold
from ..lb.retry import IDEMPOTENT, Retry
from ..net import errors
from ..net.loop import running_loop
from .request_stats import ENABLED as STATS_ON
from .request_stats import Timing, upstream_timing
from .upstream import DEFAULT_MAX_IDLE, MAX_IMPLICIT, Conn, Endpoint, Upstream

log = logging.getLogger("pipework")

#: request fields not passed on: hop-by-hop (RFC 9110 7.6.1) and the X-Forwarded-* we write ourselves
_REQUEST_DROP = HOP_BY_HOP | {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
VIA = (b"via", b"1.1 pipework")
VIA_LINE = b"%s: %s\r\n" % VIA
#: request body kept for a retry; a longer body makes its request go once (it was streamed on)
RETRY_BUFFER = 64 * 1024

NO_HEALTHY_UPSTREAM = "NoHealthyUpstream"
UPSTREAM_OVERFLOW = "UpstreamOverflow"
RESPONSE_TIMEOUT = "ResponseTimeout"


class _ProxyCfg:
    """Settings shared by every exchange of one ``proxy()`` or ``mux_http()``: the route."""

    __slots__ = (
        "active",
        "connect_timeout",
        "first_byte_timeout",
        "forwarded",
        "implicit",
        "pool_options",
        "read_timeout",
        "retry",
        "sweeper",
        "target",
        "timed",
        "timeout",
        "timing",
        "upstream",
    )

    def __init__(
        self,
        target: Any,
        *,
        connect_timeout: float,
        read_timeout: float,
        first_byte_timeout: float | None,
        timeout: float,
        retry: Retry,
        forwarded: bool,
        pool_options: dict[str, Any],
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.first_byte_timeout = read_timeout if first_byte_timeout is None else first_byte_timeout
        self.timeout = timeout
        #: some timeout applies: exchanges in flight are watched
        self.timed = read_timeout > 0 or self.first_byte_timeout > 0 or timeout > 0
        self.retry = retry
        #: proxy(): X-Forwarded-* and Via are added; mux_http(): the request goes as it is
        self.forwarded = forwarded
        self.pool_options = pool_options
        self.target: Callback | None = None
        self.upstream: Upstream | None = None
        self.implicit: dict[Any, Upstream] = {}
        if isinstance(target, Upstream):
            self.upstream = target
        elif callable(target):
            self.target = adapt(target, 1, "proxy() target")
        else:
            self.upstream = Upstream(target, **pool_options)
        #: the upstream's response times, for the metrics (looked up per exchange for a function)
        self.timing: Timing | None = upstream_timing(self.upstream.name) if self.upstream else None
        self.active: set[Exchange] = set()
        self.sweeper: asyncio.TimerHandle | None = None

    def upstream_of(self, value: Any) -> Upstream:
        """The upstream a target function's answer names; one per distinct address answered."""
        if isinstance(value, Upstream):
            return value
        ups = self.implicit.get(value)
        if ups is None:
            if len(self.implicit) >= MAX_IMPLICIT:
                self.implicit.clear()
            ups = self.implicit[value] = Upstream(value, **self.pool_options)
        return ups

    def direct(self, head: RequestHead, ctx: Any) -> _ProxyCfg:
        """``demux_http``'s direct path: every request goes to this proxy."""
        return self

    def exchange(self, head: RequestHead, ctx: Any, sink: Any, tag: Any) -> Exchange:
        """``demux_http``'s direct path: a new exchange for ``head`` (parsed by demux_http, so
        trusted), its head already sent."""
        ex = Exchange(self, ctx, sink, tag)
        ex.start(head, True)
        return ex

    # -- timeouts: one sweep for all exchanges in flight ------------------------------------------
    def watch(self, ex: Exchange) -> None:
        self.active.add(ex)
        if self.sweeper is None:
            self._sweep_later()

    def _sweep_later(self) -> None:
        period = min(
            t for t in (1.0, self.read_timeout / 4, self.first_byte_timeout / 4, self.timeout / 4) if t > 0
        )
        self.sweeper = running_loop().call_later(period, self._sweep)

    def _sweep(self) -> None:
        self.sweeper = None
        now = monotonic()
        read, first, total = self.read_timeout, self.first_byte_timeout, self.timeout
        late = []
        for ex in self.active:
            if total > 0 and now - ex.started >= total:
                late.append((ex, RESPONSE_TIMEOUT))
            elif ex.responded:
                if read > 0 and now - ex.last_read >= read:
                    late.append((ex, errors.READ_TIMEOUT))
            elif first > 0 and now - ex.last_read >= first:
                late.append((ex, errors.READ_TIMEOUT))
        for ex, error in late:
            ex.timed_out(error)
        if self.active:
            self._sweep_later()


#: lengths of the request field names _REQUEST_DROP holds, or ``host``: only those are lowered
_REQUEST_LOOK = frozenset(len(n) for n in (*_REQUEST_DROP, b"host"))
#: the end of X-Forwarded-For and X-Forwarded-Proto, by whether the client came over TLS
_PROTO_LINES = {False: b"\r\nx-forwarded-proto: http\r\n", True: b"\r\nx-forwarded-proto: https\r\n"}
#: the start of a request line for the common methods
_LINE_STARTS = {m: f"{m} ".encode() for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}
#: methods whose requests carry no body unless they say so with Content-Length
_NO_BODY_METHODS = frozenset(("GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"))


def request_head(
    head: RequestHead, peer: str | None, default_host: bytes, trusted: bool, tls: bool = False
) -> tuple[bytes, bool, bytes | None]:
    """The request head to send upstream: (bytes, whether the body goes chunked, the Upgrade to
    ask for). Hop-by-hop fields are left out; with ``peer`` (a proxy) X-Forwarded-For/-Proto/-Host
    and Via are added, the client's X-Forwarded-For extended. ``trusted`` fields came from our
    own parser, which refuses CR, LF and NUL, so they are not checked again. ``tls``: the client
    came over TLS (``X-Forwarded-Proto: https``)."""
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
        out += (b"x-forwarded-for: ", xff + b", " + p if xff else p, _PROTO_LINES[tls])
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
    """One request sent to an upstream (perhaps several tries) and its response coming back.

    The response goes to ``sink``, with ``tag`` as the first argument of each call:
    ``on_response_head(tag, head)`` for the final head, ``on_response_data(tag, bytes)``,
    ``on_response_end(tag, trailers)``, ``on_response_failed(tag, error)`` (nothing more follows),
    ``on_response_flush(tag)`` after each batch read from the upstream, and, for a protocol
    switch, ``on_switched(tag, head)`` then data until ``on_tunnel_end(tag)``. Two sinks exist:
    the ``mux_http``/``proxy`` filter (events out) and ``demux_http``'s direct path (bytes out).
    """

    __slots__ = (
        "body",
        "body_size",
        "cfg",
        "chunked",
        "connect_time",
        "ctx",
        "done",
        "ep",
        "failure",
        "head",
        "head_at",
        "head_bytes",
        "hold",
        "last_read",
        "paused",
        "request_done",
        "responded",
        "retry_timer",
        "sent_at",
        "sent_body",
        "sink",
        "stale_retried",
        "started",
        "tag",
        "tried",
        "tries",
        "tunnel",
        "up",
        "upgrade",
        "ups",
        "waiting",
    )

    def __init__(self, cfg: _ProxyCfg, ctx: Any, sink: Any, tag: Any = None) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.sink = sink
        self.tag = tag
        self.ups: Upstream | None = None
        self.ep: Endpoint | None = None  # the target of the current try
        self.up: Conn | None = None  # its connection, once one is lent
        self.tried: list[Endpoint] | None = None  # targets of earlier tries
        self.head: RequestHead | None = None
        self.head_bytes = b""
        self.chunked = False
        self.request_done = False
        self.responded = False  # a response head went to the sink
        self.done = False
        self.sent_body = False
        self.body: list[bytes] | None = []  # the body so far, kept for a retry (see data)
        self.body_size = 0
        self.tries = 0
        self.failure: str | None = None  # the error of the last try, when it failed
        self.stale_retried = False
        self.retry_timer: asyncio.TimerHandle | None = None
        self.waiting = False  # queued on its target for a connection
        self.upgrade: bytes | None = None  # the Upgrade the client asked for, passed on
        self.tunnel = False  # the server switched protocols: bytes pass through both ways
        self.started = self.last_read = self.sent_at = 0.0
        #: for the access log (nginx's $upstream_connect_time and $upstream_header_time): seconds
        #: from the last try's start (``sent_at``) to its new connection being up (0 for a pooled
        #: one, -1 until a new one is up), and when the response head came (0 until then); its
        #: end is ``last_read``
        self.connect_time = self.head_at = 0.0
        self.hold: Hold | None = None  # taken on the client's valve while the upstream is full
        self.paused = ctx.output_paused  # the client's output is full: the upstream is not read

    # -- the request ----------------------------------------------------------------------------------
    def start(self, head: RequestHead, trusted: bool = False) -> None:
        cfg = self.cfg
        ups = cfg.upstream
        if ups is None:
            ups = cfg.upstream_of(cfg.target.call(head, self.ctx))  # type: ignore[union-attr]
        self.ups = ups
        self.head = head
        if cfg.forwarded:
            ctx = self.ctx
            self.head_bytes, self.chunked, self.upgrade = request_head(
                head, ctx.inbound.remote_address, b"", trusted, ctx.tls is not None
            )
        elif not trusted:
            request_head(head, None, b"", False)  # checks the head before anything goes (see attach)
        if ups.max_requests and ups.in_flight >= ups.max_requests:
            ups.overflows += 1
            self._fail(UPSTREAM_OVERFLOW, f"{ups.in_flight} requests in flight (max_requests)")
            return
        self.started = monotonic()  # from here on, counted in the upstream's requests in flight
        ups.in_flight += 1
        cfg.retry.requests += 1  # for the retry budget
        self._try()

    def data(self, data: bytes) -> None:
        if not data or self.done:
            return
        body = self.body
        up = self.up
        if body is not None:
            # kept while no connection is lent, and for a retry up to RETRY_BUFFER
            if up is None or (self.body_size + len(data) <= RETRY_BUFFER and self.cfg.retry.attempts):
                body.append(data)
                self.body_size += len(data)
            else:
                self.body = None
        if up is not None:
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

    def _try(self) -> None:
        """Pick a target for the next try and get a connection to it (or wait for one)."""
        self.retry_timer = None
        ups = self.ups
        assert ups is not None
        assert self.head is not None
        tried = self.tried
        ep = ups.only if tried is None else None
        if ep is None:
            ep = ups.pick(self.head, self.ctx, tried)
        if ep is None and tried:
            ep = ups.pick(self.head, self.ctx)  # every target was tried: one of them again
        if ep is None:
            if self.failure is not None:  # the tries so far took every target out: say why
                self._fail(self.failure, f"no target left to try in upstream {ups.name}")
            else:
                self._fail(NO_HEALTHY_UPSTREAM, f"no healthy target in upstream {ups.name}")
            return
        if ups.max_connections and ep.full():
            # at max_connections: wait for one, or go to a target with room
            if len(ep.pending) >= ups.max_pending:
                others = [ep] if tried is None else [*tried, ep]
                alt = ups.pick(self.head, self.ctx, others)
                if alt is None or alt.full():
                    ups.overflows += 1
                    self._fail(
                        UPSTREAM_OVERFLOW,
                        f"{ep.name} has {ep.conns} connections and {len(ep.pending)} waiting",
                    )
                    return
                ep = alt
            else:
                self.ep = ep
                ep.active += 1
                self.waiting = True
                ep.pending.append(self)
                self.last_read = monotonic()
                if self.cfg.timed:
                    self.cfg.watch(self)
                return
        self.ep = ep
        ep.active += 1
        up = ep.take()
        if up is None:
            up = Conn(ep, self.cfg.connect_timeout)
            self.connect_time = -1.0  # not connected yet: see connected()
        self.attach(up)

    def attach(self, up: Conn) -> None:
        """Send this try over ``up`` (the target's connection lent to us)."""
        self.waiting = False
        up.exchange = self
        up.used += 1
        up.received = 0
        self.up = up
        self.tries += 1
        head = self.head
        assert head is not None
        if not self.cfg.forwarded:
            self.head_bytes, self.chunked, self.upgrade = request_head(
                head, None, up.endpoint.host_field, True
            )
        up.dec.expect(head.method)
        conn = up.conn
        body = self.body
        if body:  # a retry, or a try that waited for its connection: the body so far goes too
            if self.chunked:
                conn.writelines([self.head_bytes, *(b"%x\r\n%s\r\n" % (len(d), d) for d in body)])
            else:
                conn.writelines([self.head_bytes, *body])
            self.sent_body = True
        else:
            conn.write(self.head_bytes)
        if self.request_done and self.chunked:
            conn.write(b"0\r\n\r\n")
        if not self.cfg.retry.attempts:
            self.body = None
        if self.paused:
            conn.pause_reading()
        self.last_read = self.sent_at = monotonic()
        if self.cfg.timed:
            self.cfg.watch(self)

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
                    self.cfg.active.discard(self)  # a tunnel may be quiet as long as it likes
                    self._report(status, None)
                    sink.on_switched(tag, e)
                elif status >= 200:  # interim responses (100 Continue) stay between us and the server
                    ups = self.ups
                    assert ups is not None
                    if ups.observes:
                        self._report(status, None)
                    if status in self.cfg.retry.statuses and self._retry(status):
                        return
                    self.responded = True
                    self.head_at = self.last_read
                    ep = self.ep
                    if ups.affinity_cookie is not None and ep is not None:
                        line = ups.affinity_field(self.head, ep)
                        if line is not None:
                            _add_field(e, line)  # type: ignore[arg-type]
                    sink.on_response_head(tag, e)
            elif self.tunnel:  # the end of the tunnel's bytes: the server closed it
                self._finish(None, reuse=False)
                sink.on_tunnel_end(tag)
                return
            else:
                if STATS_ON[0]:
                    ups = self.ups
                    assert ups is not None
                    (self.cfg.timing or upstream_timing(ups.name)).observe(
                        self.head_at - self.sent_at, self.last_read - self.sent_at
                    )
                # give the connection back first: the end may close the client's side at once
                self._finish(None, reuse=up.dec.keep_alive and self.request_done)
                sink.on_response_end(tag, e.trailers if e is not END else None)  # type: ignore[union-attr]
                return
        sink.on_response_flush(tag)

    def connected(self) -> None:
        """The new connection of this try is up (and through its TLS handshake)."""
        self.connect_time = monotonic() - self.sent_at

    def _report(self, status: int | None, error: str | None) -> None:
        ups, ep = self.ups, self.ep
        if ups is not None and ep is not None:
            ups.report(ep, status, error, monotonic() - self.sent_at)

    def upstream_failed(self, error: str, detail: str = "") -> None:
        up = self.up
        log.warning(
            "%r: upstream %s: %s",
            self.ctx,
            up.endpoint.name if up else "?",
            f"{error}: {detail}" if detail else error,
        )
        self._report(None, error)
        if not self._retry(error):
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
            and not self.stale_retried
            and not self.responded
            and not self.sent_body
            and head.method in IDEMPOTENT
            and up.dec.idle is False
        ):
            # a kept-alive connection the server had already closed: once more, on a fresh one
            self.stale_retried = True
            self.up = None
            ep = up.endpoint
            up = ep.take()
            if up is None:
                up = Conn(ep, self.cfg.connect_timeout)
                self.connect_time = -1.0
            self.attach(up)
            return
        if error is None and not self.responded:
            error = errors.CONNECTION_RESET
        if error is not None:
            log.warning("%r: upstream %s failed: %s", self.ctx, up.endpoint.name if up else "?", error)
            if not self.responded:
                self._report(None, error)
                if self._retry(error):
                    return
        self._finish(error or "UpstreamClosed", reuse=False)

    def _retry(self, failure: str | int) -> bool:
        """Try again after ``failure`` if the route's policy allows: True when a retry is on."""
        if self.responded or self.done or self.tunnel:
            return False
        if self.sent_body and self.body is None:
            return False  # part of a long body went and is not kept
        ups, head = self.ups, self.head
        assert ups is not None
        assert head is not None
        self.failure = failure if isinstance(failure, str) else None
        policy = self.cfg.retry
        tries = self.tries - self.stale_retried  # a fresh connection for a stale one is not a retry
        if not policy.allows(failure, head.method, tries, monotonic()):
            return False
        self.connect_time = self.head_at = 0.0  # the next try's
        self._release(reuse=False)
        ep = self.ep
        if ep is not None:
            self.tried = [ep] if self.tried is None else [*self.tried, ep]
            ep.active -= 1
            self.ep = None
        ups.retries += 1
        delay = policy.delay(tries)
        log.info(
            "%r: retrying %s %s after %s (try %d)",
            self.ctx,
            head.method,
            head.target,
            failure,
            self.tries + 1,
        )
        if delay > 0:
            self.retry_timer = running_loop().call_later(delay, self._try)
        else:
            self._try()
        return True

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

    def timed_out(self, error: str) -> None:
        """A timeout of the route passed (its sweep tells)."""
        if self.done:
            return
        if error == errors.READ_TIMEOUT and not self.responded:
            self._report(None, error)
            if self._retry(error):
                return
        self._finish(error, reuse=False)

    def _fail(self, error: str, why: str) -> None:
        head = self.head
        log.warning(
            "%r: %s %s: %s: %s",
            self.ctx,
            head.method if head else "?",
            head.target if head else "",
            error,
            why,
        )
        self._finish(error, reuse=False)

    def _release(self, reuse: bool) -> None:
        """The connection of this try goes back to its target's pool, or is dropped."""
        up, self.up = self.up, None
        if up is not None:
            if reuse and not up.conn.closed:
                if self.paused:
                    up.conn.resume_reading()
                up.endpoint.give_back(up, self.last_read)
            else:
                up.exchange = None
                up.conn.abort()
        if self.waiting and self.ep is not None:
            self.waiting = False
            try:
                self.ep.pending.remove(self)
            except ValueError:
                pass

    def _finish(self, error: str | None, reuse: bool) -> None:
        if self.done:
            return
        self.done = True
        self.cfg.active.discard(self)
        if self.retry_timer is not None:
            self.retry_timer.cancel()
            self.retry_timer = None
        ups = self.ups
        if ups is not None and self.started:
            ups.in_flight -= 1
        ep = self.ep
        self._release(reuse)
        if ep is not None:
            ep.active -= 1
        if self.hold is not None:
            self.hold.release()
        if error is not None:
            self.sink.on_response_failed(self.tag, error)

    def abort(self) -> None:
        """The client went away (or its side closed): the upstream connection is dropped."""
        self._finish(None, reuse=False)


def _add_field(head: ResponseHead, line: bytes) -> None:
    """Add a ``name: value`` line to a response head on its way to the client."""
    if head.forward is not None:
        head.forward.append(line)
    else:
        name, _, value = line.partition(b": ")
        head.raw_headers.append((name, value))


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
            ctx.vars._pw_exchange = ex  # for demux_http's access log and metrics (see _Slot.up)
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


def _settings(name: str, **values: Any) -> None:
    for what, value in values.items():
        if value is None and what == "first_byte_timeout":
            continue
        seconds(value, f"{name}(): {what}")


def _retry_policy(name: str, retry: Any) -> Retry:
    if retry is None:
        return Retry()
    if retry is False:
        return Retry(0)
    if retry is True:
        return Retry()
    if isinstance(retry, Retry):
        return retry
    if isinstance(retry, int) and not isinstance(retry, bool):
        return Retry(retry)
    raise TypeError(f"{name}(): retry is a pw.Retry(...) or a number of retries, not {retry!r}")


def _client_method(name: str, forwarded: bool, doc: str) -> Any:
    def method(
        self: Builder,
        target: Any,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        first_byte_timeout: float | None = None,
        timeout: float = 0.0,
        retry: Retry | int | bool | None = None,
        max_idle: int = DEFAULT_MAX_IDLE,
        idle_timeout: float = 60.0,
    ) -> Builder:
        _settings(
            name,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            first_byte_timeout=first_byte_timeout,
            timeout=timeout,
        )
        cfg = _ProxyCfg(
            target,
            connect_timeout=float(connect_timeout),
            read_timeout=float(read_timeout),
            first_byte_timeout=None if first_byte_timeout is None else float(first_byte_timeout),
            timeout=float(timeout),
            retry=_retry_policy(name, retry),
            forwarded=forwarded,
            pool_options={"max_idle": max_idle, "idle_timeout": idle_timeout},
        )
        return self.add(name, MuxHTTP, cfg)

    method.__name__ = name
    method.__doc__ = doc
    return method


proxy = _client_method(
    "proxy",
    True,
    """Forward each request to ``target``: a :class:`pipework.Upstream`, an address
    (``"http://host:port"``, ``"host:port"``), a list of addresses (balanced round-robin), or a
    function of the request head (and the context) returning one of those; see the module
    docstring.

    ``connect_timeout``; ``read_timeout``, the longest wait for the next bytes of the response;
    ``first_byte_timeout`` for its first byte (``read_timeout`` by default); ``timeout`` for the
    whole exchange (0: none) — 504 when one passes before the response started. ``retry``: a
    :class:`pipework.Retry`, a number of retries, True for the default or False for none
    (default: ``Retry()``, two retries on connect failures, resets and timeouts; each route its
    own budget unless routes share a ``Retry``). ``max_idle`` and ``idle_timeout`` bound the pool of
    kept-alive connections per target of an upstream made from addresses (an ``Upstream`` has
    its own).""",
)
mux_http = _client_method(
    "mux_http",
    False,
    """Send each request of this pipeline (``MessageStart(RequestHead) Data* MessageEnd``) to
    ``target`` over a pool of kept-alive connections, and output its response: the client side
    of HTTP, as ``proxy`` is without the forwarding fields. A request without ``Host`` gets the
    target's; a body of unknown length goes chunked. Options as for ``proxy``.""",
)


register(proxy=proxy, mux_http=mux_http)
