"""Rate limiters with a fake clock: exact allowance sequences, bounds checked against a log."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.policy.ratelimit import (
    KeyTable,
    RateLimitDecision,
    SlidingWindowLimiter,
    TokenBucketLimiter,
    rate_limit_headers,
)

# --- token bucket -------------------------------------------------------------------------------


def test_bucket_allows_the_burst_then_refills_at_limit_per_window() -> None:
    rl = TokenBucketLimiter(5, 10.0)  # 5 per 10 s: one token every 2 s
    got = [rl.hit("a", 0.0).allowed for _ in range(7)]
    assert got == [True] * 5 + [False] * 2
    d = rl.hit("a", 1.0)
    assert (d.allowed, d.remaining) == (False, 0)
    assert d.retry_after == pytest.approx(1.0)  # the next token comes at t=2
    assert d.reset == pytest.approx(9.0)  # full again at t=10
    assert rl.hit("a", 2.0).allowed
    assert not rl.hit("a", 2.0).allowed
    d = rl.hit("a", 100.0)  # a long pause never saves more than the limit
    assert (d.allowed, d.remaining) == (True, 4)
    assert [rl.hit("a", 100.0).allowed for _ in range(5)] == [True] * 4 + [False]


def test_bucket_sequence_at_steady_rate_is_exact() -> None:
    rl = TokenBucketLimiter(3, 3.0)  # 1 a second, 3 saved
    t, seen = 0.0, []
    for _ in range(12):  # two a second: the burst lasts to t=2, then every other passes
        seen.append(rl.hit("k", t).allowed)
        t += 0.5
    assert seen == [True, True, True, True, True, False, True, False, True, False, True, False]


def test_bucket_remaining_and_reset_after_each_hit() -> None:
    rl = TokenBucketLimiter(100, 60.0)
    d = rl.hit("x", 0.0)
    assert d == RateLimitDecision(True, 100, 99, pytest.approx(0.6), 0.0, 60.0)
    d = rl.hit("x", 0.0, cost=49)
    assert (d.remaining, d.reset) == (50, pytest.approx(30.0))
    assert d.policy == "100;w=60"


def test_keys_are_independent() -> None:
    rl = TokenBucketLimiter(1, 1.0)
    assert rl.hit("a", 0.0).allowed
    assert not rl.hit("a", 0.0).allowed
    assert rl.hit("b", 0.0).allowed
    assert rl.hit(("10.0.0.1", "/api"), 0.0).allowed


def test_bucket_ignores_a_clock_that_goes_back() -> None:
    rl = TokenBucketLimiter(2, 2.0)
    rl.hit("a", 5.0)
    rl.hit("a", 5.0)
    assert not rl.hit("a", 4.0).allowed


# --- bytes: cost per hit -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TokenBucketLimiter, SlidingWindowLimiter])
def test_bytes_limit_charges_the_cost_and_refusals_take_nothing(
    cls: type[TokenBucketLimiter | SlidingWindowLimiter],
) -> None:
    rl = cls(10_000, 1.0)  # 10 kB a second
    assert rl.hit("c", 0.0, cost=6000).remaining == 4000
    d = rl.hit("c", 0.0, cost=6000)
    assert not d.allowed
    assert d.remaining == 4000  # the refused 6000 were not charged
    assert rl.hit("c", 0.0, cost=4000).allowed
    assert rl.hit("c", 0.0, cost=0).allowed  # a zero cost asks without spending


@pytest.mark.parametrize("cls", [TokenBucketLimiter, SlidingWindowLimiter])
def test_a_cost_above_the_limit_never_passes(cls: type[TokenBucketLimiter | SlidingWindowLimiter]) -> None:
    rl = cls(100, 1.0)
    d = rl.hit("c", 0.0, cost=101)
    assert not d.allowed
    assert d.retry_after == math.inf
    assert all(k != b"retry-after" for k, _ in rate_limit_headers(d))
    with pytest.raises(ValueError, match="cost must be >= 0"):
        rl.hit("c", 0.0, cost=-1)


@pytest.mark.parametrize("cls", [TokenBucketLimiter, SlidingWindowLimiter])
def test_peek_then_hit_checks_two_limits_before_charging_either(
    cls: type[TokenBucketLimiter | SlidingWindowLimiter],
) -> None:
    requests, volume = cls(10, 1.0), cls(1000, 1.0)

    def admit(now: float, size: int) -> bool:
        if not (requests.peek("k", now).allowed and volume.peek("k", now, size).allowed):
            return False
        return requests.hit("k", now).allowed and volume.hit("k", now, size).allowed

    assert admit(0.0, 900)
    assert not admit(0.0, 200)  # bytes refuse: the request count is not charged
    assert requests.peek("k", 0.0).remaining == 8  # (peek reports what would remain)
    assert len(cls(1, 1.0).keys) == 0
    fresh = cls(5, 1.0)
    fresh.peek("new", 0.0)
    assert "new" not in fresh.keys  # a peek adds no key


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (10, 0.0), (10, -1.0)])
def test_limiters_reject_nonsense(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucketLimiter(limit, window)
    with pytest.raises(ValueError, match="must be"):
        SlidingWindowLimiter(limit, window)


# --- sliding window ------------------------------------------------------------------------------


def test_sliding_window_weights_the_previous_window() -> None:
    rl = SlidingWindowLimiter(10, 60.0)
    assert [rl.hit("k", 50.0).allowed for _ in range(11)] == [True] * 10 + [False]
    # at t=75 a quarter of the next window has gone: estimate = 10 * 0.75 + 0 = 7.5
    d = rl.hit("k", 75.0)
    assert (d.allowed, d.remaining) == (True, 1)  # 8.5 after this hit: 1 whole unit left
    assert rl.hit("k", 75.0).allowed  # 9.5
    d = rl.hit("k", 75.0)
    assert not d.allowed
    # the estimate 9.5 must fall to 9: prev's weight 0.75 -> 0.7, at t = 60 + 18 = 78
    assert d.retry_after == pytest.approx(3.0)
    assert rl.hit("k", 78.0).allowed
    assert d.reset == pytest.approx(105.0)  # both windows' counts gone at t=180


def test_sliding_window_retry_after_rolls_into_the_next_window() -> None:
    rl = SlidingWindowLimiter(4, 10.0)
    for _ in range(4):
        assert rl.hit("k", 2.0).allowed
    d = rl.hit("k", 3.0)
    # curr=4 alone fills the quota: next window, once 1/4 of it slid out -> t = 10 + 2.5
    assert d.retry_after == pytest.approx(9.5)
    assert not rl.hit("k", 12.4).allowed
    assert rl.hit("k", 12.5).allowed


def test_sliding_window_forgets_after_two_windows() -> None:
    rl = SlidingWindowLimiter(2, 1.0)
    rl.hit("k", 0.0)
    rl.hit("k", 0.0)
    d = rl.hit("k", 2.0)
    assert (d.allowed, d.remaining) == (True, 1)


def _log_reference(
    limit: int, window: float, arrivals: list[tuple[float, int]]
) -> tuple[list[bool], list[tuple[float, int]]]:
    """The sliding-window-counter formula recomputed from a log of admitted hits (brute force)."""
    admitted: list[tuple[float, int]] = []
    verdicts = []
    for t, cost in arrivals:
        index = math.floor(t / window)
        start = index * window
        curr = sum(c for s, c in admitted if start <= s)
        prev = sum(c for s, c in admitted if start - window <= s < start)
        estimate = prev * (1 - (t - start) / window) + curr
        ok = estimate + cost <= limit + 1e-9
        verdicts.append(ok)
        if ok:
            admitted.append((t, cost))
    return verdicts, admitted


# times on a 1/64 grid and a power-of-two window keep the float arithmetic exact
_ARRIVALS = st.lists(st.tuples(st.integers(0, 64 * 8), st.integers(1, 5)), min_size=1, max_size=120).map(
    lambda xs: sorted((t / 64, c) for t, c in xs)
)


@settings(max_examples=200, deadline=None)
@given(_ARRIVALS, st.integers(1, 12))
def test_sliding_window_matches_the_log_and_its_bounds(arrivals: list[tuple[float, int]], limit: int) -> None:
    w = 2.0
    rl = SlidingWindowLimiter(limit, w)
    verdicts = [rl.hit("k", t, cost).allowed for t, cost in arrivals]
    ref, admitted = _log_reference(limit, w, arrivals)
    assert verdicts == ref
    for t, _ in arrivals:
        # every aligned window admits at most the limit
        start = math.floor(t / w) * w
        assert sum(c for s, c in admitted if start <= s < start + w) <= limit
        # every sliding window of length w admits at most twice the limit
        assert sum(c for s, c in admitted if t - w < s <= t) <= 2 * limit
    for (t, cost), ok in zip(arrivals, verdicts, strict=True):
        if not ok:  # a refusal is deserved: over limit - cost admitted in the last 2 windows
            assert sum(c for s, c in admitted if t - 2 * w <= s <= t) > limit - cost


@pytest.mark.parametrize("overload", [1.2, 2.0, 5.0])
def test_sliding_window_accuracy_against_an_exact_sliding_log(overload: float) -> None:
    """Poisson traffic above the limit: the counter against an exact log of timestamps.

    Decisions one by one disagree often (both sit at the limit, a request apart), so compare what
    matters: the total admitted (measured within 1.6%) and the most admitted in any window of
    length ``w`` (measured 1.18x the limit at worst, against the 2x the bound allows).
    """
    rng = random.Random(6)
    limit, w = 50, 10.0
    counter = SlidingWindowLimiter(limit, w)
    log: deque[float] = deque()
    admitted: list[float] = []
    t, exact = 0.0, 0
    for _ in range(20_000):
        t += rng.expovariate(overload * limit / w)
        while log and log[0] <= t - w:
            log.popleft()
        if len(log) < limit:
            log.append(t)
            exact += 1
        if counter.hit("k", t).allowed:
            admitted.append(t)
    assert len(admitted) / exact == pytest.approx(1.0, abs=0.03)
    most = max(bisect_right(admitted, s) - bisect_right(admitted, s - w) for s in admitted)
    assert most <= 1.25 * limit


# --- the key table ------------------------------------------------------------------------------


def test_key_table_is_bounded_and_evicts_the_least_recently_used() -> None:
    rl = TokenBucketLimiter(1, 1000.0, max_keys=3)
    for k in "abc":
        rl.hit(k, 0.0)
    rl.hit("a", 1.0)  # a is now the most recent: b goes first
    rl.hit("d", 2.0)
    assert len(rl) == 3
    assert "b" not in rl.keys
    assert "a" in rl.keys
    assert rl.keys.evicted == 1
    for i in range(1000):  # a client inventing keys cannot grow the table
        rl.hit(f"k{i}", 3.0)
    assert len(rl) == 3


def test_key_table_drops_idle_entries_without_changing_answers() -> None:
    rl = SlidingWindowLimiter(2, 1.0)
    for i in range(20):
        rl.hit(i, 0.0)
    assert len(rl) == 20
    rl.hit("late", 1.9)
    assert len(rl) == 21  # within two windows: still remembered
    for _ in range(3):
        rl.hit("late", 2.0)
    assert len(rl) == 1  # 8 a call at most, so three calls clear them
    assert rl.keys.expired == 20
    assert rl.keys.evicted == 0
    d = rl.hit(0, 2.0)
    assert (d.allowed, d.remaining) == (True, 1)  # as if it had been kept


def test_key_table_rejects_a_zero_cap() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        KeyTable[object](0, 1.0)  # type: ignore[type-var]


# --- response fields -----------------------------------------------------------------------------


def test_headers_for_an_allowed_hit() -> None:
    rl = TokenBucketLimiter(100, 60.0)
    rl.hit("k", 0.0, cost=58)
    assert rate_limit_headers(rl.hit("k", 0.5)) == [
        (b"ratelimit-limit", b"100"),
        (b"ratelimit-remaining", b"41"),
        (b"ratelimit-reset", b"35"),  # 59 used, 0.5 s of refill: (59 - 0.8333) * 0.6 = 34.9 -> 35
        (b"ratelimit-policy", b"100;w=60"),
    ]


def test_headers_for_a_refusal_carry_retry_after_rounded_up() -> None:
    rl = SlidingWindowLimiter(10, 60.0)
    for _ in range(10):
        rl.hit("k", 50.0)
    fields = dict(rate_limit_headers(rl.hit("k", 60.5)))
    # estimate 10 * (1 - 0.5/60) = 9.917: 9 falls out at t = 66 -> 5.5 s -> 6
    assert fields[b"retry-after"] == b"6"
    assert fields[b"ratelimit-remaining"] == b"0"
    assert fields[b"ratelimit-reset"] == b"60"  # 120 - 60.5 = 59.5 -> 60


def test_headers_pick_the_binding_limit_and_list_every_policy() -> None:
    per_second, per_day = TokenBucketLimiter(10, 1.0), SlidingWindowLimiter(1000, 86400.0)
    for _ in range(3):
        per_second.hit("k", 0.0)
    a, b = per_second.hit("k", 0.0), per_day.hit("k", 0.0)
    fields = dict(rate_limit_headers(a, b))
    assert fields[b"ratelimit-limit"] == b"10"  # 6 left beats 999 left
    assert fields[b"ratelimit-policy"] == b"10;w=1, 1000;w=86400"
    refused = RateLimitDecision(False, 1000, 0, 500.0, 200.2, 86400.0)
    fields = dict(rate_limit_headers(a, refused))
    assert fields[b"ratelimit-limit"] == b"1000"
    assert fields[b"retry-after"] == b"201"
    with pytest.raises(ValueError, match="at least one"):
        rate_limit_headers()


def test_a_tiny_retry_after_is_still_one_second() -> None:
    d = RateLimitDecision(False, 5, 0, 0.001, 0.001, 1.0)
    assert dict(rate_limit_headers(d))[b"retry-after"] == b"1"
    assert dict(rate_limit_headers(d))[b"ratelimit-reset"] == b"1"


@pytest.mark.parametrize("make", [TokenBucketLimiter, SlidingWindowLimiter])
def test_take_spends_and_refuses_as_hit_does(make) -> None:  # type: ignore[no-untyped-def]
    """take() is hit() without the decision when it lets the units through: the same answers
    and the same states over a long random run."""
    rng = random.Random(7)
    a, b = make(10, 2.0, max_keys=3), make(10, 2.0, max_keys=3)
    now = 100.0
    for _ in range(3000):
        now += rng.choice((0.0, 0.01, 0.1, 0.5, 3.0))
        key, cost = rng.choice((b"x", b"y", b"z", b"w")), rng.choice((0, 1, 1, 1, 2, 5))
        hit, took = a.hit(key, now, cost), b.take(key, now, cost)
        if hit.allowed:
            assert took is None
        else:
            assert took == hit
    assert [a.peek(k, now) for k in (b"x", b"y", b"z", b"w")] == [
        b.peek(k, now) for k in (b"x", b"y", b"z", b"w")
    ]
