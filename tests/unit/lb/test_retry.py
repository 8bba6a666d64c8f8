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


def test_default_budget_lets_a_third_of_the_load_retry_at_once() -> None:
    r = Retry()
    assert r.allows("ConnectionReset", "GET", 1, retrying=9, in_flight=12)
    assert r.allows("ConnectionReset", "GET", 1, retrying=33, in_flight=100)
    assert not r.allows("ConnectionReset", "GET", 1, retrying=50, in_flight=100)


def test_budget_keeps_retries_to_a_share_of_the_requests_in_flight() -> None:
    r = Retry(budget=0.2, min_concurrent=3)
    assert r.allows("ConnectionRefused", "GET", 1, retrying=2, in_flight=5)
    assert not r.allows("ConnectionRefused", "GET", 1, retrying=3, in_flight=5)  # min 3 allowed
    assert r.allows("ConnectionRefused", "GET", 1, retrying=19, in_flight=100)
    assert not r.allows("ConnectionRefused", "GET", 1, retrying=20, in_flight=100)


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
        ({"min_concurrent": 1.5}, "min_concurrent"),
    ],
)
def test_bad_settings_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Retry(**kwargs)  # type: ignore[arg-type]
