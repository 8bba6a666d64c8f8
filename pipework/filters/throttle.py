"""``throttle_data_rate`` and ``throttle_concurrency``: flow control by rate and by count.

Both hold events back rather than drop them, and while they hold they pause the inbound reader
(back-pressure), so a throttled stream costs bounded memory.

- ``throttle_data_rate(rate, burst=None)`` lets ``rate`` bytes a second through (``Data`` is
  split when a chunk is larger than what is available). A number makes one bucket per stream; a
  :class:`~pipework.policy.TokenBucket` is shared by every stream that uses it.
- ``throttle_concurrency(limit)`` lets at most ``limit`` streams through at once; a later stream
  waits, in arrival order, until one of them ends. The count is shared by all pipelines of the
  layout (or by every layout given the same :class:`ConcurrencyLimit`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ..core import Builder, Data, Event, EventQueue, Filter, StreamEnd, register
from ..policy import TokenBucket


class ThrottleDataRate(Filter):
    __slots__ = ("bucket", "queue", "timer")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.bucket: TokenBucket = cfg if isinstance(cfg, TokenBucket) else TokenBucket(*cfg)
        self.queue: EventQueue | None = None
        self.timer: asyncio.TimerHandle | None = None

    def process(self, evt: Event) -> None:
        q = self.queue
        if self.timer is None and not q:
            if type(evt) is not Data:
                self._out(evt)
                return
            data = evt.data
            got = int(self.bucket.take(len(data), asyncio.get_running_loop().time()))
            if got >= len(data):
                self._out(evt)
                return
            if got > 0:
                self._out(Data(data[:got]))
                evt = Data(data[got:])
        if q is None:
            q = self.queue = EventQueue(self.pipeline.context.valve, high=0)
        q.push(evt)
        if self.timer is None:
            self._drain()

    def _drain(self) -> None:
        """Output queued events while the bucket allows; split a chunk it allows only part of."""
        self.timer = None
        q = self.queue
        if q is None or self.pipeline.closed:
            return
        loop = asyncio.get_running_loop()
        try:
            while q:
                evt = q.events[0]
                if type(evt) is Data:
                    data = evt.data
                    got = int(self.bucket.take(len(data), loop.time()))
                    if got < len(data):
                        if got > 0:
                            q.events[0] = Data(data[got:])
                            q.size -= got
                            self._out(Data(data[:got]))
                        delay = self.bucket.wait_time(len(data) - got, loop.time())
                        self.timer = loop.call_later(max(delay, 0.001), self._drain)
                        return
                self._out(q.pop())
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.queue is not None:
            self.queue.clear()


class ConcurrencyLimit:
    """At most ``limit`` streams at once; the rest wait in arrival order."""

    __slots__ = ("active", "limit", "waiting")

    def __init__(self, limit: int) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"a concurrency limit must be an integer >= 1, not {limit!r}")
        self.limit = limit
        self.active = 0
        self.waiting: deque[ThrottleConcurrency] = deque()

    def release(self) -> None:
        self.active -= 1
        while self.waiting and self.active < self.limit:
            f = self.waiting.popleft()
            if not f.pipeline.closed:
                self.active += 1
                f.admit()


class ThrottleConcurrency(Filter):
    __slots__ = ("queue", "state")

    # state: 0 new, 1 waiting, 2 admitted, 3 done
    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.state = 0
        self.queue: EventQueue | None = None

    def process(self, evt: Event) -> None:
        st = self.state
        if st == 2:
            self._out(evt)
            if type(evt) is StreamEnd:
                self._done()
            return
        if st == 3:
            self._out(evt)
            return
        lim: ConcurrencyLimit = self.cfg
        if st == 0:
            if lim.active < lim.limit:
                lim.active += 1
                self.state = 2
                self.process(evt)
                return
            self.state = 1
            lim.waiting.append(self)
            self.queue = EventQueue(self.pipeline.context.valve, high=0)
        self.queue.push(evt)  # type: ignore[union-attr]
        if type(evt) is StreamEnd:
            # gave up while waiting: leave the line without taking a slot
            try:
                lim.waiting.remove(self)
            except ValueError:
                pass
            self.state = 3
            self._flush()

    def admit(self) -> None:
        self.state = 2
        try:
            self._flush()
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _flush(self) -> None:
        q = self.queue
        while q:
            evt = q.pop()
            self._out(evt)
            if type(evt) is StreamEnd and self.state == 2:
                self._done()
        if q is not None:
            q.clear()

    def _done(self) -> None:
        if self.state == 2:
            self.state = 3
            self.cfg.release()

    def close(self) -> None:
        if self.state == 2:
            self._done()
        elif self.state == 1:
            try:
                self.cfg.waiting.remove(self)
            except ValueError:
                pass
            self.state = 3
        if self.queue is not None:
            self.queue.clear()


def throttle_data_rate(self: Builder, rate: float | TokenBucket, burst: float | None = None) -> Builder:
    """Let at most ``rate`` bytes a second through (see the module docstring)."""
    if isinstance(rate, TokenBucket):
        return self.add("throttle_data_rate", ThrottleDataRate, rate)
    TokenBucket(rate, burst)  # validate now, at load
    return self.add("throttle_data_rate", ThrottleDataRate, (rate, burst))


def throttle_concurrency(self: Builder, limit: int | ConcurrencyLimit) -> Builder:
    """Let at most ``limit`` streams through at once (see the module docstring)."""
    lim = limit if isinstance(limit, ConcurrencyLimit) else ConcurrencyLimit(limit)
    return self.add("throttle_concurrency", ThrottleConcurrency, lim)


register(throttle_data_rate=throttle_data_rate, throttle_concurrency=throttle_concurrency)
