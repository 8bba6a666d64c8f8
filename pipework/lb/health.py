"""Health state of upstream targets: active-check thresholds, outlier ejection and slow start.

Theory of operation: everything here is bookkeeping; nothing sends a probe, reads a clock or
starts a timer. The I/O side runs the checks and times the requests, then reports what it saw
with the time it saw it (``now``, in seconds of any monotonic clock). :class:`HealthCheckState`
turns active-check results into up/down with HAProxy's ``rise``/``fall`` thresholds.
:class:`OutlierDetector` is Envoy's passive check: it watches the results of real requests
(consecutive 5xx responses, consecutive gateway failures) and ejects a target for a time that
grows with each ejection, never ejecting more than a set share of the targets; the caller runs
:meth:`OutlierDetector.tick` at :meth:`OutlierDetector.next_deadline` to end ejections.
:func:`slow_start_weight` is the weight a balancer gives a target that has just come back.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..core.checks import seconds

K = TypeVar("K", bound=Hashable)


class HealthCheckState:
    """Active-check bookkeeping for one target, with HAProxy's ``rise`` and ``fall`` thresholds.

    An up target goes down after ``fall`` consecutive failed checks; a down target comes up after
    ``rise`` consecutive successful ones (HAProxy's defaults: rise 2, fall 3). A result that
    agrees with the state resets the opposite counter, so only unbroken runs count (Envoy's
    unhealthy/healthy thresholds; HAProxy's single health counter differs only when results
    interleave). A target starts up, or down with ``start_down=True`` (HAProxy's ``init-state
    down``: a new server must pass ``rise`` checks before it takes traffic).

    Readable: ``up``, ``successes`` and ``failures`` (the current consecutive runs), ``checks``
    (results recorded) and ``reason`` (what the last failure said; kept after recovery so the
    log and the admin API can show why a target was last down).
    """

    __slots__ = ("checks", "failures", "fall", "reason", "rise", "successes", "up")

    def __init__(self, rise: int = 2, fall: int = 3, *, start_down: bool = False) -> None:
        for name, value in (("rise", rise), ("fall", fall)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"health check: {name} must be an integer >= 1, not {value!r}")
        self.rise = rise
        self.fall = fall
        self.up = not start_down
        self.successes = 0
        self.failures = 0
        self.checks = 0
        self.reason = ""

    def record(self, ok: bool, reason: str = "") -> bool:
        """Record one check result (``reason`` says why a failure failed); True if up/down changed."""
        self.checks += 1
        if ok:
            self.failures = 0
            self.successes += 1
            if not self.up and self.successes >= self.rise:
                self.up = True
                self.successes = 0
                return True
            return False
        self.successes = 0
        self.failures += 1
        self.reason = reason
        if self.up and self.failures >= self.fall:
            self.up = False
            self.failures = 0
            return True
        return False

    def __repr__(self) -> str:
        state = "up" if self.up else "down"
        return f"<HealthCheckState {state} successes={self.successes} failures={self.failures}>"


@dataclass(slots=True, frozen=True)
class OutlierDetection:
    """Passive health-check settings, Envoy's names and defaults (``outlier_detection``).

    ``consecutive_5xx``: 5xx responses in a row that eject a target. ``consecutive_failures``:
    gateway failures in a row (connect errors, resets, timeouts: no response at all) that eject
    it. Either may be 0 to turn that detector off. An ejection lasts ``base_ejection`` seconds
    times the number of times the target was ejected, at most ``max_ejection``; every
    ``interval`` seconds out of ejection takes one off that number. At most
    ``max_ejection_percent`` of the targets are ejected at once (0 turns ejection off).
    Invalid values raise ``ValueError``.
    """

    consecutive_5xx: int = 5
    consecutive_failures: int = 5
    base_ejection: float = 30.0
    max_ejection: float = 300.0
    max_ejection_percent: int = 50
    interval: float = 10.0

    def __post_init__(self) -> None:
        for name in ("consecutive_5xx", "consecutive_failures", "max_ejection_percent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"outlier detection: {name} must be an integer >= 0, not {value!r}")
        if self.max_ejection_percent > 100:
            raise ValueError(
                f"outlier detection: max_ejection_percent {self.max_ejection_percent} is over 100"
            )
        for name in ("base_ejection", "max_ejection", "interval"):
            seconds(getattr(self, name), f"outlier detection: {name}", zero=False)
        if self.max_ejection < self.base_ejection:
            raise ValueError(
                f"outlier detection: max_ejection {self.max_ejection} "
                f"is below base_ejection {self.base_ejection}"
            )


@dataclass(slots=True)
class OutlierState:
    """What the detector knows of one target; read it through :meth:`OutlierDetector.state`.

    ``times_ejected`` is the ejection multiplier (it decays while the target is in service);
    ``ejected_until`` is when the current ejection ends, or None; ``reason`` names the detector
    that last ejected it (``"consecutive_5xx"`` or ``"consecutive_failures"``).
    """

    consecutive_5xx: int = 0
    consecutive_failures: int = 0
    times_ejected: int = 0
    ejected_until: float | None = None
    #: when the multiplier next loses one, once the target is back in service
    decay_at: float = 0.0
    reason: str = ""


class OutlierDetector(Generic[K]):
    """Envoy-style outlier detection over a set of targets keyed by any hashable value.

    One detector holds the state of every target of an upstream, because the cap on ejections is
    a share of all of them. Keep the set current with :meth:`add` and :meth:`discard` (DNS
    changes, script updates); results about a target not in the set are ignored, so a request
    that finishes after its target was removed is harmless.

    The ``record_*`` methods return True when that result ejected the target. A result about a
    target already ejected is ignored (requests sent before the ejection still finish). When a
    run of failures reaches its threshold the run counter starts over whether or not the cap let
    the ejection happen, as in Envoy, so a refused target needs another full run to try again.

    The cap: an ejection is allowed while the ejected targets, this one included, stay within
    ``max_ejection_percent`` of all targets; and, as Envoy's ``always_eject_one_host``, one
    target may always be ejected when none is and there is more than one target, so that a small
    upstream (2 targets, 10 %) can still shed its bad member. The only target is never ejected
    unless the cap is 100 %: there is nowhere else to send its traffic.

    Ejections end only in :meth:`tick`: :meth:`is_ejected` stays True until the caller ticks at
    or after :meth:`next_deadline`. The multiplier's decay needs no timer: it is worked out from
    the time whenever the target is next ejected or ticked.
    """

    __slots__ = ("_ejected", "_states", "config")

    def __init__(self, config: OutlierDetection | None = None, targets: Iterable[K] = ()) -> None:
        self.config = config or OutlierDetection()
        self._states: dict[K, OutlierState] = {t: OutlierState() for t in targets}
        self._ejected: set[K] = set()

    def add(self, target: K) -> None:
        """Watch ``target`` too (no-op if it is already watched)."""
        self._states.setdefault(target, OutlierState())

    def discard(self, target: K) -> None:
        """Forget ``target`` and its ejection, if any."""
        self._states.pop(target, None)
        self._ejected.discard(target)

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, target: object) -> bool:
        return target in self._states

    def state(self, target: K) -> OutlierState:
        """The live state of ``target`` (KeyError if unknown); do not modify it."""
        return self._states[target]

    def is_ejected(self, target: K) -> bool:
        """Whether ``target`` is ejected now (False for unknown targets)."""
        return target in self._ejected

    @property
    def ejected(self) -> frozenset[K]:
        """The targets ejected now."""
        return frozenset(self._ejected)

    def record_status(self, target: K, status: int, now: float) -> bool:
        """A response with HTTP ``status`` arrived from ``target``. A 5xx extends the 5xx run;
        any response ends the gateway-failure run (the target did answer), and a non-5xx ends both."""
        s = self._in_service(target)
        if s is None:
            return False
        s.consecutive_failures = 0
        if status < 500:
            s.consecutive_5xx = 0
            return False
        return self._extend_run(target, s, now, "consecutive_5xx")

    def record_failure(self, target: K, now: float) -> bool:
        """A gateway failure: connecting to ``target`` failed, it reset, or it timed out. The 5xx
        run is left as it is: no response came to extend or end it."""
        s = self._in_service(target)
        return s is not None and self._extend_run(target, s, now, "consecutive_failures")

    def record_success(self, target: K, now: float) -> bool:
        """An exchange with ``target`` went well (a 2xx-4xx response, or an L4 connection that
        opened): both runs start over. Returns False (kept for symmetry with the others)."""
        s = self._in_service(target)
        if s is not None:
            s.consecutive_5xx = s.consecutive_failures = 0
        return False

    def _in_service(self, target: K) -> OutlierState | None:
        return None if target in self._ejected else self._states.get(target)

    def _extend_run(self, target: K, s: OutlierState, now: float, run: str) -> bool:
        # ``run`` names both the counter in OutlierState and its threshold in OutlierDetection.
        count = getattr(s, run) + 1
        if count == getattr(self.config, run):  # a threshold of 0 is never reached
            setattr(s, run, 0)
            return self._eject(target, s, now, run)
        setattr(s, run, count)
        return False

    def _eject(self, target: K, s: OutlierState, now: float, reason: str) -> bool:
        percent = self.config.max_ejection_percent
        n = len(self._states)
        allowed = percent > 0 and (
            (len(self._ejected) + 1) * 100 <= percent * n or (not self._ejected and n > 1)
        )
        if not allowed:
            return False
        self._decay(s, now)
        s.times_ejected += 1
        cfg = self.config
        s.ejected_until = now + min(cfg.base_ejection * s.times_ejected, cfg.max_ejection)
        s.reason = reason
        self._ejected.add(target)
        return True

    def _decay(self, s: OutlierState, now: float) -> None:
        if s.times_ejected and now >= s.decay_at:
            steps = int((now - s.decay_at) // self.config.interval) + 1
            s.times_ejected = max(0, s.times_ejected - steps)
            s.decay_at += steps * self.config.interval

    def tick(self, now: float) -> list[K]:
        """End the ejections due by ``now`` and return their targets (in no set order); also
        applies the decay of the multipliers that is due."""
        ended = []
        for target in list(self._ejected):
            s = self._states[target]
            assert s.ejected_until is not None
            if s.ejected_until <= now:
                # Envoy decays from its first interval sweep after the ejection ends; so do we,
                # counting from the end of the ejection.
                s.decay_at = s.ejected_until + self.config.interval
                s.ejected_until = None
                self._ejected.discard(target)
                ended.append(target)
        for target, s in self._states.items():
            if target not in self._ejected:
                self._decay(s, now)
        return ended

    def next_deadline(self) -> float | None:
        """When the next ejection ends (call :meth:`tick` then), or None if nothing is ejected."""
        ends = [self._states[t].ejected_until for t in self._ejected]
        return min((e for e in ends if e is not None), default=None)


def slow_start_weight(
    weight: float, elapsed: float, window: float, aggression: float = 1.0, min_percent: float = 10.0
) -> float:
    """The weight in force ``elapsed`` seconds into a ``window``-second slow start (Envoy's).

    While ``elapsed < window`` the weight is ``weight * max(min_percent / 100, (elapsed / window)
    ** (1 / aggression))``: ``aggression`` 1 ramps linearly, above 1 starts slower and ends
    faster. After the window, or with ``window`` 0 (no slow start), the full weight. A negative
    ``elapsed`` (the clock moved back) counts as 0. ``ValueError`` for a negative window, an
    aggression <= 0 or a min_percent outside 0-100.
    """
    if not window >= 0:
        raise ValueError(f"slow start: window must be >= 0 seconds, not {window!r}")
    if not aggression > 0:
        raise ValueError(f"slow start: aggression must be > 0, not {aggression!r}")
    if not 0 <= min_percent <= 100:
        raise ValueError(f"slow start: min_percent must be within 0-100, not {min_percent!r}")
    if elapsed >= window:
        return weight
    factor: float = (max(elapsed, 0.0) / window) ** (1.0 / aggression)
    return weight * max(min_percent / 100.0, factor)
