"""The retry policy: what may go again, the budget, the back-off."""

from __future__ import annotations

import random

import pytest

from pipework.lb.retry import Retry


def test_defaults_follow_nginx_next_upstream_error_timeout() -> None:
    r = Retry()
    assert r.allows("ConnectionRefused", "GET", tries=1)
    assert r.allows("ConnectionReset", "GET", tries=1)
    assert r.allows("ReadTimeout", "HEAD", tries=2)
    assert not r.allows("ReadTimeout", "GET", tries=3)  # two retries, then no more
    assert not r.allows(503, "GET", tries=1)  # statuses only when asked for
    assert not r.allows("BadGateway", "GET", tries=1)


def test_only_idempotent_methods_go_again_once_the_request_may_have_arrived() -> None:
    r = Retry()
    assert not r.allows("ConnectionReset", "POST", tries=1)
    assert not r.allows("ReadTimeout", "PATCH", tries=1)
    assert r.allows("ConnectionRefused", "POST", tries=1)  # it never left
    assert r.allows("ConnectionTimeout", "POST", tries=1)
    assert Retry(methods=["GET", "POST"]).allows("ConnectionReset", "POST", tries=1)


def test_statuses_and_conditions() -> None:
    r = Retry(3, on=["reset", 502, 503])
    assert r.allows(503, "GET", tries=1)
    assert not r.allows(503, "POST", tries=1)
    assert not r.allows(500, "GET", tries=1)
    assert not r.allows("ConnectionRefused", "GET", tries=1)
    assert r.allows("UpstreamClosed", "DELETE", tries=3)
    assert "reset" in repr(r)
    assert "503" in repr(r)


def test_budget_absorbs_a_burst_and_bounds_a_steady_failure_rate() -> None:
    r = Retry(budget=0.2, min_per_second=10, window=10)
    # a burst: the budget starts with 10 s of the floor (100 retries)
    assert all(r.allows("ConnectionReset", "GET", 1, now=0.0) for _ in range(100))
    assert not r.allows("ConnectionReset", "GET", 1, now=0.0)
    # then 1,000 requests earn 200 retries' worth, but the budget holds at most 100
    r.requests += 1000
    granted = sum(r.allows("ConnectionReset", "GET", 1, now=0.0) for _ in range(200))
    assert granted == 100
    # time alone earns min_per_second
    assert sum(r.allows("ConnectionReset", "GET", 1, now=0.5) for _ in range(20)) == 5
    # a steady state: every request fails, 1,000 requests a second for 10 s
    r = Retry(budget=0.2, min_per_second=10, window=10)
    r.tokens = 0
    granted = 0
    for step in range(1, 1001):
        r.requests += 10
        granted += sum(r.allows("ConnectionRefused", "GET", 1, now=step / 100) for _ in range(10))
    assert 0.2 * 10_000 <= granted <= 0.2 * 10_000 + 10 * 10 + 1  # the share, plus the floor


def test_routes_sharing_a_policy_share_its_budget() -> None:
    r = Retry(budget=0.5, min_per_second=1, window=10)
    r.tokens = 0
    r.requests += 4  # two routes' requests, counted on the one policy
    assert sum(r.allows("ConnectionRefused", "GET", 1) for _ in range(5)) == 2


def test_a_budget_always_holds_one_retry() -> None:
    r = Retry(budget=0, min_per_second=0, window=0)
    assert r.allows("ConnectionRefused", "GET", 1)  # the one retry a budget always holds
    assert not r.allows("ConnectionRefused", "GET", 1)
    assert not r.allows(503, "GET", 1)


def test_backoff_is_jittered_exponential_and_capped() -> None:
    r = Retry(backoff=0.1, max_backoff=0.3, rng=random.Random(7))
    for tries, cap in ((1, 0.1), (2, 0.2), (3, 0.3), (9, 0.3)):
        delays = [r.delay(tries) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # the whole range is used
    assert Retry(backoff=0).delay(5) == 0


def test_no_retries() -> None:
    assert not Retry(0).allows("ConnectionRefused", "GET", tries=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": -1}, "attempts"),
        ({"on": ["sometimes"]}, "cannot retry on 'sometimes'"),
        ({"on": [99]}, "not an HTTP status"),
        ({"budget": -0.1}, "budget"),
        ({"backoff": "1s"}, "backoff"),
        ({"min_per_second": -1}, "min_per_second"),
        ({"window": "10s"}, "window"),
    ],
)
def test_bad_settings_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Retry(**kwargs)  # type: ignore[arg-type]
