"""Limiters whose states live elsewhere: a shared-memory table (same answers as in-process, one
quota across forked processes, bounded, made race-free) and Redis (the Lua script decides as
the Python algorithms do, checked against a real redis-server)."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import free_port, require, wait_port

from pipework.filters.keys import key_function
from pipework.filters.rate_limit import LUA
from pipework.net.redis import parse_url
from pipework.policy.ratelimit import SlidingWindowLimiter, TokenBucketLimiter
from pipework.policy.shared_table import WAYS, open_table

Limiter = TokenBucketLimiter | SlidingWindowLimiter


def _limiters() -> list[Limiter]:
    return [TokenBucketLimiter(7, 3.0), SlidingWindowLimiter(7, 3.0)]


@pytest.fixture
def shm(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.parametrize("which", [0, 1])
def test_a_shared_table_answers_as_the_in_process_table(shm: Path, which: int) -> None:
    table = open_table(str(shm / "t"), 64)
    ref, shared = _limiters()[which], _limiters()[which]
    rnd = random.Random(which)
    now = 100.0
    for _ in range(2000):
        now += rnd.choice((0.0, 0.01, 0.1, 0.5, 2.0))
        key = rnd.choice(("a", "b", "c"))
        cost = rnd.choice((0, 1, 1, 1, 2, 5))
        if rnd.random() < 0.05:
            assert shared.hit_in(table, key.encode(), now, cost, force=True) == ref.charge(key, now, cost)
        else:
            assert shared.hit_in(table, key.encode(), now, cost) == ref.hit(key, now, cost)


def test_forked_processes_share_one_quota(shm: Path) -> None:
    path = str(shm / "q")
    limiter = TokenBucketLimiter(50, 3600)
    children = []
    for _ in range(3):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # each child opens the table itself, as a worker does after the fork
            os.close(r)
            table = open_table(path, 128)
            got = sum(limiter.hit_in(table, b"k", 0.0).allowed for _ in range(40))
            os.write(w, b"%d" % got)
            os._exit(0)
        os.close(w)
        children.append((pid, r))
    admitted = []
    for pid, r in children:
        os.waitpid(pid, 0)
        admitted.append(int(os.read(r, 16)))
        os.close(r)
    assert sum(admitted) == 50  # not 3 x 40, nor 3 x 50


def test_a_table_is_made_once_whoever_races_to_make_it(shm: Path) -> None:
    path = str(shm / "race")
    pids = []
    for i in range(6):
        pid = os.fork()
        if pid == 0:
            t = open_table(path, 16)
            TokenBucketLimiter(10, 60).hit_in(t, b"k%d" % i, 0.0)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert sorted(os.listdir(shm)) == ["race"]  # no temporary file left behind
    assert len(open_table(path, 16)) == 6  # every child's key is in the one file
    (shm / "bad").write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="not a shared table of 4 buckets"):
        open_table(str(shm / "bad"), 32)


def test_a_full_bucket_drops_idle_keys_first_then_the_least_recently_used(shm: Path) -> None:
    table = open_table(str(shm / "small"), WAYS)  # one bucket: every key competes
    lim = TokenBucketLimiter(1, 10.0)  # idle after 10 s
    for i in range(WAYS):
        assert lim.hit_in(table, b"k%d" % i, float(i)).allowed
    assert not lim.hit_in(table, b"k0", 8.5).allowed  # k0 is remembered, and now the most recent
    assert lim.hit_in(table, b"new", 9.0).allowed  # took k1's slot, the least recently used
    assert table.evicted == 1
    assert lim.hit_in(table, b"k1", 9.0).allowed  # k1 forgotten: a fresh bucket (fails open)
    assert table.evicted == 2
    assert lim.hit_in(table, b"late", 30.0).allowed  # everything is idle by now: no eviction
    assert table.evicted == 2
    assert len(table) == WAYS


def test_a_charge_is_a_debt_the_refill_pays_back() -> None:
    lim = TokenBucketLimiter(100, 10.0)  # 10 a second
    lim.charge("k", 0.0, 130)  # 30 past the quota
    d = lim.hit("k", 0.0)
    assert not d.allowed
    assert d.retry_after == pytest.approx(3.1)  # 30 of debt and 1 to spend, at 10 a second
    assert lim.hit("k", 3.2).allowed
    sw = SlidingWindowLimiter(100, 10.0)
    sw.charge("k", 0.0, 150)
    assert not sw.hit("k", 5.0).allowed


def test_the_numbers_of_a_decision_made_elsewhere() -> None:
    for lim in _limiters():
        lim.hit("k", 1.0, 3)
        state = lim.keys.peek("k")
        assert state is not None
        values = lim.values(state, 1.0)
        assert lim.decide_from(values, 1.5, 2) == lim.peek("k", 1.5, 2)
        assert lim.decide_from(None, 1.5, 2) == lim.peek("other", 1.5, 2)


def test_claim_and_route_keys() -> None:
    ctx = SimpleNamespace(vars=SimpleNamespace(claims={"sub": "ann", "org": {"id": 7}, "roles": ["a"]}))
    head = SimpleNamespace(path="/api/x")
    assert key_function("claim:sub")(head, ctx) == b"ann"
    assert key_function("claim:org.id")(head, ctx) == b"7"
    assert key_function("claim:roles")(head, ctx) == b'["a"]'
    assert key_function("claim:nope")(head, ctx) is None
    assert key_function("claim:sub")(head, SimpleNamespace(vars=SimpleNamespace())) is None
    assert key_function("route")(head, ctx) == b"/api/x"
    ctx.vars.route = "api"
    assert key_function("route")(head, ctx) == b"api"


def test_redis_urls() -> None:
    assert parse_url("redis://127.0.0.1:6380/2") == ("127.0.0.1", 6380, None, None, 2)
    assert parse_url("redis://u:p%40ss@h") == ("h", 6379, "u", "p@ss", 0)
    for bad, why in (
        ("http://h", "not a redis://"),
        ("redis://h/x", "database is a number"),
        ("redis://", "no host"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_url(bad)


@pytest.fixture
def redis_client() -> Iterator[object]:
    exe = require("redis-server")
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port)
        yield redis.Redis(port=port)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("which", [0, 1])
def test_the_lua_script_decides_as_the_python_algorithm(redis_client: object, which: int) -> None:
    """Each hit: Redis's answer (allowed, its time, the state before) must be what the Python
    algorithm answers from that state at that time, and the state Redis keeps after it what the
    Python algorithm keeps."""
    r = redis_client
    lim = _limiters()[which]
    lim = type(lim)(7, 0.3)  # a short window, so that refills and rollovers happen in the test
    algo = "t" if isinstance(lim, TokenBucketLimiter) else "s"
    script = r.register_script(LUA)  # type: ignore[attr-defined]
    rnd = random.Random(which)
    allowed_count = 0
    for i in range(300):
        cost = rnd.choice((1, 1, 2, 3))
        force = rnd.random() < 0.05
        ok, now, a, b, c = script(keys=["k"], args=[lim.limit, lim.window, cost, algo, "1" if force else "0"])
        t = float(now)
        old = None
        if a:
            x, y, z = float(a), float(b), float(c)
            old = (x, y, 0.0, y) if algo == "t" else (x, y, z, t)
        state = lim._new() if old is None else lim.from_values(old)
        d = lim._decide(state, t, cost, True, force)
        assert bool(ok) == d.allowed, (i, old, t, cost)
        allowed_count += bool(ok)
        kept = r.hmget("k", "a", "b", "c")  # type: ignore[attr-defined]
        want = lim.values(state, t)
        assert float(kept[0]) == pytest.approx(want[0], abs=1e-9)
        assert float(kept[1]) == pytest.approx(want[1], abs=1e-9)
        if algo == "s":
            assert float(kept[2]) == pytest.approx(want[2], abs=1e-9)
    assert 0 < allowed_count < 300
    assert 0 < r.pttl("k") <= lim.keys.idle * 1000  # type: ignore[attr-defined]
