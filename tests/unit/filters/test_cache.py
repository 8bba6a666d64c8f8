"""cache_http's arguments are checked when the script loads."""

from __future__ import annotations

import pytest

import pipework as pw
from pipework.filters.cache import LIVE, HttpCache


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_size": 0}, "max_size must be a number of bytes > 0"),
        ({"max_object": -1}, "max_object must be a number of bytes > 0"),
        ({"max_size": 100, "max_object": 200}, "max_object (200) is larger than max_size (100)"),
        ({"lock_timeout": 0}, "lock_timeout must be a number of seconds > 0"),
        ({"refresh_timeout": "5"}, "refresh_timeout must be a number of seconds > 0"),
        ({"heuristic": 2}, "heuristic must be a fraction from 0 to 1"),
        ({"name": "my cache"}, "must be a token"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        HttpCache(**kwargs)  # type: ignore[arg-type]


def test_the_step_takes_a_cache_or_its_options() -> None:
    cache = HttpCache(max_size=1000, max_object=100, name="t1")
    assert cache in LIVE
    pw.pipeline(lambda p: p.cache_http(cache).to(lambda p: p.proxy("127.0.0.1:9")))
    pw.pipeline(lambda p: p.cache_http(max_size=1000, max_object=10).to(lambda p: p.proxy("127.0.0.1:9")))
    with pytest.raises(TypeError, match="not both"):
        pw.pipeline(lambda p: p.cache_http(cache, max_size=5))
    with pytest.raises(TypeError, match="expected an HttpCache"):
        pw.pipeline(lambda p: p.cache_http("big"))
    with pytest.raises(TypeError, match="needs a sub-pipeline"):
        pw.pipeline(lambda p: p.cache_http(cache))


def test_statistics_start_at_zero() -> None:
    stats = HttpCache(name="t2").statistics()
    assert stats["max_size"] == 64 << 20
    assert {k: v for k, v in stats.items() if k != "max_size"} == dict.fromkeys(
        ("bypasses", "coalesced", "evictions", "hits", "misses", "purged", "revalidated", "stale", "stores",
         "bytes", "entries"), 0)  # fmt: skip
