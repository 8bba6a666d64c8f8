"""Balancers: the registry, the pick contract for every kind, and each algorithm's behaviour."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipework.lb import BALANCERS, Balancer, PeakEwma, Target, make_balancer
from pipework.lb.choice import MIN_LATENCY, alias_table

ALL = sorted(BALANCERS)
WEIGHTED = ["weighted_round_robin", "random", "least_request", "ewma", "ring_hash", "maglev"]


def make(*weights: float) -> list[Target]:
    return [Target(chr(ord("a") + i), w) for i, w in enumerate(weights)]


def build(name: str, targets: list[Target], seed: int = 1, **options: object) -> Balancer:
    return make_balancer(name, targets, rng=random.Random(seed), **options)


def shares(b: Balancer, n: int = 10_000, keyed: bool = False) -> dict[str, float]:
    got = Counter[str]()
    for i in range(n):
        t = b.pick(f"key-{i}".encode() if keyed else None)
        assert t is not None
        got[t.name] += 1
    return {name: c / n for name, c in got.items()}


# --- the registry -------------------------------------------------------------------------------


def test_registry_names_every_kind_of_issue_4() -> None:
    assert set(BALANCERS) == {
        "round_robin",
        "weighted_round_robin",
        "least_conn",
        "least_request",
        "ewma",
        "random",
        "ring_hash",
        "maglev",
    }
    assert all(cls.name == name for name, cls in BALANCERS.items())
    assert [n for n, cls in BALANCERS.items() if cls.wants_latency] == ["ewma"]


def test_unknown_balancer_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown balancer 'fastest' \(known: round_robin, .*maglev"):
        make_balancer("fastest", make(1))


def test_unknown_option_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"ewma: unknown option decay_ms \(known: decay, default_latency\)"):
        make_balancer("ewma", make(1), decay_ms=5)
    with pytest.raises(ValueError, match=r"round_robin: unknown option size \(known: none\)"):
        make_balancer("round_robin", make(1), size=5)


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("ewma", "decay", 0),
        ("ewma", "decay", -1.0),
        ("ewma", "decay", math.inf),
        ("ewma", "decay", math.nan),
        ("ewma", "decay", "10"),
        ("ewma", "default_latency", True),
        ("maglev", "table_size", 65537.0),
        ("ring_hash", "points_per_target", 1.5),
    ],
)
def test_invalid_option_values_are_refused(name: str, option: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{name}: option {option} must be"):
        make_balancer(name, make(1), **{option: value})


def test_options_reach_the_balancer() -> None:
    now = [0.0]
    b = make_balancer("ewma", make(1), clock=lambda: now[0], decay=2.0, default_latency=0.5)
    assert isinstance(b, PeakEwma)
    (a,) = b.targets
    assert b.estimate(a) == 0.5
    now[0] = 2.0
    assert b.estimate(a) == pytest.approx(0.5 / math.e)


# --- the pick contract, for every kind ---------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_no_targets_gives_none(name: str) -> None:
    b = build(name, [])
    assert b.pick() is None
    assert b.pick(b"key") is None
    b.update(make(1, 2))
    assert b.pick(b"key") is not None
    b.update([])
    assert b.pick(b"key") is None


@pytest.mark.parametrize("name", ALL)
def test_excluding_all_gives_none_and_one_left_is_always_picked(name: str) -> None:
    targets = make(1, 2, 3)
    b = build(name, targets)
    assert b.pick(b"k", exclude=targets) is None
    assert b.pick(None, exclude=set(targets)) is None
    for i in range(50):
        assert b.pick(f"k{i}".encode(), exclude=targets[:2]) is targets[2]


@given(
    name=st.sampled_from(ALL),
    weights=st.lists(st.floats(0.01, 100), min_size=1, max_size=8),
    loads=st.lists(st.integers(0, 5), min_size=8, max_size=8),
    excluded=st.sets(st.integers(0, 7)),
    keys=st.lists(st.none() | st.binary(max_size=16), min_size=1, max_size=5),
    seed=st.integers(0, 2**32),
)
def test_pick_returns_a_given_target_never_an_excluded_one_while_others_exist(
    name: str,
    weights: list[float],
    loads: list[int],
    excluded: set[int],
    keys: list[bytes | None],
    seed: int,
) -> None:
    targets = make(*weights)
    for t, load in zip(targets, loads, strict=False):
        t.active = load
    exclude = [t for i, t in enumerate(targets) if i in excluded]
    b = build(name, targets, seed)
    for key in keys:
        t = b.pick(key, exclude)
        if len(exclude) == len(targets):
            assert t is None
        else:
            assert t is not None
            assert any(t is u for u in targets)
            assert t not in exclude
        assert b.pick(key) in targets


@pytest.mark.parametrize("name", WEIGHTED)
def test_picks_follow_the_weights_1_2_3(name: str) -> None:
    # Exact for smooth WRR and Maglev's table, sampling noise (sd 0.004 for 10,000 picks) for
    # the random kinds at zero load, the ring's uneven arcs (~170 points for the lightest) for ring_hash.
    tolerance = {"weighted_round_robin": 0.0001, "maglev": 0.01, "ring_hash": 0.05}.get(name, 0.02)
    b = build(name, make(1, 2, 3))
    keyed = name in ("ring_hash", "maglev")
    for got in (shares(b, keyed=keyed), shares(b)):
        assert got["a"] == pytest.approx(1 / 6, abs=tolerance)
        assert got["b"] == pytest.approx(2 / 6, abs=tolerance)
        assert got["c"] == pytest.approx(3 / 6, abs=tolerance)


@pytest.mark.parametrize("name", ["least_conn", "least_request", "ewma"])
def test_under_load_the_shares_follow_the_weights(name: str) -> None:
    # 60 requests in flight; each step one of them, chosen at random, completes and a new one is
    # picked. Picks then follow the load each target carries, which these kinds keep in
    # proportion to the weights.
    targets = make(1, 2, 3)
    b = build(name, targets)
    rng = random.Random(7)
    in_flight: list[Target] = []
    got = Counter[str]()
    for step in range(12_000):
        if len(in_flight) == 60:
            done = in_flight.pop(rng.randrange(60))
            done.active -= 1
        t = b.pick()
        assert t is not None
        t.active += 1
        in_flight.append(t)
        if step >= 2_000:
            got[t.name] += 1
    assert got["a"] / 10_000 == pytest.approx(1 / 6, abs=0.04)
    assert got["c"] / 10_000 == pytest.approx(3 / 6, abs=0.04)


@pytest.mark.parametrize("name", WEIGHTED)
def test_update_with_new_weights_takes_effect(name: str) -> None:
    targets = make(1, 1)
    b = build(name, targets)
    keyed = name in ("ring_hash", "maglev")
    assert shares(b, keyed=keyed)["b"] == pytest.approx(0.5, abs=0.05)
    targets[1].weight = 3
    b.update(targets)
    assert shares(b, keyed=keyed)["b"] == pytest.approx(0.75, abs=0.05)


# --- round robin --------------------------------------------------------------------------------


def test_round_robin_rotates_ignoring_weights_from_a_random_start() -> None:
    targets = make(1, 5, 1)
    b = build("round_robin", targets)
    picks = [b.pick() for _ in range(9)]
    assert set(picks[:3]) == set(targets)
    assert picks[3:] == picks[:6]
    assert len({build("round_robin", targets, seed).pick() for seed in range(20)}) > 1


def test_round_robin_skips_excluded_in_turn() -> None:
    a, b_, c = make(1, 1, 1)
    b = build("round_robin", [a, b_, c])
    while b.pick() is not c:
        pass
    assert [b.pick(exclude=[b_]) for _ in range(4)] == [a, c, a, c]


# --- smooth weighted round robin ---------------------------------------------------------------


def test_smooth_wrr_gives_nginx_documented_sequence() -> None:
    targets = make(5, 1, 1)
    b = build("weighted_round_robin", targets)
    names = "".join(t.name for t in (b.pick() for _ in range(14)) if t)
    assert names == "aabacaa" * 2


def test_smooth_wrr_takes_fractional_weights() -> None:
    b = build("weighted_round_robin", make(0.5, 0.25, 0.25))
    assert "".join(t.name for t in (b.pick() for _ in range(8)) if t) == "abcaabca"


def test_smooth_wrr_leaves_excluded_targets_out_of_the_turn() -> None:
    a, b_, c = make(5, 1, 1)
    b = build("weighted_round_robin", [a, b_, c])
    assert {b.pick(exclude=[a]) for _ in range(6)} == {b_, c}
    assert "".join(t.name for t in (b.pick(exclude=[a]) for _ in range(4)) if t) in ("bcbc", "cbcb")


def test_smooth_wrr_keeps_its_place_across_updates() -> None:
    targets = make(5, 1, 1)
    b = build("weighted_round_robin", targets)
    seq = []
    for _ in range(14):
        b.update(targets)  # as a caller that refreshes often would
        t = b.pick()
        assert t is not None
        seq.append(t.name)
    assert "".join(seq) == "aabacaa" * 2


# --- least connections --------------------------------------------------------------------------


def test_least_conn_prefers_the_least_loaded_per_weight() -> None:
    a, b_, c = make(1, 1, 1)
    a.active, b_.active, c.active = 5, 1, 3
    b = build("least_conn", [a, b_, c])
    assert b.pick() is b_
    assert b.pick(exclude=[b_]) is c
    x, y = make(4, 1)
    x.active, y.active = 4, 2  # 1 per unit of weight against 2
    assert build("least_conn", [x, y]).pick() is x


def test_least_conn_rotates_ties() -> None:
    targets = make(1, 1, 1)
    b = build("least_conn", targets)
    assert [b.pick() for _ in range(6)] == targets * 2
    targets[0].active = targets[1].active = targets[2].active = 2
    assert [b.pick() for _ in range(3)] == targets


def test_least_conn_balances_as_requests_start() -> None:
    targets = make(1, 2)
    b = build("least_conn", targets)
    for _ in range(9):
        t = b.pick()
        assert t is not None
        t.active += 1
    assert [t.active for t in targets] == [3, 6]


# --- least request and ewma (power of two choices) ---------------------------------------------


def test_least_request_prefers_the_less_loaded() -> None:
    a, b_, c = make(1, 1, 1)
    a.active = 5
    b = build("least_request", [a, b_, c])
    got = Counter(b.pick() for _ in range(1000))
    assert got[a] == 0  # two distinct candidates: the busiest always loses
    assert got[b_] == pytest.approx(500, abs=80)
    x, y = make(1, 1)
    x.active = 1
    assert {build("least_request", [x, y], seed).pick() for seed in range(20)} == {y}


def test_least_request_weighs_load_by_weight() -> None:
    x, y = make(1, 4)
    x.active, y.active = 1, 2  # 1 per unit of weight against 0.5
    b = build("least_request", [x, y])
    got = Counter(b.pick() for _ in range(1000))
    assert got[y] > 900  # x wins only when drawn twice


def test_ewma_prefers_the_faster_and_counts_load() -> None:
    now = [100.0]
    x, y = make(1, 1)
    b = build("ewma", [x, y], clock=lambda: now[0])
    b.observe(x, 0.5)
    b.observe(y, 0.01)
    assert {b.pick() for _ in range(50)} == {y}
    y.active = 99  # 0.01 x 100 = 1.0 > 0.5 x 1
    assert {b.pick() for _ in range(50)} == {x}


def test_ewma_peak_and_decay_with_a_fake_clock() -> None:
    now = [1000.0]
    (t,) = targets = make(1)
    b = PeakEwma(targets, clock=lambda: now[0], decay=10.0)
    assert b.estimate(t) == 0.1  # the default until the first response
    b.observe(t, 0.2)
    assert (t.latency, t.stamp) == (0.2, 1000.0)
    b.observe(t, 1.0)  # a peak replaces the estimate at once
    assert b.estimate(t) == 1.0
    now[0] = 1010.0
    assert b.estimate(t) == pytest.approx(1.0 / math.e)
    b.observe(t, 0.05)  # lower than the estimate: the estimate keeps decaying
    assert t.latency == pytest.approx(1.0 / math.e)
    now[0] = 1060.0
    b.observe(t, 0.05)  # decayed below the responses: they hold it up
    assert b.estimate(t) == pytest.approx(0.05)
    b.observe(t, 0.0)
    assert t.latency == pytest.approx(0.05)
    u = Target("new")
    b.update([t, u])
    b.observe(u, 0.0)
    assert u.latency == MIN_LATENCY  # observed, no longer "unknown"


def test_ewma_default_decays_from_when_the_target_was_first_seen() -> None:
    now = [50.0]
    t = Target("new")
    b = PeakEwma([t], clock=lambda: now[0], default_latency=0.2)
    assert t.stamp == 50.0
    now[0] = 60.0
    assert b.estimate(t) == pytest.approx(0.2 / math.e)


@pytest.mark.parametrize("name", [n for n in ALL if n != "ewma"])
def test_observe_is_a_no_op_elsewhere(name: str) -> None:
    (t,) = targets = make(1)
    build(name, targets).observe(t, 3.0)
    assert (t.latency, t.stamp) == (0.0, 0.0)


def test_alias_table_gives_the_weights() -> None:
    prob, alias = alias_table([1.0, 2.0, 3.0, 0.5])
    n = len(prob)
    share = [0.0] * n
    for i in range(n):
        share[i] += prob[i] / n
        share[alias[i]] += (1 - prob[i]) / n
    assert share == pytest.approx([1 / 6.5, 2 / 6.5, 3 / 6.5, 0.5 / 6.5])
