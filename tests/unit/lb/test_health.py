"""Health state: rise/fall transitions, outlier ejection (growth, cap, decay, share), slow start."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipework.lb.health import HealthCheckState, OutlierDetection, OutlierDetector, slow_start_weight

# --- active checks -------------------------------------------------------------------------

# (rise, fall, start_down, results as a string of "+"/"-", expected `up` after each, changes)
TRANSITIONS = [
    (2, 3, False, "--+--", "11111", "....."),  # failures broken by a success never reach fall
    (2, 3, False, "---", "110", "..x"),
    (2, 3, False, "---+-++", "1100001", "..x...x"),
    (2, 3, False, "---++", "11001", "..x.x"),
    (2, 3, True, "+", "0", "."),
    (2, 3, True, "++", "01", ".x"),
    (2, 3, True, "+-++", "0001", "...x"),
    (1, 1, False, "-+-+", "0101", "xxxx"),
    (3, 1, False, "-+++-", "00010", "x..xx"),
    (1, 2, True, "+--", "110", "x.x"),
]


@pytest.mark.parametrize(("rise", "fall", "start_down", "results", "ups", "changes"), TRANSITIONS)
def test_rise_fall_transitions(
    rise: int, fall: int, start_down: bool, results: str, ups: str, changes: str
) -> None:
    h = HealthCheckState(rise, fall, start_down=start_down)
    assert h.up is (not start_down)
    got_ups, got_changes = "", ""
    for r in results:
        changed = h.record(r == "+", "boom" if r == "-" else "")
        got_ups += "1" if h.up else "0"
        got_changes += "x" if changed else "."
    assert (got_ups, got_changes) == (ups, changes)


def test_counters_and_reason() -> None:
    h = HealthCheckState(rise=2, fall=2)
    h.record(False, "timeout")
    assert (h.failures, h.successes, h.reason, h.checks) == (1, 0, "timeout", 1)
    assert h.record(False, "HTTP 503") is True
    assert (h.up, h.failures, h.reason) == (False, 0, "HTTP 503")
    h.record(True)
    assert (h.successes, h.failures) == (1, 0)
    assert h.record(True) is True
    assert h.up
    assert h.reason == "HTTP 503"
    assert h.checks == 4


@pytest.mark.parametrize(("rise", "fall"), [(0, 1), (1, 0), (True, 2), (1.5, 2)])
def test_bad_thresholds(rise: object, fall: object) -> None:
    with pytest.raises(ValueError, match=r"rise|fall"):
        HealthCheckState(rise, fall)  # type: ignore[arg-type]


@given(st.integers(1, 5), st.integers(1, 5), st.booleans(), st.lists(st.booleans(), max_size=40))
def test_state_follows_the_last_unbroken_run(
    rise: int, fall: int, start_down: bool, results: list[bool]
) -> None:
    """A reference model: the state flips exactly when a run of the opposite result reaches its threshold."""
    h = HealthCheckState(rise, fall, start_down=start_down)
    up, run = not start_down, 0
    for ok in results:
        flip = False
        if ok == up:
            run = 0
        else:
            run += 1
            flip = run >= (rise if ok else fall)
            if flip:
                up, run = ok, 0
        assert h.record(ok) is flip
        assert h.up is up


# --- outlier detection ---------------------------------------------------------------------

CFG = OutlierDetection(
    consecutive_5xx=3,
    consecutive_failures=2,
    base_ejection=30,
    max_ejection=100,
    max_ejection_percent=50,
    interval=10,
)


def fail_5xx(d: OutlierDetector[str], t: str, now: float, n: int = 3) -> bool:
    return [d.record_status(t, 502, now) for _ in range(n)][-1]


def test_consecutive_5xx_ejects_and_other_statuses_reset() -> None:
    d = OutlierDetector(CFG, ["a", "b", "c", "d"])
    assert not d.record_status("a", 500, 0)
    assert not d.record_status("a", 503, 0)
    assert not d.record_status("a", 404, 0)  # a non-5xx breaks the run
    assert not d.record_status("a", 500, 0)
    assert not d.record_status("a", 500, 0)
    assert d.record_status("a", 500, 0)
    assert d.is_ejected("a")
    assert not d.is_ejected("b")
    assert d.state("a").reason == "consecutive_5xx"
    assert d.state("a").ejected_until == 30


def test_gateway_failures_eject_and_a_response_resets_them() -> None:
    d = OutlierDetector(CFG, ["a", "b", "c", "d"])
    assert not d.record_failure("a", 0)
    assert not d.record_status("a", 500, 0)  # it answered: the failure run ends, the 5xx run grows
    assert not d.record_failure("a", 0)
    assert d.state("a").consecutive_5xx == 1
    assert d.record_failure("a", 0)
    assert d.state("a").reason == "consecutive_failures"
    d.record_success("b", 0)
    d.record_failure("b", 0)
    d.record_success("b", 0)
    assert not d.record_failure("b", 0)
    assert not d.is_ejected("b")


def test_zero_threshold_turns_a_detector_off() -> None:
    d = OutlierDetector(OutlierDetection(consecutive_5xx=0), ["a", "b"])
    assert not any(d.record_status("a", 500, 0) for _ in range(100))
    assert [d.record_failure("a", 0) for _ in range(5)][-1]


def test_ejection_grows_with_each_ejection_and_is_capped() -> None:
    d = OutlierDetector(CFG, ["a", "b", "c", "d"])
    now, durations = 0.0, []
    for _ in range(5):
        assert fail_5xx(d, "a", now)
        until = d.state("a").ejected_until
        assert until is not None
        durations.append(until - now)
        assert d.next_deadline() == until
        assert d.tick(until - 0.001) == []
        assert d.tick(until) == ["a"]
        now = until  # fails again at once: no time to decay
    assert durations == [30, 60, 90, 100, 100]
    assert d.state("a").times_ejected == 5


def test_multiplier_decays_by_one_per_interval_out_of_ejection() -> None:
    d = OutlierDetector(CFG, ["a", "b", "c", "d"])
    fail_5xx(d, "a", 0)
    d.tick(30)
    fail_5xx(d, "a", 30)
    assert d.state("a").times_ejected == 2
    assert d.tick(90) == ["a"]
    d.tick(99.9)
    assert d.state("a").times_ejected == 2
    d.tick(100)  # one interval after the ejection ended
    assert d.state("a").times_ejected == 1
    # decay needs no tick: ejected again 25 s later it has decayed to 0 at 110, so 1 x base
    assert fail_5xx(d, "a", 125)
    assert d.state("a").times_ejected == 1
    assert d.state("a").ejected_until == 155


def test_a_late_tick_catches_up_on_decay() -> None:
    d = OutlierDetector(CFG, ["a", "b", "c", "d"])
    for now in (0, 30, 90):
        fail_5xx(d, "a", now)
        d.tick(d.next_deadline() or 0)
    assert d.state("a").times_ejected == 3
    assert d.tick(1000) == []
    assert d.state("a").times_ejected == 0
    d.tick(2000)
    assert d.state("a").times_ejected == 0


def test_ejected_targets_ignore_results_until_they_return() -> None:
    d = OutlierDetector(CFG, ["a", "b", "c", "d"])
    fail_5xx(d, "a", 0)
    assert not fail_5xx(d, "a", 1, n=10)
    assert not d.record_failure("a", 1)
    d.record_success("a", 1)
    assert d.state("a").ejected_until == 30
    assert d.state("a").consecutive_5xx == 0


@pytest.mark.parametrize(
    ("n", "percent", "expected"),
    [
        (4, 50, 2),
        (5, 50, 2),
        (10, 10, 1),
        (3, 10, 1),  # 33 % > 10 %, but one target may always go when none is out
        (2, 10, 1),
        (1, 50, 0),  # the only target stays
        (1, 100, 1),
        (4, 100, 4),
        (4, 0, 0),  # 0 turns ejection off
    ],
)
def test_share_of_ejected_targets_is_capped(n: int, percent: int, expected: int) -> None:
    d = OutlierDetector(OutlierDetection(consecutive_5xx=1, max_ejection_percent=percent), range(n))
    got = [d.record_status(t, 500, 0) for t in range(n)]
    assert sum(got) == expected == len(d.ejected)
    assert got == [True] * expected + [False] * (n - expected)


def test_refused_ejection_needs_a_new_run_and_room() -> None:
    d = OutlierDetector(CFG, ["a", "b"])
    assert fail_5xx(d, "a", 0)
    assert not fail_5xx(d, "b", 0)  # 2 of 2 would be 100 %
    assert d.state("b").consecutive_5xx == 0  # the run starts over, as Envoy
    assert d.tick(30) == ["a"]
    assert not d.record_status("b", 500, 31)
    assert fail_5xx(d, "b", 31, n=2)


def test_tick_and_next_deadline_with_several_targets() -> None:
    d = OutlierDetector(OutlierDetection(consecutive_failures=1, max_ejection_percent=100), "abc")
    assert d.next_deadline() is None
    d.record_failure("a", 0)
    d.record_failure("b", 5)
    d.record_failure("c", 50)
    assert d.next_deadline() == 30
    assert d.tick(34.9) == ["a"]
    assert d.next_deadline() == 35
    assert sorted(d.tick(80)) == ["b", "c"]
    assert d.next_deadline() is None
    assert not d.ejected


def test_targets_come_and_go() -> None:
    d: OutlierDetector[str] = OutlierDetector(OutlierDetection(consecutive_failures=1))
    assert not d.record_failure("x", 0)  # unknown: ignored
    d.add("x")
    d.add("y")
    d.add("y")
    assert len(d) == 2
    assert "x" in d
    assert d.record_failure("x", 0)
    d.discard("x")
    d.discard("nope")
    assert not d.is_ejected("x")
    assert d.next_deadline() is None
    assert d.tick(1000) == []
    assert len(d) == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"consecutive_5xx": -1},
        {"consecutive_failures": 2.0},
        {"base_ejection": 0},
        {"max_ejection": 10, "base_ejection": 20},
        {"max_ejection_percent": 101},
        {"interval": float("inf")},
        {"interval": True},
    ],
)
def test_bad_outlier_settings(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="outlier detection"):
        OutlierDetection(**kw)  # type: ignore[arg-type]


# --- slow start ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "aggression", "min_percent", "expected"),
    [
        (0, 1, 10, 10.0),
        (5, 1, 10, 10.0),  # 5 % of the window: the floor
        (25, 1, 10, 25.0),
        (50, 1, 10, 50.0),
        (99, 1, 10, 99.0),
        (100, 1, 10, 100.0),
        (1000, 1, 10, 100.0),
        (25, 2, 10, 50.0),  # sqrt(0.25)
        (25, 0.5, 10, 10.0),  # 0.25 ** 2 = 6.25 % -> floor
        (50, 0.5, 0, 25.0),
        (-3, 1, 10, 10.0),
        (0, 1, 0, 0.0),
    ],
)
def test_slow_start_curve(elapsed: float, aggression: float, min_percent: float, expected: float) -> None:
    assert slow_start_weight(100, elapsed, 100, aggression, min_percent) == pytest.approx(expected)


def test_slow_start_without_window_and_bad_arguments() -> None:
    assert slow_start_weight(7, 0, 0) == 7
    for args in ((1, 0, -1), (1, 0, 10, 0), (1, 0, 10, 1, 101)):
        with pytest.raises(ValueError, match="slow start"):
            slow_start_weight(*args)


@given(st.floats(0, 200), st.floats(0, 200))
def test_slow_start_never_falls_as_time_passes(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert slow_start_weight(10, lo, 100, 1.5) <= slow_start_weight(10, hi, 100, 1.5) <= 10
