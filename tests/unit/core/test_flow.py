"""Valves, holds and bounded event queues."""

from __future__ import annotations

import pytest

from pipework.core import Data, EventQueue, Hold, MessageStart, Valve


def test_valve_pauses_once_and_resumes_when_every_hold_is_released() -> None:
    calls: list[str] = []
    v = Valve(lambda: calls.append("pause"), lambda: calls.append("resume"))
    a, b = Hold(v), Hold(v)
    a.take()
    a.take()  # a second take by the same source counts once
    b.take()
    assert calls == ["pause"]
    a.release()
    assert calls == ["pause"]
    assert v.paused
    b.release()
    assert calls == ["pause", "resume"]
    assert not v.paused
    b.release()
    assert calls == ["pause", "resume"]


def test_valve_refuses_more_opens_than_closes() -> None:
    with pytest.raises(RuntimeError):
        Valve().open()


def test_event_queue_holds_the_reader_past_its_limit() -> None:
    calls: list[str] = []
    v = Valve(lambda: calls.append("pause"), lambda: calls.append("resume"))
    q = EventQueue(v, high=10, low=4)
    q.push(MessageStart())
    q.push(Data(b"12345"))
    assert calls == []
    q.push(Data(b"123456"))
    assert calls == ["pause"]
    assert q.size == 11
    assert q.pop() == MessageStart()
    assert q.pop() == Data(b"12345")
    assert calls == ["pause"]  # 6 bytes left, above low
    q.pop()
    assert calls == ["pause", "resume"]
    assert q.size == 0
    assert not q


def test_event_queue_clear_releases() -> None:
    calls: list[str] = []
    v = Valve(lambda: calls.append("pause"), lambda: calls.append("resume"))
    q = EventQueue(v, high=1)
    q.push(Data(b"ab"))
    q.clear()
    assert calls == ["pause", "resume"]
