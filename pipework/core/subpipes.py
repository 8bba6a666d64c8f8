"""The generic sub-pipeline filters: link, pipe, branch, fork, demux and mux.

Theory of operation: a sub-pipeline is a pipeline made by a filter, sharing its context. The
choice-making filters (``link``, ``pipe``, ``branch``) decide which layout to use when the first
event of a stream arrives and then forward every event to the one sub-pipeline they made, whose
output becomes theirs. ``fork`` copies events into sub-pipelines and passes the originals on.
``demux`` makes one sub-pipeline per message and puts their outputs back in input order; ``mux``
does the opposite, merging the messages of many streams onto one shared sub-pipeline and handing
each stream its response in order (one response message per request message, as in HTTP/1.1,
Thrift or Dubbo).

Condition and selector callbacks get the first event (and the context, if they take it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Any

from .builder import Builder, LayoutLike, as_layout, register
from .callback import Callback, adapt
from .context import Context
from .events import Data, Event, MessageEnd, MessageStart, StreamEnd
from .filter import Filter
from .pipeline import Layout, Pipeline

#: a demux input queue past this many unanswered messages pauses the reader
DEMUX_MAX_PENDING = 256
#: a mux session with no stream using it closes after this many seconds
MUX_IDLE_SECONDS = 10.0


class _One:
    """Settings of a step with one sub-pipeline that may come from ``.to()``."""

    __slots__ = ("layout",)

    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout

    def attach(self, layout: Layout) -> None:
        self.layout = layout


class _Chooser(Filter):
    """Base of link/pipe/branch: pick a layout at the first event, then forward to it."""

    __slots__ = ("sub", "through")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.sub: Pipeline | None = None
        self.through = False

    def choose(self, evt: Event) -> Layout | None:
        raise NotImplementedError

    def process(self, evt: Event) -> None:
        sub = self.sub
        if sub is None:
            if self.through:
                self._out(evt)
                return
            layout = self.choose(evt)
            if layout is None:
                self.through = True
                self._out(evt)
                return
            sub = self.sub = layout.spawn(self.pipeline.context, self._out)
            sub.start()
        sub.input(evt)

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()


class Link(_Chooser):
    __slots__ = ()

    def choose(self, evt: Event) -> Layout | None:
        return self.cfg.layout  # type: ignore[no-any-return]


class _PipeCfg:
    __slots__ = ("selector", "targets")

    def __init__(self, selector: Callback, targets: dict[Hashable, Layout] | None) -> None:
        self.selector = selector
        self.targets = targets


class Pipe(_Chooser):
    __slots__ = ()

    def choose(self, evt: Event) -> Layout | None:
        cfg: _PipeCfg = self.cfg
        r = cfg.selector.call(evt, self.pipeline.context)
        if cfg.targets is not None:
            if r not in cfg.targets:
                raise LookupError(f"pipe(): the selector returned {r!r}, which names no target")
            return cfg.targets[r]
        if r is None or isinstance(r, Layout):
            return r
        return as_layout(r)


class Branch(_Chooser):
    __slots__ = ()

    def choose(self, evt: Event) -> Layout | None:
        ctx = self.pipeline.context
        for cond, layout in self.cfg:
            if cond is None or (cond.call(evt, ctx) if isinstance(cond, Callback) else cond):
                return layout  # type: ignore[no-any-return]
        return None


class Fork(Filter):
    """Copies events into sub-pipelines whose output is dropped; the originals pass on."""

    __slots__ = ("subs",)

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.subs: list[Pipeline] | None = None

    def process(self, evt: Event) -> None:
        subs = self.subs
        if subs is None:
            ctx = self.pipeline.context
            n = self.cfg.count
            subs = self.subs = [self.cfg.layout.spawn(ctx) for _ in range(n)]
            for s in subs:
                s.start()
        for s in subs:
            s.input(evt)
        self._out(evt)

    def close(self) -> None:
        for s in self.subs or ():
            s.close()


class _ForkCfg(_One):
    __slots__ = ("count",)

    def __init__(self, layout: Layout | None, count: int) -> None:
        super().__init__(layout)
        self.count = count


class _Response:
    """The output of one demuxed message, held until the ones before it are out."""

    __slots__ = ("done", "events", "pipeline")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.done = False
        self.pipeline: Pipeline | None = None


class Demux(Filter):
    """One sub-pipeline per message; responses in the order the messages came."""

    __slots__ = ("_hold_taken", "current", "ended", "queue")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.queue: deque[_Response] = deque()
        self.current: Pipeline | None = None
        self.ended: StreamEnd | None = None
        self._hold_taken = False

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is MessageStart:
            r = _Response()
            self.queue.append(r)
            if len(self.queue) > DEMUX_MAX_PENDING and not self._hold_taken:
                self._hold_taken = True
                self.pipeline.context.valve.close()
            p = self.current = r.pipeline = self.cfg.layout.spawn(
                self.pipeline.context, lambda e, r=r: self._on_sub(r, e)
            )
            p.start()
            p.input(evt)
        elif t is StreamEnd:
            if self.current is not None:
                self.current.input(evt)  # a message cut short
                self.current = None
            self.ended = evt  # type: ignore[assignment]
            self._flush()
        elif self.current is not None:
            self.current.input(evt)
            if t is MessageEnd:
                self.current = None

    def _on_sub(self, r: _Response, evt: Event) -> None:
        if r.done:
            return
        t = type(evt)
        head = self.queue[0] if self.queue else None
        if t is StreamEnd or t is MessageEnd:
            r.done = True
            if t is MessageEnd:
                if head is r:
                    self._out(evt)
                else:
                    r.events.append(evt)
            self._flush()
        elif head is r:
            self._out(evt)
        else:
            r.events.append(evt)

    def _flush(self) -> None:
        q = self.queue
        while q:
            head = q[0]
            if head.events:
                evts, head.events = head.events, []
                for e in evts:
                    self._out(e)
            if not head.done:
                break
            q.popleft()
            if head.pipeline is not None:
                head.pipeline.close()
        if self._hold_taken and len(q) <= DEMUX_MAX_PENDING // 2:
            self._hold_taken = False
            self.pipeline.context.valve.open()
        if not q and self.ended is not None:
            end, self.ended = self.ended, None
            self._out(end)

    def close(self) -> None:
        for r in self.queue:
            if r.pipeline is not None:
                r.pipeline.close()
        self.queue.clear()
        if self._hold_taken:
            self._hold_taken = False
            self.pipeline.context.valve.open()


class _MuxSession:
    """A shared sub-pipeline and the streams waiting for its responses, oldest first."""

    __slots__ = ("cfg", "key", "pipeline", "timer", "users", "waiting")

    def __init__(self, cfg: _MuxCfg, key: Hashable) -> None:
        self.cfg = cfg
        self.key = key
        self.waiting: deque[Mux] = deque()
        self.users = 0
        self.timer: asyncio.TimerHandle | None = None
        assert cfg.layout is not None
        self.pipeline = cfg.layout.spawn(Context(), self._on_output)
        self.pipeline.start()

    def _on_output(self, evt: Event) -> None:
        t = type(evt)
        if t is StreamEnd:
            self.end(evt)  # type: ignore[arg-type]
            return
        if not self.waiting:
            return  # a response nobody asked for
        m = self.waiting[0]
        if t is MessageEnd:
            self.waiting.popleft()
        m.deliver(evt)

    def end(self, evt: StreamEnd) -> None:
        if self.cfg.sessions.get(self.key) is self:
            del self.cfg.sessions[self.key]
        waiting, self.waiting = self.waiting, deque()
        for m in waiting:
            m.deliver(StreamEnd(evt.error or "SessionClosed"))
        if self.timer is not None:
            self.timer.cancel()
        self.pipeline.close()

    def join(self) -> None:
        self.users += 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def leave(self) -> None:
        self.users -= 1
        if self.users == 0 and not self.pipeline.closed:
            self.timer = asyncio.get_running_loop().call_later(self.cfg.idle, self.end, StreamEnd())


class _MuxCfg(_One):
    __slots__ = ("idle", "key", "sessions")

    def __init__(self, layout: Layout | None, key: Any, idle: float) -> None:
        super().__init__(layout)
        self.key = key
        self.idle = idle
        self.sessions: dict[Hashable, _MuxSession] = {}


class Mux(Filter):
    """Sends whole messages to a shared session and passes back this stream's responses."""

    __slots__ = ("buffer", "ended", "input_end", "session")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.buffer: list[Event] = []
        self.session: _MuxSession | None = None
        self.input_end: StreamEnd | None = None
        self.ended = False

    def _session(self, evt: Event) -> _MuxSession:
        s = self.session
        if s is None or s.pipeline.closed:
            cfg: _MuxCfg = self.cfg
            ctx = self.pipeline.context
            key = (
                cfg.key.call(evt, ctx)
                if isinstance(cfg.key, Callback)
                else (ctx if cfg.key is None else cfg.key)
            )
            s = cfg.sessions.get(key)
            if s is None or s.pipeline.closed:
                s = cfg.sessions[key] = _MuxSession(cfg, key)
            if self.session is not None:
                self.session.leave()
            s.join()
            self.session = s
        return s

    def process(self, evt: Event) -> None:
        if self.ended:
            return
        t = type(evt)
        if t is StreamEnd:
            self.input_end = evt  # type: ignore[assignment]
            if not self._pending():
                self._finish(evt)  # type: ignore[arg-type]
            return
        self.buffer.append(evt)
        if t is MessageEnd:
            s = self._session(self.buffer[0])
            s.waiting.append(self)
            evts, self.buffer = self.buffer, []
            inp = s.pipeline.input
            for e in evts:
                inp(e)

    def _pending(self) -> bool:
        s = self.session
        return s is not None and self in s.waiting

    def deliver(self, evt: Event) -> None:
        if self.ended:
            return
        if type(evt) is StreamEnd:
            self._finish(evt)
            return
        self._out(evt)
        if type(evt) is MessageEnd and self.input_end is not None and not self._pending():
            self._finish(self.input_end)

    def _finish(self, evt: StreamEnd) -> None:
        self.close()
        self._out(evt)

    def close(self) -> None:
        if not self.ended:
            self.ended = True
            # stays in the session's queue, if there, so that the responses still line up
            if self.session is not None:
                self.session.leave()


# -- builder methods ------------------------------------------------------------------------


def _sub(target: LayoutLike | None) -> tuple[Layout | None, int]:
    return (None, 1) if target is None else (as_layout(target), 0)


def link(self: Builder, target: LayoutLike | None = None) -> Builder:
    """Pass the stream through a sub-pipeline of ``target`` (or of the following ``.to()``)."""
    layout, subs = _sub(target)
    return self.add("link", Link, _One(layout), subs)


def pipe(self: Builder, selector: Any, targets: dict[Hashable, LayoutLike] | None = None) -> Builder:
    """Pass the stream through the layout ``selector(first_event[, ctx])`` returns.

    With ``targets``, the selector returns a key of that dict. A selector may also be a layout.
    Returning None passes events through unchanged.
    """
    if isinstance(selector, Layout):
        return self.add("pipe", Link, _One(selector))
    cb = adapt(selector, 1, "pipe()")
    tmap = None if targets is None else {k: as_layout(v) for k, v in targets.items()}
    return self.add("pipe", Pipe, _PipeCfg(cb, tmap))


def branch(self: Builder, *args: Any) -> Builder:
    """``branch(cond1, layout1, cond2, layout2, ..., [default])``: the first true condition wins.

    A condition is a constant or a function of the first event (and the context). A last layout
    without a condition is the default; with no default and no match, events pass through.
    """
    pairs: list[tuple[Callback | Any, Layout]] = []
    items = list(args)
    while len(items) >= 2:
        cond, target = items.pop(0), items.pop(0)
        c = adapt(cond, 1, "branch() condition") if callable(cond) and not isinstance(cond, Layout) else cond
        pairs.append((c, as_layout(target)))
    if items:
        pairs.append((None, as_layout(items[0])))
    if not pairs:
        raise TypeError("branch() needs at least one condition and layout")
    return self.add("branch", Branch, tuple(pairs))


def fork(self: Builder, target: LayoutLike | None = None, count: int = 1) -> Builder:
    """Copy the stream into ``count`` sub-pipelines whose output is discarded."""
    layout, subs = _sub(target)
    if count < 1:
        raise ValueError("fork(): count must be at least 1")
    return self.add("fork", Fork, _ForkCfg(layout, count), subs)


def demux(self: Builder, target: LayoutLike | None = None) -> Builder:
    """One sub-pipeline per message; outputs come back in the order of the messages."""
    layout, subs = _sub(target)
    return self.add("demux", Demux, _One(layout), subs)


def mux(
    self: Builder, target: LayoutLike | None = None, key: Any = None, idle: float = MUX_IDLE_SECONDS
) -> Builder:
    """Merge messages onto a shared sub-pipeline chosen by ``key``.

    ``key`` is a constant or a function of the first event of a message (and the context); by
    default each inbound connection has its own session. A session with no user for ``idle``
    seconds closes.
    """
    layout, subs = _sub(target)
    k = adapt(key, 1, "mux() key") if callable(key) else key
    return self.add("mux", Mux, _MuxCfg(layout, k, idle), subs)


register(link=link, pipe=pipe, branch=branch, fork=fork, demux=demux, mux=mux)

__all__ = ["Branch", "Data", "Demux", "Fork", "Link", "Mux", "Pipe"]
