"""Callback filters: ``handle_*`` look at events, ``replace_*`` change them, ``on_start``/``on_end``.

- ``handle_stream_start(cb)``, ``handle_data(cb)``, ``handle_message_start(cb)``,
  ``handle_message_end(cb)``, ``handle_stream_end(cb)``: call ``cb`` and pass the event on.
- ``replace_stream_start``, ``replace_data``, ``replace_message_start``, ``replace_message_end``,
  ``replace_stream_end``: output what ``cb`` returns instead of the event (see
  :func:`pipework.core.to_events`; None drops it). A constant instead of a function always
  replaces with that constant.
- ``on_start(cb)``: when the pipeline starts, output what ``cb`` returns; ``on_end(cb)``: call
  ``cb`` when the pipeline is torn down.

Data callbacks get the bytes; the others get the event (``evt.head``, ``evt.tail``,
``evt.error``). Every callback may take the context as a last argument, and may be ``async``:
then later events wait, in order, until it has finished (past a limit the reader pauses).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from ..codec.http1 import Response
from ..core import (
    Builder,
    Data,
    Event,
    EventQueue,
    Filter,
    Message,
    MessageEnd,
    MessageStart,
    StreamEnd,
    register,
    to_events,
)
from ..core.callback import Callback, adapt
from ..net import spawn

_MATCH = {
    "data": Data,
    "message_start": MessageStart,
    "message_end": MessageEnd,
    "stream_end": StreamEnd,
}


class _HandlerCfg:
    __slots__ = ("cb", "constant", "kind", "match", "replace")

    def __init__(self, kind: str, cb: Callback | None, constant: Any, replace: bool) -> None:
        self.kind = kind
        self.match: type[Event] | None = _MATCH.get(kind)
        self.cb = cb
        self.constant = constant
        self.replace = replace


class _Serial(Filter):
    """Runs callbacks that may be async while keeping events in order.

    Subclasses implement :meth:`step` (handle one event) and :meth:`done` (a callback's result
    is ready). While an async callback runs, incoming events wait in a bounded queue.
    """

    __slots__ = ("busy", "queue")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.queue: EventQueue | None = None
        self.busy = False

    def process(self, evt: Event) -> None:
        if self.busy:
            self.queue.push(evt)  # type: ignore[union-attr]
        else:
            self.step(evt)

    def step(self, evt: Event) -> None:
        self._out(evt)

    def _wait_for(self, aw: Awaitable[Any], evt: Event | None) -> None:
        if self.queue is None:
            self.queue = EventQueue(self.pipeline.context.valve)
        self.busy = True
        spawn(self._finish(aw, evt), f"{self.cfg.kind} callback")

    async def _finish(self, aw: Awaitable[Any], evt: Event | None) -> None:
        try:
            result = await aw
            if self.pipeline.closed:
                return
            self.busy = False
            self.done(evt, result)
            q = self.queue
            while q and not self.busy:
                self.step(q.pop())
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def done(self, evt: Event | None, result: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.queue is not None:
            self.queue.clear()


class Handle(_Serial):
    """handle_* and replace_*: see the module docstring."""

    __slots__ = ("started",)

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.started = False

    def step(self, evt: Event) -> None:
        cfg: _HandlerCfg = self.cfg
        if cfg.match is None:  # stream_start
            if self.started:
                self._out(evt)
                return
            self.started = True
        elif type(evt) is not cfg.match:
            self._out(evt)
            return
        cb = cfg.cb
        if cb is None:
            self.done(evt, cfg.constant)
            return
        arg = evt.data if cfg.match is Data else evt  # type: ignore[attr-defined]
        r = cb.call(arg, self.pipeline.context)
        if cb.is_async:
            self._wait_for(r, evt)
        else:
            self.done(evt, r)

    def done(self, evt: Event | None, result: Any) -> None:
        if self.cfg.replace:
            for e in to_events(result):
                self._out(e)
        elif evt is not None:
            self._out(evt)


class _MessageCfg:
    __slots__ = ("cb", "kind", "max_size", "replace")

    def __init__(self, kind: str, cb: Callback, replace: bool, max_size: int) -> None:
        self.kind = kind
        self.cb = cb
        self.replace = replace
        self.max_size = max_size


class HandleMessage(_Serial):
    """handle_message / replace_message: gather each whole message, then call back with it."""

    __slots__ = ("head", "parts", "size")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.head: Any = _NO_MESSAGE
        self.parts: list[bytes] = []
        self.size = 0

    def step(self, evt: Event) -> None:
        t = type(evt)
        if self.head is _GAVE_UP:
            return  # the stream was ended for a message past max_size
        if t is MessageStart:
            self.head = evt.head  # type: ignore[attr-defined]
            self.parts = []
            self.size = 0
        elif self.head is _NO_MESSAGE:
            self._out(evt)  # outside a message: passes as it is
        elif t is Data:
            data = evt.data  # type: ignore[attr-defined]
            self.size += len(data)
            if self.size > self.cfg.max_size:
                # bounded memory: a message past the limit ends the stream instead of growing
                self.head = _GAVE_UP
                self.parts = []
                self._out(StreamEnd("MessageTooLarge"))
                return
            self.parts.append(data)
        elif t is MessageEnd:
            msg = Message(self.head, b"".join(self.parts), evt.tail)  # type: ignore[attr-defined]
            self.head = _NO_MESSAGE
            self.parts = []
            cb: Callback = self.cfg.cb
            r = cb.call(msg, self.pipeline.context)
            if cb.is_async:
                self._wait_for(r, msg)  # type: ignore[arg-type]
            else:
                self.done(msg, r)
        else:  # StreamEnd inside a message: what was gathered is lost with the stream
            self.head = _NO_MESSAGE
            self._out(evt)

    def done(self, evt: Any, result: Any) -> None:
        if self.cfg.replace:
            if isinstance(result, Response):  # an HTTP answer: demux_http encodes it whole
                self._out(MessageStart(result))
                self._out(MessageEnd())
                return
            for e in to_events(result):
                self._out(e)
        else:
            for e in evt.events():
                self._out(e)


_NO_MESSAGE = object()
_GAVE_UP = object()
#: the largest message handle_message / replace_message gathers by default
DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024


def _message_method(replace: bool) -> Any:
    name = "replace_message" if replace else "handle_message"

    def method(self: Builder, callback: Any, *, max_size: int = DEFAULT_MAX_MESSAGE) -> Builder:
        if not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"{name}(): max_size must be a positive number of bytes, not {max_size!r}")
        cfg = _MessageCfg(name, adapt(callback, 1, f"{name}()"), replace, max_size)
        return self.add(name, HandleMessage, cfg)

    method.__name__ = name
    what = "output what the callback returns instead" if replace else "call back with it, then pass it on"
    method.__doc__ = (
        "Gather each whole message (head, body, tail; at most ``max_size`` body bytes) as a "
        f"``pw.Message`` and {what}."
    )
    return method


class OnStart(_Serial):
    __slots__ = ()
    needs_start = True

    def start(self) -> None:
        cb: Callback = self.cfg.cb
        r = cb.call(self.pipeline.context)
        if cb.is_async:
            self._wait_for(r, None)
        else:
            self.done(None, r)

    def done(self, evt: Event | None, result: Any) -> None:
        for e in to_events(result):
            self._out(e)


class OnEnd(Filter):
    __slots__ = ()

    def close(self) -> None:
        cb: Callback = self.cfg.cb
        r = cb.call(self.pipeline.context)
        if cb.is_async:
            spawn(r, "on_end callback")


def _make(kind: str, replace: bool) -> Any:
    verb = "replace" if replace else "handle"
    name = f"{verb}_{kind}"

    def method(self: Builder, callback: Any) -> Builder:
        if callable(callback):
            cfg = _HandlerCfg(kind, adapt(callback, 1, f"{name}()"), None, replace)
        elif replace:
            to_events(callback)  # fail now, at load, on a constant that is not an event
            cfg = _HandlerCfg(kind, None, callback, replace)
        else:
            raise TypeError(f"{name}() expects a function, got {type(callback).__name__}")
        return self.add(name, Handle, cfg)

    method.__name__ = name
    what = kind.replace("_", " ")
    verb_s = "Replace" if replace else "Look at"
    method.__doc__ = f"{verb_s} each {what} event (see pipework.filters.handlers)."
    return method


class _CbCfg:
    __slots__ = ("cb", "kind")

    def __init__(self, kind: str, cb: Callback) -> None:
        self.kind = kind
        self.cb = cb


def on_start(self: Builder, callback: Any) -> Builder:
    """When the pipeline starts, output the events ``callback([ctx])`` returns."""
    return self.add("on_start", OnStart, _CbCfg("on_start", adapt(callback, 0, "on_start()")))


def on_end(self: Builder, callback: Any) -> Builder:
    """Call ``callback([ctx])`` when the pipeline is torn down."""
    return self.add("on_end", OnEnd, _CbCfg("on_end", adapt(callback, 0, "on_end()")))


register(
    **{
        f"{v}_{k}": _make(k, v == "replace")
        for v in ("handle", "replace")
        for k in ("stream_start", "data", "message_start", "message_end", "stream_end")
    },
    on_start=on_start,
    on_end=on_end,
    handle_message=_message_method(False),
    replace_message=_message_method(True),
)
