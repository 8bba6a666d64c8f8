"""``mirror``: send a copy of each request to another upstream and ignore its answer (shadow
traffic), as nginx's ``mirror`` and Envoy's ``request_mirror_policies``.

Theory of operation: ``mirror(target)`` sits in the sub-pipeline ``demux_http`` makes per
request, before the step that answers (``proxy``). For a request it picks (a ``fraction`` of
them, at random), it starts a pipeline of its own — ``proxy(target)``, or the layout given — with
a context of its own (the client's addresses, but its own variables and its own valve, so a
slow mirror never pauses the client) and feeds it a copy of the request head (``Host`` with
``host_suffix`` appended, as Envoy's ``-shadow``; no ``Expect``) and of the body as it passes.
The request itself goes on untouched and at once: the client never waits for the mirror.

The mirror's pipeline outlives the request: it ends with its response (which is dropped), or
after ``timeout`` seconds. Bounded: at most ``max_in_flight`` mirrored requests are open per step
(past it a request is not mirrored: ``dropped``), and a body longer than ``max_body`` is not
copied past it (the mirrored request is ended there: ``cut``), as is one whose client went
away in the middle. What each step did is counted by outcome in :data:`COUNTS` (the metrics'
``pipework_mirror_requests_total``): ``completed`` (an answer under 500), ``failed`` (500 and
over, no answer, or the timeout), ``dropped``, ``cut``.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Context, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, register
from ..core.checks import seconds, whole
from ..core.pipeline import Layout, Pipeline
from ..net.loop import running_loop
from .proxy import proxy

log = logging.getLogger("pipework")

OUTCOMES = ("completed", "failed", "dropped", "cut")
#: mirrored requests by step name and outcome, for the metrics
COUNTS: dict[str, dict[str, int]] = {}


class _MirrorCfg:
    __slots__ = (
        "counts",
        "fraction",
        "host_suffix",
        "in_flight",
        "layout",
        "max_body",
        "max_in_flight",
        "name",
        "timeout",
    )

    def __init__(
        self,
        layout: Layout,
        name: str,
        fraction: float,
        max_body: int,
        max_in_flight: int,
        timeout: float,
        host_suffix: bytes,
    ) -> None:
        self.layout = layout
        self.name = name
        self.fraction = fraction
        self.max_body = max_body
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.host_suffix = host_suffix
        self.in_flight = 0
        self.counts = COUNTS.setdefault(name, dict.fromkeys(OUTCOMES, 0))


class _Shadow:
    """One mirrored request's pipeline, from its start to its response's end (or the timeout)."""

    __slots__ = ("cfg", "done", "pipeline", "timer")

    def __init__(self, cfg: _MirrorCfg, parent: Context) -> None:
        self.cfg = cfg
        self.done = False
        cfg.in_flight += 1
        ctx = Context(parent.inbound)
        ctx.tls = parent.tls
        ctx.fail = self._failed
        self.timer = running_loop().call_later(cfg.timeout, self.finish, "failed")
        self.pipeline: Pipeline = cfg.layout.spawn(ctx, self._answer)
        self.pipeline.start()

    def _answer(self, evt: Event) -> None:
        t = type(evt)
        if t is MessageStart and isinstance(evt.head, ResponseHead):  # type: ignore[attr-defined]
            if evt.head.status >= 500:  # type: ignore[attr-defined]
                self.finish("failed")
        elif t is MessageEnd:
            self.finish("completed")
        elif t is StreamEnd:
            self.finish("failed")

    def _failed(self, exc: BaseException) -> None:
        log.debug("mirror %s: %s", self.cfg.name, exc)
        self.finish("failed")

    def finish(self, outcome: str) -> None:
        if self.done:
            return
        self.done = True
        cfg = self.cfg
        cfg.in_flight -= 1
        cfg.counts[outcome] += 1
        self.timer.cancel()
        running_loop().call_soon(self.pipeline.close)  # not from inside its own output


class Mirror(Filter):
    """See the module docstring: under ``demux_http``, one instance per request (elsewhere, the
    requests of a stream one after the other)."""

    __slots__ = ("shadow", "size")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.shadow: _Shadow | None = None  # the copy of the request passing now
        self.size = 0

    def process(self, evt: Event) -> None:
        t = type(evt)
        s = self.shadow
        if t is MessageStart:
            if s is not None:  # a new request before the last one's end
                self._cut()
            if isinstance(evt.head, RequestHead):  # type: ignore[attr-defined]
                self._begin(evt.head)  # type: ignore[attr-defined]
        elif s is not None:
            if s.done:  # timed out
                self.shadow = None
            elif t is Data:
                self.size += len(evt.data)  # type: ignore[attr-defined]
                if self.size > self.cfg.max_body:
                    self._cut()
                else:
                    s.pipeline.input(evt)
            elif t is MessageEnd:
                self.shadow = None  # whole: on its own from here
                s.pipeline.input(evt)
            elif t is StreamEnd:
                self._cut()
        self._out(evt)

    def _begin(self, head: RequestHead) -> None:
        cfg: _MirrorCfg = self.cfg
        if cfg.fraction < 1.0 and random.random() >= cfg.fraction:
            return
        if cfg.in_flight >= cfg.max_in_flight:
            cfg.counts["dropped"] += 1
            return
        fields = []
        for k, v in head.raw_headers:
            kl = k.lower()
            if kl == b"expect":
                continue
            if kl == b"host" and cfg.host_suffix:
                v = v + cfg.host_suffix
            fields.append((k, v))
        copy = RequestHead(head.method, head.target, head.version, fields, head.keep_alive)
        self.size = 0
        s = self.shadow = _Shadow(cfg, self.pipeline.context)
        s.pipeline.input(MessageStart(copy))

    def _cut(self) -> None:
        """Stop copying: the mirrored request is not whole, so it is dropped."""
        s, self.shadow = self.shadow, None
        if s is not None:
            s.finish("cut")

    def close(self) -> None:
        if self.shadow is not None:  # the request ended (or was cut off) before its body did
            self._cut()


def mirror(
    self: Builder,
    target: Any,
    *,
    fraction: float = 1.0,
    max_body: int = 1024 * 1024,
    max_in_flight: int = 256,
    timeout: float = 10.0,
    host_suffix: str = "",
    name: str = "mirror",
) -> Builder:
    """Send a copy of each request (a ``fraction`` of them) to ``target`` — what ``proxy`` takes,
    or a :class:`~pipework.core.pipeline.Layout` — and drop its answer; the request goes on
    untouched and never waits for the copy (see the module docstring). ``max_body``: bytes of
    body copied (a longer request's copy is dropped); ``max_in_flight``: copies open at once
    (past it requests are not copied); ``timeout``: seconds a copy may take; ``host_suffix``:
    appended to the copy's ``Host`` (Envoy's ``"-shadow"``); ``name``: the step's name in the
    metrics."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
        raise ValueError(f"mirror(): fraction must be from 0 to 1, not {fraction!r}")
    whole(max_body, "mirror(): max_body")
    whole(max_in_flight, "mirror(): max_in_flight", 1)
    seconds(timeout, "mirror(): timeout", zero=False)
    if not isinstance(host_suffix, str) or any(c in host_suffix for c in " \r\n\t/"):
        raise ValueError(f"mirror(): host_suffix must be text without spaces or slashes, not {host_suffix!r}")
    if isinstance(target, Layout):
        layout = target
    else:
        layout = proxy(Builder("mirror"), target, retry=False, timeout=float(timeout)).build()
    cfg = _MirrorCfg(
        layout, name, float(fraction), max_body, max_in_flight, float(timeout), host_suffix.encode()
    )
    return self.add("mirror", Mirror, cfg)


register(mirror=mirror)
