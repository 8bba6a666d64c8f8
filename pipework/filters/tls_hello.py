"""``handle_tls_client_hello``: read the ClientHello that opens a TLS stream, without terminating
TLS, and pass every byte on untouched (Pipy's ``handleTLSClientHello``).

Theory of operation: the filter sits at the start of a TCP listener's layout. It holds the
stream's first bytes in a :class:`~pipework.codec.tls.ClientHelloReader` until the ClientHello
is whole, stores it on the context as ``ctx.vars.tls_hello`` (server_name, alpn, versions,
cipher_suites, raw), calls the callback, then outputs the held bytes as one ``Data`` (the
hello's records exactly as received, then whatever came after them) and from then on passes
every event through. Nothing is re-encoded: the backend gets the client's bytes and its
handshake transcript stays intact, so TLS is end to end.

Routing on the hello (SNI pass-through) goes through a step that chooses its sub-pipeline at the
first event, which is the held hello, once ``ctx.vars.tls_hello`` is set::

    p.handle_tls_client_hello().link(lambda p: p.connect(lambda ctx: by_name[ctx.vars.tls_hello.server_name]))
    p.handle_tls_client_hello().pipe(lambda evt, ctx: layouts.get(ctx.vars.tls_hello.server_name, default))

A ``connect`` in the same layout would not do: ``connect`` opens its connection (and calls its
target function) when the pipeline starts, before any byte has arrived.

Bounds: the held bytes are at most ``max_size`` (64 KiB of records by default, see
:data:`~pipework.codec.tls.MAX_HELLO_SIZE`), and a hello cut across reads must be whole within
``timeout`` seconds (30, nginx's ``preread_timeout``). While an ``async`` callback runs, later
events wait in a bounded queue that pauses the reader.

Refusal (``on_error="close"``, the default): a stream whose first bytes are not an acceptable
ClientHello (another protocol, a malformed or oversized hello, an SSL 2.0 hello, the timeout) is
logged once as a warning and ends with ``StreamEnd("TLSError")`` (``"ReadTimeout"`` for the
timeout), sent straight to the pipeline's output: the steps after this one have seen no byte
and are not asked to route a stream that has nothing to route. A peer that began with a TLS
record first gets the fatal alert a TLS server would send (``decode_error``...). A connection
closed before its first byte ends quietly. With ``on_error="pass"`` such a stream is passed on
as it came, with ``ctx.vars.tls_hello = None`` (one port for TLS and something else); the
callback is not called.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from ..codec.tls import (
    MAX_HELLO_SIZE,
    NEED_DATA,
    ClientHello,
    ClientHelloReader,
    RemoteProtocolError,
    encode_alert,
)
from ..core import Builder, Data, Event, EventQueue, Filter, StreamEnd, adapt, register
from ..core.callback import Callback
from ..core.checks import seconds
from ..net import spawn
from ..net.errors import READ_TIMEOUT, TLS_ERROR
from ..net.loop import running_loop

log = logging.getLogger("pipework")

ON_ERROR = ("close", "pass")
#: Seconds a hello cut across reads has to become whole: nginx's ``preread_timeout`` default.
HELLO_TIMEOUT = 30.0

_READING, _WAITING, _PASSING, _ENDED = range(4)


class _HelloCfg:
    __slots__ = ("cb", "max_size", "on_error", "timeout")

    def __init__(self, cb: Callback | None, on_error: str, max_size: int, timeout: float) -> None:
        self.cb = cb
        self.on_error = on_error
        self.max_size = max_size
        self.timeout = timeout


class HandleTLSClientHello(Filter):
    """See the module docstring."""

    __slots__ = ("_held", "_queue", "_reader", "_state", "_timer")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self._state = _READING
        self._reader: ClientHelloReader | None = None
        self._held = b""
        self._queue: EventQueue | None = None
        self._timer: Any = None

    def process(self, evt: Event) -> None:
        state = self._state
        if state == _PASSING:
            self._out(evt)
        elif state == _WAITING:
            self._queue.push(evt)  # type: ignore[union-attr]
        elif state == _READING:
            t = type(evt)
            if t is Data:
                self._read(evt.data)  # type: ignore[attr-defined]
            elif t is StreamEnd:
                if self._reader is None:  # closed before a byte: nothing to route, nothing to say
                    self._state = _ENDED
                    self._end_output(evt)
                else:
                    self._read(b"", evt)  # type: ignore[arg-type]
            else:
                raise TypeError(f"handle_tls_client_hello() reads a byte stream, not {type(evt).__name__}")

    def _read(self, data: bytes, end: StreamEnd | None = None) -> None:
        reader = self._reader
        if reader is None:
            reader = self._reader = ClientHelloReader(self.cfg.max_size)
        try:
            hello = reader.receive_data(data)
        except RemoteProtocolError as exc:
            self._refuse(reader, str(exc), None if end is not None else encode_alert(exc.alert), end)
            return
        if hello is NEED_DATA:
            if self._timer is None and self.cfg.timeout > 0:
                self._timer = running_loop().call_later(self.cfg.timeout, self._late)
            return
        assert isinstance(hello, ClientHello)
        self._cancel_timer()
        self._held = hello.raw + reader.trailing_data
        self._reader = None
        ctx = self.pipeline.context
        ctx.vars.tls_hello = hello
        cb: Callback | None = self.cfg.cb
        if cb is not None:
            result = cb.call(hello, ctx)
            if cb.is_async:
                self._state = _WAITING
                self._queue = EventQueue(ctx.valve)
                spawn(self._wait_for(result), "handle_tls_client_hello callback")
                return
        self._pass_on()

    async def _wait_for(self, aw: Awaitable[Any]) -> None:
        try:
            await aw
            if not self.pipeline.closed:
                self._pass_on()
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _pass_on(self) -> None:
        self._state = _PASSING
        held, self._held = self._held, b""
        if held:
            self._out(Data(held))
        q = self._queue
        while q:
            self._out(q.pop())

    def _late(self) -> None:
        self._timer = None
        if self._state == _READING and self._reader is not None:
            msg = f"the ClientHello was not whole within {self.cfg.timeout:g} s"
            try:
                self._refuse(self._reader, msg, None, None, READ_TIMEOUT)
            except Exception as exc:
                self.pipeline.context.fail(exc)

    def _refuse(self, reader: ClientHelloReader, why: str, alert: bytes | None, end: StreamEnd | None,
                error: str = TLS_ERROR) -> None:
        self._cancel_timer()
        self._reader = None
        ctx = self.pipeline.context
        if self.cfg.on_error == "pass":
            ctx.vars.tls_hello = None
            self._held = reader.received_data
            self._pass_on()
            if end is not None:
                self._out(end)
            return
        self._state = _ENDED
        log.warning("%r: refused, no TLS ClientHello: %s", ctx, why)
        if alert is not None and reader.looks_like_tls:
            self._end_output(Data(alert))
        self._end_output(StreamEnd(error))

    def _end_output(self, evt: Event) -> None:
        """Send ``evt`` to the pipeline's output, past the steps after this one, which have had
        no event yet and must not be made to route a stream that has nothing to route."""
        self.pipeline.output(evt)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self._state = _ENDED
        self._cancel_timer()
        self._reader = None
        self._held = b""
        if self._queue is not None:
            self._queue.clear()


def handle_tls_client_hello(
    self: Builder,
    callback: Any = None,
    *,
    on_error: str = "close",
    max_size: int = MAX_HELLO_SIZE,
    timeout: float = HELLO_TIMEOUT,
) -> Builder:
    """Hold the stream until its TLS ClientHello is whole, store it as ``ctx.vars.tls_hello``,
    call ``callback(hello[, ctx])`` (may be ``async``: the stream waits for it), then pass every
    byte on untouched.

    ``on_error``: ``"close"`` ends a stream that does not open with an acceptable ClientHello
    (logged once); ``"pass"`` passes it on with ``ctx.vars.tls_hello = None``. ``max_size``
    bounds the held hello in bytes; ``timeout`` (seconds, 0 for none) bounds the wait for a hello
    cut across reads. Raises TypeError or ValueError for bad arguments.
    """
    cb = None if callback is None else adapt(callback, 1, "handle_tls_client_hello()")
    if on_error not in ON_ERROR:
        raise ValueError(f"handle_tls_client_hello(): on_error must be one of {', '.join(ON_ERROR)}, "
                         f"not {on_error!r}")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 512:
        raise ValueError(f"handle_tls_client_hello(): max_size must be at least 512 bytes, not {max_size!r}")
    seconds(timeout, "handle_tls_client_hello(): timeout")
    return self.add("handle_tls_client_hello", HandleTLSClientHello,
                    _HelloCfg(cb, on_error, max_size, float(timeout)))


register(handle_tls_client_hello=handle_tls_client_hello)
