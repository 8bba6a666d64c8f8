"""Explicit back-pressure: valves that pause a reader, and a bounded event queue.

Theory of operation: the reading side of a connection is paused while anything downstream is
full. Each connection owns one :class:`Valve` whose ``pause``/``resume`` callbacks stop and start
reading its socket. Anything that cannot take more (an outbound connection whose write buffer is
over its high-water mark, a throttle out of tokens, a queue waiting for a condition) takes a
:class:`Hold` on the valve and lets go when it can take more again; the socket reads again only
when every hold is released. Holds are counted, so several sources may pause one reader.

The other direction is the same idea: a connection whose own writes are backing up tells the
context (:meth:`pipework.core.context.Context.set_output_paused`), and every outbound connection
that feeds it stops reading until it drains.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .events import Event


def _nothing() -> None:
    pass


class Valve:
    """Pauses a reader while at least one hold is taken."""

    __slots__ = ("_holds", "_pause", "_resume")

    def __init__(self, pause: Callable[[], None] = _nothing, resume: Callable[[], None] = _nothing) -> None:
        self._pause = pause
        self._resume = resume
        self._holds = 0

    @property
    def paused(self) -> bool:
        return self._holds > 0

    def close(self) -> None:
        self._holds += 1
        if self._holds == 1:
            self._pause()

    def open(self) -> None:
        if self._holds <= 0:
            raise RuntimeError("valve opened more often than closed")
        self._holds -= 1
        if self._holds == 0:
            self._resume()


class Hold:
    """One source's hold on a valve; taking or releasing it twice is a no-op."""

    __slots__ = ("held", "valve")

    def __init__(self, valve: Valve) -> None:
        self.valve = valve
        self.held = False

    def take(self) -> None:
        if not self.held:
            self.held = True
            self.valve.close()

    def release(self) -> None:
        if self.held:
            self.held = False
            self.valve.open()


class EventQueue:
    """Events held back by a filter, with a byte limit that pauses the reader when passed.

    The limit is soft: events already in flight when the reader pauses are still accepted (a
    paused socket delivers at most one more chunk), so memory stays within ``limit`` plus one
    read. ``high`` is the point at which the hold is taken, ``low`` where it is let go.
    """

    __slots__ = ("_hold", "events", "high", "low", "size")

    def __init__(self, valve: Valve, high: int = 256 * 1024, low: int | None = None) -> None:
        self.events: deque[Event] = deque()
        self.size = 0
        self.high = high
        self.low = high // 2 if low is None else low
        self._hold = Hold(valve)

    def __len__(self) -> int:
        return len(self.events)

    def push(self, evt: Event) -> None:
        self.events.append(evt)
        data = getattr(evt, "data", None)
        if data is not None:
            self.size += len(data)
            if self.size > self.high:
                self._hold.take()

    def pop(self) -> Event:
        evt = self.events.popleft()
        data = getattr(evt, "data", None)
        if data is not None:
            self.size -= len(data)
            if self.size <= self.low:
                self._hold.release()
        return evt

    def clear(self) -> None:
        self.events.clear()
        self.size = 0
        self._hold.release()
