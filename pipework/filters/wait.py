"""``wait(condition)``: hold the stream until a condition becomes true.

Events are held (in a bounded queue that pauses the reader) until ``condition([ctx])`` returns
true; it is checked on every incoming event and every ``interval`` seconds while anything waits.
With ``timeout``, a stream still waiting after that many seconds ends with
``StreamEnd("WaitTimeout")``. ``condition`` may be an ``async`` function, which is awaited
instead of polled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..core import Builder, Event, EventQueue, Filter, StreamEnd, adapt, register
from ..core.callback import Callback
from ..net import spawn


class _WaitCfg:
    __slots__ = ("cond", "interval", "timeout")

    def __init__(self, cond: Callback, interval: float, timeout: float) -> None:
        self.cond = cond
        self.interval = interval
        self.timeout = timeout


class Wait(Filter):
    __slots__ = ("deadline", "gave_up", "open", "queue", "task", "timer")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.open = False
        self.gave_up = False
        self.queue: EventQueue | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        self.deadline = 0.0

    def process(self, evt: Event) -> None:
        if self.gave_up:
            return
        if self.open:
            self._out(evt)
            return
        q = self.queue
        if q is None:
            q = self.queue = EventQueue(self.pipeline.context.valve)
            loop = asyncio.get_running_loop()
            cfg: _WaitCfg = self.cfg
            self.deadline = loop.time() + cfg.timeout if cfg.timeout > 0 else 0.0
            if cfg.cond.is_async:
                q.push(evt)
                self.task = spawn(self._await(), "wait condition")
                return
        q.push(evt)
        if not self.cfg.cond.is_async:
            self._check()

    async def _await(self) -> None:
        cfg: _WaitCfg = self.cfg
        try:
            async with asyncio.timeout(cfg.timeout or None):
                ok = await cfg.cond.call(self.pipeline.context)
        except TimeoutError:
            ok = False
        if not self.pipeline.closed:
            self._release() if ok else self._give_up()

    def _check(self) -> None:
        self.timer = None
        try:
            if self.cfg.cond.call(self.pipeline.context):
                self._release()
                return
        except Exception as exc:
            self.pipeline.context.fail(exc)
            return
        loop = asyncio.get_running_loop()
        if self.deadline and loop.time() >= self.deadline:
            self._give_up()
        elif self.timer is None:
            self.timer = loop.call_later(self.cfg.interval, self._check)

    def _release(self) -> None:
        self.open = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        q = self.queue
        try:
            while q:
                self._out(q.pop())
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _give_up(self) -> None:
        self.gave_up = True
        if self.queue is not None:
            self.queue.clear()
        self._out(StreamEnd("WaitTimeout"))

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None:
            self.task.cancel()
        if self.queue is not None:
            self.queue.clear()


def wait(self: Builder, condition: Any, *, timeout: float = 0.0, interval: float = 0.01) -> Builder:
    """Hold events until ``condition([ctx])`` is true (see the module docstring)."""
    if interval <= 0:
        raise ValueError(f"wait(): interval must be > 0 seconds, not {interval!r}")
    if timeout < 0:
        raise ValueError(f"wait(): timeout must be >= 0 seconds, not {timeout!r}")
    return self.add("wait", Wait, _WaitCfg(adapt(condition, 0, "wait()"), interval, timeout))


register(wait=wait)
