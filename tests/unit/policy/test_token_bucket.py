"""Token buckets and round-robin: pure arithmetic with the clock passed in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipework.lb import RoundRobin
from pipework.policy import TokenBucket


def test_bucket_starts_full_and_refills_at_rate() -> None:
    b = TokenBucket(100, burst=50)
    assert b.take(80, now=0.0) == 50
    assert b.take(1, now=0.0) == 0
    assert b.wait_time(20, now=0.0) == pytest.approx(0.2)
    assert b.take(20, now=0.2) == pytest.approx(20)
    assert b.take(1000, now=100.0) == 50  # never more than the burst


def test_bucket_ignores_a_clock_that_goes_back() -> None:
    b = TokenBucket(10, burst=10)
    b.take(10, now=5.0)
    assert b.take(5, now=4.0) == 0


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (10, 0)])
def test_bucket_rejects_nonsense(rate: float, burst: float | None) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        TokenBucket(rate, burst)


@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 10)), max_size=50))
def test_bucket_never_gives_more_than_burst_plus_rate_times_time(steps: list[tuple[float, float]]) -> None:
    b = TokenBucket(1000, burst=500)
    now = 0.0
    total = 0.0
    for amount, dt in steps:
        now += dt
        got = b.take(amount, now)
        assert 0 <= got <= amount
        total += got
    assert total <= 500 + 1000 * now + 1e-6


def test_round_robin() -> None:
    rr = RoundRobin(["a", "b", "c"])
    assert [rr.next() for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]
    with pytest.raises(ValueError, match="at least one"):
        RoundRobin([])
