"""HTTP/1.1 server filters: ``demux_http`` and ``serve_http``.

Theory of operation: ``demux_http`` sits on a connection's byte stream. It parses requests with
the sans-IO codec (:mod:`pipework.codec.http1`), gives each request its own sub-pipeline as
``MessageStart(RequestHead) Data* MessageEnd(trailers)``, and writes what each sub-pipeline
answers — ``MessageStart(ResponseHead) Data* MessageEnd`` — back as HTTP/1.1 bytes, in the order
the requests came (pipelining), whatever order the answers are ready in.

A response whose body ends within ``STREAM_AFTER`` bytes is written in one piece with its
``Content-Length``; a longer one is written as it comes, chunked, so bodies of any size stream
with bounded memory. ``Date`` is added to every response; ``Connection: close`` when the
connection is to close (the client asked, HTTP/1.0 without keep-alive, or an error).

The fast path: when the sub-pipeline is a single responder (``serve_http`` with a plain
function, ``serve_files``), no pipeline is made for a request: the responder's settings answer
it directly with the whole encoded response. This is what makes a static file cost little more
than parsing the request.

A request the codec refuses (a smuggling attempt, a limit passed) gets its status (400, 413,
414, 431) with ``Connection: close``, and the connection closes once it is written.
"""

from __future__ import annotations

import logging
import os
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ..codec.http1 import (
    END,
    LAST_CHUNK,
    DateCache,
    EndOfMessage,
    Headers,
    RemoteProtocolError,
    Request,
    RequestDecoder,
    RequestHead,
    Response,
    ResponseHead,
    as_response,
    encode_response,
    forward_fields,
    header_block,
    status_line,
)
from ..codec.http1.message import NO_BODY_STATUS
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, adapt, register
from ..core.builder import LayoutLike, as_layout
from ..core.callback import Callback
from ..core.filter import Template
from ..core.flow import Hold
from ..core.pipeline import Layout, Pipeline
from ..core.session import InboundSession
from ..net import errors, spawn
from ..net.loop import running_loop
from . import access_log as accesslog
from . import request_stats
from .access_log import COUNTS
from .proxy import NO_HEALTHY_UPSTREAM, RESPONSE_TIMEOUT, UPSTREAM_OVERFLOW, VIA_LINE
from .request_stats import BOUNDS, FIRST_BOUND, RECEIVED, SECONDS, SENT, WIDTH, Series, series

#: a response body up to this size is gathered and sent with a Content-Length; past it, chunked
STREAM_AFTER = 64 * 1024
#: unanswered pipelined requests before the connection stops being read
MAX_PENDING = 64

DATES = DateCache()
log = logging.getLogger("pipework")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_OWN_FIELDS = frozenset((b"content-length", b"date", b"connection", b"transfer-encoding"))


def _declared_length(head: ResponseHead | None) -> int | None:
    """The Content-Length a response head still carries (a step that changed the body dropped
    it), or None; None too beside a Transfer-Encoding, which overrides it (RFC 9112 6.3)."""
    length = None
    for k, v in head.raw_headers if head is not None else ():
        n = len(k)
        if n == 14 and k.lower() == b"content-length":
            v = v.strip()
            if not v.isdigit() or (length is not None and int(v) != length):
                return None
            length = int(v)
        elif n == 17 and k.lower() == b"transfer-encoding":
            return None
    return length


class _Slot:
    """One request's place in the response order."""

    __slots__ = (
        "body",
        "chunked",
        "done",
        "exchange",
        "head",
        "head_len",
        "head_only",
        "keep_alive",
        "length",
        "out",
        "pipeline",
        "plain",
        "raw",
        "received",
        "req",
        "route",
        "sent",
        "size",
        "stream",
        "t0",
        "tunnel",
        "up",
    )

    def __init__(self, head_only: bool, keep_alive: bool) -> None:
        self.head_only = head_only
        self.keep_alive = keep_alive
        self.out: list[bytes] = []  # encoded bytes waiting for the slots before this one
        self.done = False
        self.pipeline: Pipeline | None = None
        self.head: ResponseHead | None = None
        self.body: list[bytes] = []
        self.size = 0
        self.chunked = False  # the body streams (chunked, or plain for HTTP/1.0 or a known length)
        self.plain = False  # streamed as it is: its Content-Length, or the close, ends it
        self.length = -1  # the Content-Length a plain stream was sent with
        self.raw = False
        self.req: RequestHead | None = None
        self.sent = 0  # body bytes written, for the access log and the metrics
        self.head_len = 0  # the response head's bytes, for the metrics
        self.received = 0  # request body bytes read
        self.t0 = 0.0
        #: the route's name (``ctx.vars.route``) and the proxy's exchange of a sub-pipeline
        #: (``ctx.vars._pw_exchange``), taken once the request went in (see ``_upstream``)
        self.route: str | None = None
        self.up: Any = None
        #: 0 no tunnel; 1 the request asked for one (Upgrade, CONNECT); 2 the answer accepts it;
        #: 3 the answer's head is out and bytes pass through both ways
        self.tunnel = 0
        self.stream: FileStream | None = None
        #: the direct path to an upstream (a lone ``proxy``): its exchange (proxy.Exchange)
        self.exchange: Any = None


#: a connection under demux_http quiet both ways this long is closed, unless its listen() sets
#: ``idle_timeout`` (nginx's keepalive_timeout is 75 s too)
DEFAULT_IDLE_TIMEOUT = 75.0
#: a request head that is not whole this long after it began gets 408 (nginx's
#: client_header_timeout): a client trickling bytes cannot hold a connection forever
DEFAULT_HEADER_TIMEOUT = 60.0


class _DemuxCfg:
    __slots__ = ("access_log", "forwarder", "header_timeout", "layout", "limits", "responder")

    #: the listener's idle timeout when the listen() gives none (see runtime.idle_timeout)
    default_idle_timeout = DEFAULT_IDLE_TIMEOUT

    def __init__(
        self,
        layout: Layout | None,
        limits: dict[str, int],
        access_log: str | None = None,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        self.layout = layout
        self.limits = limits
        self.access_log = access_log
        self.header_timeout = header_timeout
        self.responder: Any = None
        self.forwarder: Any = None
        if layout is not None:
            self._check_fast(layout)

    def attach(self, layout: Layout) -> None:
        self.layout = layout
        self._check_fast(layout)

    def _check_fast(self, layout: Layout) -> None:
        ts = layout.templates
        self.responder = self.forwarder = None
        if len(ts) == 1 and getattr(ts[0].cfg, "respond", None) is not None:
            self.responder = ts[0].cfg
        elif ts and getattr(ts[-1].cfg, "direct", None) is not None:
            checks = direct_checks(ts[:-1])
            if checks is not None:
                self.forwarder = GatedForwarder(checks, ts[-1].cfg, Layout(layout.name, list(ts[-1:])))


#: a check's answer to a request it refuses: status, extra fields, body (text or bytes)
Answer = tuple[int, list[tuple[bytes, bytes]], "str | bytes"]
#: a decision from the request head alone: None to let the request through, or the answer
Check = Callable[[RequestHead, Any], "Answer | None"]


def send_answer(out: Callable[[Event], None], answer: Answer) -> None:
    """Send ``answer`` as a whole response to ``out`` (a filter refusing a request sends it to
    its pipeline's output, past the steps after it); ``text/plain`` unless its fields say."""
    status, fields, body = answer
    if not any(k.lower() == b"content-type" for k, _ in fields):
        fields = [(b"content-type", b"text/plain"), *fields]
    out(MessageStart(ResponseHead(status, "", "1.1", fields)))
    out(Data(body.encode() if isinstance(body, str) else body))
    out(MessageEnd())


def direct_checks(templates: Sequence[Template]) -> tuple[Check, ...] | None:
    """The checks of these steps, when each has one that decides from the request head alone
    (its filter class's ``direct_check(cfg)`` gives it: a gate, a local rate limit), so that
    ``demux_http``'s direct path may run them in place of the steps; None if one has not."""
    checks = []
    for t in templates:
        get = getattr(t.cls, "direct_check", None)
        check = get(t.cfg) if get is not None else None
        if check is None:
            return None
        checks.append(check)
    return tuple(checks)


class Refusal:
    """A check's answer (status, fields, text) on the direct path, sent in place of a response."""

    __slots__ = ("answer",)

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def encode(self, head: RequestHead, keep_alive: bool) -> bytes:
        status, fields, body = self.answer
        ctype = next((v.decode("latin-1") for k, v in fields if k == b"content-type"), "text/plain")
        extra = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in fields if k.lower() != b"content-type"
        ]
        answer = Response(body, status, headers=extra, content_type=ctype)
        return encode_response(answer, CLOCK.date, keep_alive, head.method == "HEAD")


class GatedForwarder:
    """Checks in front of a forwarder (a ``proxy`` or a ``route``) on ``demux_http``'s direct
    path: they run on the request head, in order, and the first answer is sent at once; if all
    pass, the forwarder takes the request. When the forwarder leaves a request to a
    sub-pipeline, that request goes through ``rest`` (the forwarder alone): the checks ran."""

    __slots__ = ("checks", "inner", "rest")

    def __init__(self, checks: tuple[Check, ...], inner: Any, rest: Layout) -> None:
        self.checks = checks
        self.inner = inner
        self.rest = rest

    def direct(self, head: RequestHead, ctx: Any) -> Any:
        for check in self.checks:
            answer = check(head, ctx)
            if answer is not None:
                return Refusal(answer)
        return self.inner.direct(head, ctx)


def internal_error(exc: BaseException, head: RequestHead, keep_alive: bool) -> bytes:
    """Log a handler's failure and make the 500 answer to send instead."""
    log.error(
        "%s %s: handler failed: %s: %s", head.method, head.target, type(exc).__name__, exc, exc_info=exc
    )
    return encode_response(
        Response(b"Internal Server Error\n", 500, content_type="text/plain"),
        CLOCK.date,
        keep_alive,
        head.method == "HEAD",
    )


#: the status answering a request whose upstream failed with this error (502 for the others)
_GATEWAY_STATUS = {
    errors.CONNECTION_TIMEOUT: 504,
    errors.READ_TIMEOUT: 504,
    errors.IDLE_TIMEOUT: 504,
    RESPONSE_TIMEOUT: 504,
    NO_HEALTHY_UPSTREAM: 503,
    UPSTREAM_OVERFLOW: 503,
}


def gateway_status(error: str) -> int:
    """The status answering a request whose upstream failed with ``error`` before answering:
    504 for a timeout, 503 when no target could take it, else 502."""
    return _GATEWAY_STATUS.get(error, 502)


def gateway_error(error: str, keep_alive: bool = False) -> bytes:
    """The answer to a request whose upstream failed before answering (see gateway_status)."""
    status = gateway_status(error)
    return encode_response(Response(f"{status} from the gateway: {error}\n", status), CLOCK.date, keep_alive)


class RawResponse:
    """A whole response already encoded, as the head of a ``MessageStart`` (responders use it)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"RawResponse({self.data[:40]!r}...)"


class FileStream:
    """A response whose body is read from a file as the client takes it (flat memory for large
    files): ``head`` is the encoded head; ``length`` bytes from ``offset`` of ``path`` follow."""

    __slots__ = ("fd", "head", "length", "offset", "path")

    def __init__(self, head: bytes, path: str, offset: int, length: int) -> None:
        self.head = head
        self.path = path
        self.offset = offset
        self.length = length
        self.fd = -1

    def __repr__(self) -> str:
        return f"FileStream({self.path!r}, {self.offset}+{self.length})"


#: how much of a streamed file is read per write
FILE_CHUNK = 256 * 1024


class _Clock:
    """The Date line and a monotonic time, refreshed once a second by a timer, not per request."""

    __slots__ = ("date", "handle", "loop", "mono")

    def __init__(self) -> None:
        self.date = b""
        self.mono = 0.0
        self.handle: Any = None
        self.loop: Any = None

    def ensure(self) -> None:
        try:
            loop = running_loop()
        except RuntimeError:  # no loop (a unit test): read the clocks now
            self.tick_once()
            return
        if self.loop is not loop or self.handle is None:
            if self.handle is not None:
                self.handle.cancel()
            self.loop = loop
            self.tick()

    def tick_once(self) -> None:
        self.date = DATES.get(time.time())
        self.mono = time.monotonic()

    def tick(self) -> None:
        self.tick_once()
        self.handle = self.loop.call_at(self.loop.time() + 1.0 - time.time() % 1.0, self.tick)


CLOCK = _Clock()
_UNSET = object()


class DemuxHTTP(Filter):
    """See the module docstring. It is the request decoder's sink: requests arrive as calls."""

    __slots__ = (
        "_head_timer",
        "_hold",
        "_out_hold",
        "_send",
        "body",
        "closing",
        "current",
        "dec",
        "deferred",
        "ended",
        "fast",
        "fwd",
        "k_plain",
        "k_route",
        "k_series",
        "k_ups",
        "log",
        "metered",
        "pumping",
        "queue",
        "req",
        "t0",
        "timed",
        "tunnel",
    )

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.tunnel: _Slot | None = None
        self.pumping: _Slot | None = None
        self.dec = RequestDecoder(sink=self, **cfg.limits)
        self.queue: deque[_Slot] = deque()
        self.current: _Slot | None = None
        self.req: RequestHead | None = None
        self.body: list[bytes] | None = None
        self.fast = cfg.responder
        self.fwd = cfg.forwarder
        self.log: str | None = cfg.access_log
        self.t0 = 0.0
        #: the metrics' series of the last response's route and upstream (the next requests of
        #: a connection mostly go the same way: no lookup for them)
        self.k_route: Any = _UNSET
        self.k_ups: Any = _UNSET
        self.k_series: Series | None = None
        self.k_plain: Series | None = None
        #: requests are counted in the metrics' series (a program serving metrics asked for them)
        self.metered = request_stats.ENABLED[0]
        #: requests are timed: for the series or the access log
        self.timed = self.metered or self.log is not None
        self.deferred: deque[tuple[_Slot, RequestHead, bytes]] = deque()
        self._out_hold: Hold | None = None
        self.closing = False  # no more requests will be read
        self.ended = False  # StreamEnd sent
        self._hold = False
        self._head_timer: Any = None  # the header timeout of a head that came in several reads
        #: bytes out: a Data event, or straight to the connection when it is next (see ``start``)
        self._send: Callable[[bytes], None] = self._send_event
        CLOCK.ensure()

    needs_start = True

    def start(self) -> None:
        ctx = self.pipeline.context
        ctx.watch_drain(self._drain)
        ctx.watch_output(self._on_output_paused)
        out = self._out
        if getattr(out, "__func__", None) is InboundSession._on_output:  # straight to the connection
            self._send = out.__self__.write_bytes  # type: ignore[attr-defined]

    def _send_event(self, data: bytes) -> None:
        self._out(Data(data))

    def _on_output_paused(self, paused: bool) -> None:
        """The client stopped reading (or started again): stop (or go on) reading its requests,
        and answer the requests that waited."""
        hold = self._out_hold
        if hold is None:
            hold = self._out_hold = Hold(self.pipeline.context.valve)
        if paused:
            hold.take()
            for s in self.queue:
                if s.exchange is not None:
                    s.exchange.output_paused(True)
            return
        hold.release()
        q = self.queue
        if q and q[0].exchange is not None:
            q[0].exchange.output_paused(False)
        try:
            if self.pumping is not None:
                self._pump()
            if self.pumping is None:
                self._answer_deferred()
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _answer_deferred(self) -> None:
        ctx = self.pipeline.context
        while self.deferred and self.pumping is None and not ctx.output_paused and not self.ended:
            slot, head, body = self.deferred.popleft()
            try:
                data = self.fast.respond(head, body, ctx, CLOCK.date, slot.keep_alive, slot.head_only)
            except Exception as exc:
                data = internal_error(exc, head, slot.keep_alive)
            self._deliver(slot, head, data)
            if slot.stream is not None:
                return  # the rest waits until the file is out

    def _new_slot(self, head: RequestHead) -> _Slot:
        """A place in the response order for a responder's answer that cannot go out at once."""
        slot = _Slot(head.method == "HEAD", head.keep_alive)
        self._queue(slot)
        self.current = None
        return slot

    def _deliver(self, slot: _Slot, head: RequestHead, data: Any) -> None:
        """A responder's answer for a queued ``slot``: bytes, a file to pump, or an awaitable."""
        slot.req = head
        if type(data) is bytes:
            self._account(head, data, slot.t0, slot)
            self._emit(slot, data)
            self._complete(slot)
        elif type(data) is FileStream:
            slot.stream = data
            if self.queue and self.queue[0] is slot and self.pumping is None:
                self._pump_start(slot)
        else:
            spawn(self._await(slot, data, head), "http responder")

    def _drain(self) -> None:
        """Shutting down: finish the requests in hand, take no more; an idle connection closes."""
        self.closing = True
        if self.queue:
            self.queue[-1].keep_alive = False
        elif self.current is None and self.req is None:
            self._end()

    # -- requests in ------------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        """The connection's bytes, straight from it when this is the first filter (so errors
        are reported here, as the session would)."""
        try:
            if self.tunnel is not None:
                self.process(Data(data))
            elif not self.closing:
                dec = self.dec
                try:
                    dec.receive_data(data)
                except RemoteProtocolError as exc:
                    self._refuse(exc)
                    return
                if dec.reading_head:  # a head cut across reads: it has header_timeout to end
                    if self._head_timer is None and self.cfg.header_timeout > 0:
                        self._head_timer = running_loop().call_later(self.cfg.header_timeout, self._head_late)
                elif self._head_timer is not None:
                    self._head_timer.cancel()
                    self._head_timer = None
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.dec.reading_head and not self.closing:
            t = self.cfg.header_timeout
            self._refuse(RemoteProtocolError(f"the request head was not whole within {t:g} s", 408))

    def process(self, evt: Event) -> None:
        tunnel = self.tunnel
        if tunnel is not None:  # the connection left HTTP: its bytes belong to the upgraded request
            if tunnel.pipeline is not None and type(evt) in (Data, StreamEnd):
                tunnel.pipeline.input(evt)
            return
        if type(evt) is Data:
            self.on_bytes(evt.data)
        elif type(evt) is StreamEnd:
            cur = self.current
            if cur is not None and cur.pipeline is not None:
                cur.pipeline.input(evt)  # a request cut short
            elif cur is not None and cur.exchange is not None:
                cur.exchange.abort()  # a request cut short: it cannot be answered
                cur.keep_alive = False
                self.current = None
                self._complete(cur)
                return
            self.closing = True
            self.current = None
            if not self.queue:
                self._end()

    def on_request(self, head: RequestHead) -> None:
        fast = self.fast
        if fast is not None and not self.closing:
            self.req = head
            if self.timed:
                self.t0 = time.monotonic()
            if fast.needs_body:
                self.body = []
            if self.queue:  # behind a response still being made: keep the order
                self._queue(_Slot(head.method == "HEAD", head.keep_alive))
            elif self.dec.expect_continue:
                self._send(_CONTINUE)
            return
        if self.closing:
            return
        fwd = self.fwd
        layout: Layout = self.cfg.layout
        routed = False
        if fwd is not None and not self.dec.upgrading:
            done = self._forward(head)
            if done is True:
                return
            if done is not False:  # the route it took, to run as a sub-pipeline (a cache's miss)
                layout, routed = done, True
            elif type(fwd) is GatedForwarder:
                layout = fwd.rest  # its checks passed: the forwarder's sub-pipeline alone
        slot = self._open_slot(head)
        answer: Callable[[Event], None] = partial(self._on_answer, slot)
        ctx = self.pipeline.context
        if self.timed:  # what this request's route and proxy say, for the metrics and the log
            v = ctx.vars
            v._pw_exchange = None
            if not routed:
                v.route = None
        p = slot.pipeline = layout.spawn(ctx, answer)
        p.start()
        p.input(MessageStart(head))
        if self.timed:
            slot.route = v.route
            slot.up = v._pw_exchange

    def _forward(self, head: RequestHead) -> bool | Layout:
        """The direct path to a lone ``proxy`` (or a ``route`` to one, or a ``cache_http`` with a
        fresh hit): no sub-pipeline, no events; the exchange calls the ``on_response_*`` methods
        below with this request's slot (a hit is whole bytes at once). False when the forwarder
        leaves this request to the sub-pipeline (its ``direct`` says), or the layout of the route
        it took for that request (the route's work is done: its sub-pipeline is that layout)."""
        ctx = self.pipeline.context
        try:
            to = self.fwd.direct(head, ctx)
            if to is None:
                return False
            if type(to) is Layout:
                return to
            slot = self._open_slot(head)
            if self.timed:
                slot.route = getattr(ctx.vars, "route", None)
            failed: BaseException | None = None
            if type(to) is bytes or type(to) is Refusal:  # a whole answer (a cache hit), or a no
                data = to.encode(head, slot.keep_alive) if isinstance(to, Refusal) else to
                self._account(head, data, slot.t0, slot)
                self._emit(slot, data)
                self._complete(slot)
                return True
            try:
                slot.exchange = to.exchange(head, ctx, self, slot)
            except Exception as exc:
                failed = exc
        except Exception as exc:  # a route condition failed: 500 for this request only
            slot = self._open_slot(head)
            failed = exc
        if failed is not None:  # the target function failed: 500 for this request only
            data = internal_error(failed, head, slot.keep_alive)
            self._account(head, data, slot.t0, slot)
            self._emit(slot, data)
            self._complete(slot)
        return True

    def _open_slot(self, head: RequestHead) -> _Slot:
        """The request's place in the response order (and 100 Continue if it is first)."""
        slot = _Slot(head.method == "HEAD", head.keep_alive)
        slot.req = head
        if self.timed:
            slot.t0 = time.monotonic()
        self._queue(slot)
        if self.dec.expect_continue and len(self.queue) == 1:
            self._send(_CONTINUE)
        return slot

    def _queue(self, slot: _Slot) -> None:
        self.queue.append(slot)
        self.current = slot
        if len(self.queue) > MAX_PENDING and not self._hold:
            self._hold = True
            self.pipeline.context.valve.close()

    def on_body(self, data: bytes) -> None:
        cur = self.current
        if self.body is not None:
            self.body.append(data)
        elif cur is not None:
            cur.received += len(data)
            if cur.exchange is not None:
                cur.exchange.data(data)
            elif cur.pipeline is not None:
                cur.pipeline.input(Data(data))

    def on_message(self, head: RequestHead) -> None:
        """A whole request without a body: the decoder's one call for most requests."""
        if self.fast is not None:
            if not self.closing:
                slot = self._new_slot(head) if self.queue else None
                self._answer(head, b"", slot, time.monotonic() if self.timed else 0.0)
            return
        self.on_request(head)
        self.on_end(END)

    def on_end(self, end: EndOfMessage) -> None:
        if self.ended:
            return
        if self.fast is not None:
            head = self.req
            if head is None:
                return  # a request read after the connection started closing
            self.req = None
            body = self.body
            if body is not None:
                self.body = None
            slot = self.current
            if slot is not None:
                self.current = None
            self._answer(head, b"".join(body) if body else b"", slot, self.t0)
            return
        slot = self.current
        self.current = None
        if slot is None:
            return
        if not slot.keep_alive:
            self.closing = True
        if slot.exchange is not None:
            slot.exchange.end()
        elif slot.pipeline is not None:
            slot.pipeline.input(MessageEnd(end.trailers))

    def _answer(self, head: RequestHead, body: bytes, slot: _Slot | None, t0: float) -> None:
        """The responder answers a whole request; ``slot`` is its place when others are before it."""
        keep = head.keep_alive
        if not keep:
            self.closing = True
        ctx = self.pipeline.context
        if self.deferred or self.pumping is not None or ctx.output_paused:
            # the client is not reading: answer when it is (the reader is paused meanwhile)
            slot = slot or self._new_slot(head)
            slot.t0 = t0
            slot.received = len(body)
            self.deferred.append((slot, head, body))
            return
        try:
            data = self.fast.respond(head, body, ctx, CLOCK.date, keep, head.method == "HEAD")
        except Exception as exc:  # the handler failed: 500 for this request only
            data = internal_error(exc, head, keep)
        if slot is None and type(data) is bytes:  # nothing before it: straight out
            if self.log is not None:
                self._account(head, data, t0, None, len(body))
            else:  # _account's work, Series.observe inlined, for the most common answer
                COUNTS[data[9:12]] += 1
                if self.metered:
                    v = (self.k_plain or self._plain()).v
                    t = time.monotonic() - t0
                    v[(data[9] - 48) * WIDTH + (0 if t <= FIRST_BOUND else bisect_left(BOUNDS, t))] += 1
                    v[SECONDS] += t
                    v[SENT] += len(data)
                    if body:
                        v[RECEIVED] += len(body)
            self._send(data)
            if not keep:
                self._end()
            return
        slot = slot or self._new_slot(head)
        slot.t0 = t0
        slot.received = len(body)
        self._deliver(slot, head, data)

    def on_upgrade(self, data: bytes) -> None:
        """CONNECT or Upgrade: what follows the head is no longer HTTP. A sub-pipeline gets it
        (and may accept the tunnel with a 101, or a 2xx to CONNECT); a responder answers the
        request and the connection closes."""
        self.closing = True
        q = self.queue
        slot = q[-1] if q else None
        if slot is None or slot.pipeline is None:
            if slot is not None:
                slot.keep_alive = False
            return
        slot.tunnel = 1
        self.tunnel = slot
        if data:
            slot.pipeline.input(Data(data))

    async def _await(self, slot: _Slot, aw: Any, head: RequestHead) -> None:
        try:
            data = await aw
        except Exception as exc:
            data = internal_error(exc, head, slot.keep_alive)
        if not self.ended:
            self._account(head, data, slot.t0, slot)
            self._emit(slot, data)
            self._complete(slot)

    # -- responses out ----------------------------------------------------------------------------
    def _pump_start(self, slot: _Slot) -> None:
        """``slot`` heads the queue with a file to send: open it and start sending."""
        fs = slot.stream
        assert fs is not None
        self._emit(slot, fs.head)
        if slot.head_only or fs.length == 0:
            self._pump_done(slot)
            return
        try:
            fs.fd = os.open(fs.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:  # gone since the head was made: the framing promised is lost
            log.warning("%s: cannot open %s: %s", self.pipeline.context, fs.path, exc)
            slot.keep_alive = False
            self._pump_done(slot)
            return
        self.pumping = slot
        self._pump()

    def _pump(self) -> None:
        """Send file chunks while the client takes them; stop when its buffer is full."""
        slot = self.pumping
        if slot is None or slot.stream is None:
            return
        fs = slot.stream
        ctx = self.pipeline.context
        while fs.length > 0:
            if ctx.output_paused or self.ended:
                return  # _on_output_paused calls again when the client has read
            chunk = os.pread(fs.fd, min(FILE_CHUNK, fs.length), fs.offset)
            if not chunk:  # the file shrank under us: the Content-Length cannot be kept
                slot.keep_alive = False
                break
            fs.offset += len(chunk)
            fs.length -= len(chunk)
            slot.sent += len(chunk)
            self._send(chunk)
        self._pump_done(slot)

    def _pump_done(self, slot: _Slot) -> None:
        fs = slot.stream
        if fs is not None and fs.fd >= 0:
            os.close(fs.fd)
            fs.fd = -1
        slot.stream = None
        self.pumping = None
        status = fs.head[9:12] if fs is not None else b"200"
        COUNTS[status] += 1
        if self.timed:
            wire = slot.sent + (len(fs.head) if fs is not None else 0)
            seconds = time.monotonic() - slot.t0
            self._observe(slot, slot.req, status, status[0] - 48, wire, seconds, slot.received, None)
        self._complete(slot)
        if self.pumping is None and not self.ended:
            self._answer_deferred()

    def _account(
        self, head: RequestHead | None, data: bytes, t0: float, slot: _Slot | None = None, received: int = 0
    ) -> None:
        """Count a whole encoded response (the metrics, and the log if asked)."""
        status = data[9:12]
        COUNTS[status] += 1
        if self.timed:
            received = slot.received if slot is not None else received
            self._observe(slot, head, status, data[9] - 48, len(data), time.monotonic() - t0, received, data)

    def _account_slot(self, slot: _Slot, status: int) -> None:
        """Count a response made by a sub-pipeline or an upstream (the metrics, and the log if asked)."""
        COUNTS[status] += 1
        if self.timed:
            ex = slot.exchange  # on the direct path, the exchange read the clock as the response ended
            end = ex.last_read if ex is not None and ex.responded else time.monotonic()
            wire = slot.head_len + slot.sent
            self._observe(slot, slot.req, status, status // 100, wire, end - slot.t0, slot.received, None)

    def _observe(
        self,
        slot: _Slot | None,
        head: RequestHead | None,
        status: bytes | int,
        cls: int,
        wire: int,
        seconds: float,
        received: int,
        data: bytes | None,
    ) -> None:
        """A response is out (and ``timed``): add it to the metrics' series of its listener,
        route and upstream, and log it if asked. ``status`` is the number or its three digits
        as bytes, ``cls`` its first digit; ``seconds`` it took; ``wire`` the response's bytes
        (head and body, no chunk framing); ``data`` the whole response when it was written in
        one piece (else the body's size is ``slot.sent``)."""
        route = ex = None
        if slot is not None:
            ex = slot.exchange or self._upstream(slot)
            route = slot.route
            if route is None and slot.pipeline is not None:  # routed after the request went in
                route = slot.route = getattr(self.pipeline.context.vars, "route", None)
        if self.metered:
            ups = ex.ups if ex is not None else None
            s = self.k_series
            if s is None or route is not self.k_route or ups is not self.k_ups:
                listener = str(self.pipeline.context.inbound.local_port)
                s = self.k_series = series(listener, route or "", ups.name if ups is not None else "")
                self.k_route, self.k_ups = route, ups
            s.observe(cls, seconds, received, wire)
        if self.log is not None:
            if data is None:
                body = slot.sent if slot is not None else 0
            else:
                end = data.find(b"\r\n\r\n")
                body = 0 if end < 0 or (head is not None and head.method == "HEAD") else len(data) - end - 4
            accesslog.write(
                self.log, self.pipeline.context, head, int(status), body, seconds, route, ex, received
            )

    def _plain(self) -> Series:
        """The series of this connection's requests answered without a route or an upstream."""
        s = self.k_plain = series(str(self.pipeline.context.inbound.local_port), "", "")
        return s

    def _upstream(self, slot: _Slot) -> Any:
        """The proxy exchange that answered ``slot``'s request in its sub-pipeline, if one did: the
        one seen as the request went in, or, for a proxy that started later (after a gate's
        verdict), the context's latest if it is this request's."""
        ex = slot.up
        if ex is None and slot.pipeline is not None:
            ex = getattr(self.pipeline.context.vars, "_pw_exchange", None)
            if ex is not None and ex.head is not slot.req:
                ex = None
        return ex

    def _emit(self, slot: _Slot, data: bytes) -> None:
        q = self.queue
        if q and q[0] is slot:
            self._send(data)
        else:
            slot.out.append(data)

    def _complete(self, slot: _Slot) -> None:
        slot.done = True
        q = self.queue
        while q and q[0].done:
            s = q.popleft()
            if s.pipeline is not None:
                s.pipeline.close()
            if not s.keep_alive:
                q.clear()
                self._end()
                return
            if q:
                nxt = q[0]
                if nxt.out:
                    out, nxt.out = nxt.out, []
                    for b in out:
                        self._send(b)
                ex = nxt.exchange
                if ex is not None and ex.paused and not self.pipeline.context.output_paused:
                    ex.output_paused(False)
                if nxt.stream is not None and self.pumping is None:
                    self._pump_start(nxt)
                    return
        if self._hold and len(q) <= MAX_PENDING // 2:
            self._hold = False
            self.pipeline.context.valve.open()
        if not q and self.closing and self.current is None:
            self._end()

    def _on_answer(self, slot: _Slot, evt: Event) -> None:
        if slot.done:
            return
        t = type(evt)
        if t is Data and slot.tunnel == 3:
            self._emit(slot, evt.data)  # type: ignore[attr-defined]
            return
        if t is Data:
            if slot.head is None or slot.raw:
                return  # body bytes before a head, or after a whole response: nothing to frame
            data = evt.data  # type: ignore[attr-defined]
            if slot.chunked:
                if data and not slot.head_only:
                    self._stream(slot, data)
                return
            slot.body.append(data)
            slot.size += len(data)
            if slot.size > STREAM_AFTER:
                slot.chunked = True
                declared = _declared_length(slot.head) if slot.tunnel == 0 else None
                if declared is not None and declared >= slot.size:
                    slot.plain = True  # the sender's length frames it, as it came
                    slot.length = declared
                elif slot.req is not None and slot.req.version == "1.0":
                    slot.plain = True  # no chunked coding for HTTP/1.0: the close ends the body
                    slot.keep_alive = False
                self._emit(slot, self._head_bytes(slot, declared if slot.length >= 0 else None))
                body, slot.body = slot.body, []
                if not slot.head_only:
                    self._stream(slot, b"".join(body))
        elif t is MessageStart:
            head = evt.head  # type: ignore[attr-defined]
            if isinstance(head, FileStream):
                slot.raw = True  # the head and body come from the file pump
                slot.head = ResponseHead(int(head.head[9:12]))
                slot.stream = head
                if self.queue and self.queue[0] is slot and self.pumping is None:
                    self._pump_start(slot)
                return
            if isinstance(head, RawResponse):
                slot.raw = True  # the bytes are final: nothing more to frame
                self._account(slot.req, head.data, slot.t0, slot)
                self._emit(slot, head.data)
                slot.head = ResponseHead(200)
            elif isinstance(head, Response):
                slot.head = ResponseHead(head.status, head.reason or "", "1.1", head.headers.raw())
                if head.body:
                    slot.body.append(head.body)
                    slot.size = len(head.body)
            elif isinstance(head, ResponseHead):
                slot.head = head
            else:
                self.pipeline.context.fail(TypeError(f"a response head must be a ResponseHead, not {head!r}"))
            status = slot.head.status if slot.head is not None else 200
            if slot.tunnel == 1:
                req = slot.req
                if status == 101 or (req is not None and req.method == "CONNECT" and 200 <= status < 300):
                    slot.tunnel = 2
                    slot.head_only = True
                else:  # the switch was refused: an ordinary answer, then the connection ends
                    slot.tunnel = 0
                    slot.keep_alive = False
                    if self.tunnel is slot:
                        self.tunnel = None
            if slot.tunnel < 2 and (status in NO_BODY_STATUS or status < 200):
                slot.head_only = True  # RFC 9110 6.4.1: 1xx, 204 and 304 never carry content
        elif t is MessageEnd and (slot.stream is not None or self.pumping is slot):
            pass  # the file pump completes this answer when the file is out
        elif t is MessageEnd and slot.tunnel == 2:
            slot.tunnel = 3  # the head goes out; from now on bytes pass through as they are
            self._emit(slot, self._head_bytes(slot, None))
        elif t is MessageEnd:
            if slot.head is None:
                self._emit(slot, encode_response(Response(b"Bad Gateway\n", 502), CLOCK.date, False))
                slot.keep_alive = False
            elif slot.raw:
                pass
            elif slot.chunked:
                if not slot.head_only and not slot.plain:
                    self._emit(slot, LAST_CHUNK)
                elif slot.sent < slot.length and not slot.head_only:
                    short = slot.length - slot.sent
                    log.warning("a response ended %d bytes short of its Content-Length: closed", short)
                    slot.keep_alive = False  # the client must not read the next answer as this one's rest
                self._account_slot(slot, slot.head.status)
            else:
                whole = b"".join(slot.body)
                if not slot.head_only:
                    slot.sent = len(whole)
                self._emit(slot, self._head_bytes(slot, len(whole)) + (b"" if slot.head_only else whole))
                self._account_slot(slot, slot.head.status)
            self._complete(slot)
        elif t is StreamEnd and slot.tunnel == 3:
            slot.keep_alive = False
            self._complete(slot)
        elif t is StreamEnd:
            if slot.head is None:
                slot.keep_alive = self._goes_on(slot)
                data = gateway_error(evt.error, slot.keep_alive)  # type: ignore[attr-defined]
                self._account(slot.req, data, slot.t0, slot)
                self._emit(slot, data)
            else:
                slot.keep_alive = False  # the stream ended under the response: the framing is lost
            self._complete(slot)

    # -- the direct path's answers, from a proxy.Exchange ----------------------------------------------
    def on_response_head(self, slot: _Slot, e: ResponseHead) -> None:
        """The upstream's head: the lines the parser kept for forwarding, and our framing."""
        slot.head = e
        fwd = e.forward
        if fwd is None:  # not straight from the parser: filter its fields here
            fields = forward_fields(e.raw_headers)
            fwd = [k + b": " + v for k, v in fields if k.lower() != b"content-length"]
            e.length = next((v for k, v in fields if k.lower() == b"content-length"), None)
            e.has_date = any(k.lower() == b"date" for k, _ in fields)
            header_block(fields)  # CR, LF or NUL in a field: LocalProtocolError
        parts = [status_line(e.status, e.reason)]
        if fwd:
            parts += (b"\r\n".join(fwd), b"\r\n")
        if not e.has_date:
            parts.append(CLOCK.date)
        parts.append(VIA_LINE)
        length = e.length
        if e.status in NO_BODY_STATUS:
            slot.head_only = True
        if length is not None:  # kept for a head-only answer too: it tells the body's length
            parts.append(b"content-length: " + length + b"\r\n")
        elif slot.head_only:
            pass
        elif slot.req is not None and slot.req.version == "1.0":
            slot.keep_alive = False  # no chunked coding for HTTP/1.0: the close ends the body
        else:
            slot.chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n" if slot.keep_alive else b"connection: close\r\n\r\n")
        out = b"".join(parts)
        slot.head_len = len(out)
        slot.body.append(out)

    def on_response_data(self, slot: _Slot, data: bytes) -> None:
        if slot.head_only:
            return
        slot.sent += len(data)
        slot.body.append(b"%x\r\n%s\r\n" % (len(data), data) if slot.chunked else data)

    def on_response_flush(self, slot: _Slot) -> None:
        body = slot.body
        if not body:
            return
        data = body[0] if len(body) == 1 else b"".join(body)
        slot.body = []
        self._emit(slot, data)
        if slot.out:  # behind another response: kept, and the upstream paused past a limit
            slot.size += len(data)
            ex = slot.exchange
            if slot.size > STREAM_AFTER and ex is not None and not ex.paused:
                ex.output_paused(True)

    def on_response_end(self, slot: _Slot, trailers: Any) -> None:
        if slot.chunked:
            slot.body.append(LAST_CHUNK)
        self.on_response_flush(slot)
        self._account_slot(slot, slot.head.status if slot.head is not None else 200)
        self._complete(slot)

    def _goes_on(self, slot: _Slot) -> bool:
        """Whether the connection stays open after a whole error answer in place of ``slot``'s
        response: yes (the rest of the request's body, if any, is read and dropped) unless the
        client waits for 100 Continue to send that body."""
        return slot.keep_alive and (slot is not self.current or not self.dec.expect_continue)

    def on_response_failed(self, slot: _Slot, error: str) -> None:
        if slot.done:
            return
        if slot.head is None:
            slot.keep_alive = self._goes_on(slot)
            data = gateway_error(error, slot.keep_alive)
            self._account(slot.req, data, slot.t0, slot)
            slot.body.append(data)
        else:
            slot.keep_alive = False  # the response is cut short: the framing is lost
        self.on_response_flush(slot)
        self._complete(slot)

    def _stream(self, slot: _Slot, data: bytes) -> None:
        """Write body bytes of a streamed answer: in chunks, or plain up to its Content-Length
        (bytes past it are dropped, and the connection ends after the answer)."""
        if not slot.plain:
            slot.sent += len(data)
            self._emit(slot, b"%x\r\n%s\r\n" % (len(data), data))
            return
        if slot.length >= 0 and slot.sent + len(data) > slot.length:
            if slot.keep_alive:
                log.warning("a response went on past its Content-Length (%d): the rest dropped", slot.length)
                slot.keep_alive = False
            data = data[: slot.length - slot.sent]
        slot.sent += len(data)
        if data:
            self._emit(slot, data)

    def _head_bytes(self, slot: _Slot, length: int | None) -> bytes:
        head = slot.head
        assert head is not None
        fields = [(k, v) for k, v in head.raw_headers if k.lower() not in _OWN_FIELDS]
        parts = [status_line(head.status, head.reason or None), header_block(fields), CLOCK.date]
        if slot.tunnel >= 2:
            if head.status == 101:
                parts.append(b"connection: upgrade\r\n")
            parts.append(b"\r\n")
            out = b"".join(parts)
            slot.head_len = len(out)
            return out
        if head.status in NO_BODY_STATUS or head.status < 200:
            pass
        elif slot.head_only and not slot.body:
            # a response to HEAD tells the length of the body it leaves out: keep the sender's
            for k, v in head.raw_headers:
                if k.lower() == b"content-length":
                    parts.append(b"content-length: " + v + b"\r\n")
                    break
        elif length is None:
            if not slot.plain:
                parts.append(b"transfer-encoding: chunked\r\n")
        else:
            parts.append(b"content-length: %d\r\n" % length)
        if not slot.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        out = b"".join(parts)
        slot.head_len = len(out)
        return out

    def _refuse(self, exc: RemoteProtocolError) -> None:
        if self.closing:  # bytes after a request that closes the connection: never read
            return
        self.closing = True
        error = encode_response(Response(f"{exc}\n", exc.status), CLOCK.date, False)
        self._account(None, error, time.monotonic())
        slot, self.current = self.current, None
        if slot is None:
            slot = _Slot(False, False)
            self.queue.append(slot)
        else:  # the request the error cut short cannot end: the error is its answer
            if slot.pipeline is not None:
                slot.pipeline.close()
            if slot.exchange is not None:
                slot.exchange.abort()
            slot.keep_alive = False
            if slot.chunked or slot.raw or slot.head is not None:
                error = b""  # its answer has begun: the close cuts it off
        if error:
            self._emit(slot, error)
        self._complete(slot)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self._out(StreamEnd())

    def close(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.deferred.clear()
        slot, self.pumping = self.pumping, None
        if slot is not None and slot.stream is not None and slot.stream.fd >= 0:
            os.close(slot.stream.fd)
            slot.stream.fd = -1
        if self._out_hold is not None:
            self._out_hold.release()
        self.pipeline.context.unwatch_output(self._on_output_paused)
        for s in self.queue:
            if s.pipeline is not None:
                s.pipeline.close()
            if s.exchange is not None:
                s.exchange.abort()
        self.queue.clear()
        if self._hold:
            self._hold = False
            self.pipeline.context.valve.open()


class _ServeCfg:
    """``serve_http`` settings; ``respond`` is the fast path ``demux_http`` calls directly."""

    __slots__ = ("handler", "needs_body", "respond")

    def __init__(self, handler: Callback) -> None:
        self.handler = handler
        self.needs_body = True
        self.respond = self._respond_async if handler.is_async else self._respond

    def _respond(
        self, head: RequestHead, body: bytes, ctx: Any, date: bytes, keep_alive: bool, head_only: bool
    ) -> bytes:
        resp = as_response(self.handler.call(Request(head, body), ctx))
        return encode_response(resp, date, keep_alive, head_only)

    async def _respond_async(
        self, head: RequestHead, body: bytes, ctx: Any, date: bytes, keep_alive: bool, head_only: bool
    ) -> bytes:
        resp = as_response(await self.handler.call(Request(head, body), ctx))
        return encode_response(resp, CLOCK.date, keep_alive, head_only)


class ServeHTTP(Filter):
    """In a longer pipeline: gather a request, call the handler, output its response."""

    __slots__ = ("body", "head")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.head: RequestHead | None = None
        self.body: list[bytes] = []

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is MessageStart:
            self.head = evt.head  # type: ignore[attr-defined]
            self.body = []
        elif t is Data:
            self.body.append(evt.data)  # type: ignore[attr-defined]
        elif t is MessageEnd and self.head is not None:
            head, self.head = self.head, None
            req = Request(head, b"".join(self.body))
            cb: Callback = self.cfg.handler
            try:
                r = cb.call(req, self.pipeline.context)
            except Exception as exc:
                self._fail(exc, head)
                return
            if cb.is_async:
                spawn(self._later(r, head), "serve_http handler")
            else:
                self._answer(r, head)

    async def _later(self, aw: Any, head: RequestHead) -> None:
        try:
            r = await aw
        except Exception as exc:
            if not self.pipeline.closed:
                self._fail(exc, head)
            return
        if not self.pipeline.closed:
            self._answer(r, head)

    def _fail(self, exc: BaseException, head: RequestHead) -> None:
        self._out(MessageStart(RawResponse(internal_error(exc, head, head.keep_alive))))
        self._out(MessageEnd())

    def _answer(self, value: Any, head: RequestHead) -> None:
        try:
            resp = as_response(value)
        except TypeError as exc:
            self._fail(exc, head)
            return
        self._out(MessageStart(ResponseHead(resp.status, resp.reason or "", "1.1", resp.headers.raw())))
        if resp.body:
            self._out(Data(resp.body))
        self._out(MessageEnd())


def demux_http(
    self: Builder,
    target: LayoutLike | None = None,
    *,
    access_log: str | None = None,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    **limits: int,
) -> Builder:
    """Serve HTTP/1.1 on this stream: one sub-pipeline per request (see the module docstring).

    ``access_log`` is None (every response is still counted, see ``pw.http_status_counts()``),
    ``"combined"`` or ``"json"`` (lines to the ``pipework.access`` logger). ``header_timeout``:
    seconds a request head may take to arrive once it has begun, then 408 (0: no limit).
    Limits (keyword arguments): ``max_uri``, ``max_header_bytes``, ``max_headers``, ``max_body``.
    """
    if isinstance(header_timeout, bool) or not isinstance(header_timeout, (int, float)) or header_timeout < 0:
        raise ValueError(f"demux_http(): header_timeout must be seconds (0: none), not {header_timeout!r}")
    if access_log is not None and access_log not in accesslog.FORMATS:
        raise ValueError(f"demux_http(): access_log must be one of {', '.join(accesslog.FORMATS)} or None")
    for name, value in limits.items():
        if name not in ("max_uri", "max_header_bytes", "max_headers", "max_body"):
            raise TypeError(f"demux_http(): unknown limit {name!r}")
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"demux_http(): {name} must be a positive number of bytes, not {value!r}")
    layout = None if target is None else as_layout(target)
    cfg = _DemuxCfg(layout, limits, access_log, float(header_timeout))
    return self.add("demux_http", DemuxHTTP, cfg, 0 if layout is not None else 1)


def serve_http(self: Builder, handler: Any) -> Builder:
    """Answer each request with ``handler(request[, ctx])`` (plain or async); see
    :mod:`pipework.codec.http1.message` for what it may return."""
    return self.add("serve_http", ServeHTTP, _ServeCfg(adapt(handler, 1, "serve_http()")))


register(demux_http=demux_http, serve_http=serve_http)

__all__ = ["DemuxHTTP", "Headers", "Request", "Response", "ServeHTTP"]
