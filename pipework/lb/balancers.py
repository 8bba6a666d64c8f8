"""Balancers that pick a target by turn, weight or load: the common base and the non-hashing kinds.

Theory of operation: a balancer is built over the targets that may be picked now (the healthy
ones) and snapshots what it needs of them (order, weights, precomputed tables). The caller calls
:meth:`Balancer.update` whenever that set or a weight changes, :meth:`Balancer.pick` once per
request (and again, with ``exclude``, for a retry), and :meth:`Balancer.observe` with each
response time when the balancer ``wants_latency``. Load (``Target.active``) is read live at pick
time. Nothing here does I/O, sleeps or logs; randomness and time come from the ``rng`` and
``clock`` given to the constructor, so tests replay exact sequences.

The randomised kinds (random, least_request, ewma) live in :mod:`pipework.lb.choice`, the
hashing kinds in :mod:`pipework.lb.hashing`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import ClassVar

from .target import Target

Clock = Callable[[], float]


class Balancer:
    """Picks one of a set of targets for each request.

    ``name`` is the registry name; ``OPTIONS`` maps each option the kind accepts to its default
    (an ``int`` default means the option must be an integer; every option must be > 0).
    ``wants_latency`` tells the caller to report response times through :meth:`observe`.
    """

    __slots__ = ("_clock", "_random", "_rng", "targets")

    name: ClassVar[str]
    wants_latency: ClassVar[bool] = False
    OPTIONS: ClassVar[Mapping[str, float]] = {}

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
        **options: object,
    ) -> None:
        """Raises ``ValueError`` for an option this kind does not know or a value out of range."""
        self._rng = random.Random() if rng is None else rng
        self._random = self._rng.random
        self._clock = clock
        self.targets: tuple[Target, ...] = ()
        self._configure(_check_options(type(self), options))
        self.update(targets)

    def _configure(self, options: Mapping[str, float]) -> None:
        """Takes the checked options (defaults filled in); called once, before the first update."""

    def update(self, targets: Sequence[Target]) -> None:
        """The set of targets that may be picked changed (membership, health, weights): rebuild.

        May be called with an empty sequence (then :meth:`pick` returns None).
        """
        self.targets = tuple(targets)

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        """A target for one request.

        ``key`` is the hash key: only hashing balancers use it, and they fall back to a random
        pick when it is None. Targets in ``exclude`` (a retry wants a different target) are
        skipped when any other exists. Returns None only when there are no targets or all are
        excluded.
        """
        raise NotImplementedError

    def observe(self, target: Target, seconds: float) -> None:
        """Reports the response time of a request sent to ``target``; ignored unless the kind
        ``wants_latency``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} targets={len(self.targets)}>"


def _check_options(cls: type[Balancer], given: Mapping[str, object]) -> dict[str, float]:
    known = cls.OPTIONS
    unknown = sorted(given.keys() - known.keys())
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise ValueError(f"balancer {cls.name}: unknown option {', '.join(unknown)} (known: {names})")
    values = dict(known)
    for key, value in given.items():
        integer = isinstance(known[key], int)
        if (
            isinstance(value, bool)
            or not isinstance(value, int if integer else int | float)
            or not 0 < value < math.inf
        ):
            kind = "an integer" if integer else "a number"
            raise ValueError(f"balancer {cls.name}: option {key} must be {kind} > 0, not {value!r}")
        values[key] = value
    return values


def _weights(targets: Sequence[Target]) -> list[float]:
    return [float(t.weight) for t in targets]


class RoundRobinBalancer(Balancer):
    """``round_robin``: the targets in turn, weights ignored.

    As nginx and HAProxy with equal weights. Every rebuild starts at a random place, as Envoy's
    round-robin does, so that workers started together do not all send their first request to
    the same target. O(1) per pick (O(n) with ``exclude``).
    """

    __slots__ = ("_last",)
    name = "round_robin"

    def update(self, targets: Sequence[Target]) -> None:
        self.targets = tuple(targets)
        self._last = int(self._random() * len(self.targets))

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        targets = self.targets
        n = len(targets)
        if not n:
            return None
        i = self._last + 1
        if i >= n:
            i = 0
        if exclude:
            for _ in range(n):
                if targets[i] not in exclude:
                    break
                i = i + 1 if i + 1 < n else 0
            else:
                return None
        self._last = i
        return targets[i]


class WeightedRoundRobin(Balancer):
    """``weighted_round_robin``: nginx's smooth weighted round-robin.

    Each pick adds every target's weight to its current weight, takes the target with the
    largest current weight (the first one on a tie) and subtracts the total weight from it:
    weights 5, 1, 1 give ``a a b a c a a``, spreading the light targets between the heavy one's
    turns. Weights may be fractional. As nginx, excluded targets take no part in a pick (neither
    their weight nor the total). An update keeps the current weights of the targets that stay
    (shifted so they sum to 0, the invariant between picks), so frequent updates — slow start
    changing a weight every second — do not restart the sequence. O(n) per pick.
    """

    __slots__ = ("_current", "_total", "_weights")
    name = "weighted_round_robin"

    def update(self, targets: Sequence[Target]) -> None:
        old = dict(zip(map(id, self.targets), getattr(self, "_current", ()), strict=False))
        self.targets = tuple(targets)
        self._weights = _weights(self.targets)
        self._total = sum(self._weights)
        current = [old.get(id(t), 0.0) for t in self.targets]
        shift = sum(current) / len(current) if current else 0.0
        self._current = [c - shift for c in current]

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        current = self._current
        best = -1
        most = -math.inf
        if exclude:
            targets = self.targets
            total = 0.0
            for i, w in enumerate(self._weights):
                if targets[i] in exclude:
                    continue
                total += w
                c = current[i] = current[i] + w
                if c > most:
                    best, most = i, c
        else:
            total = self._total
            for i, w in enumerate(self._weights):
                c = current[i] = current[i] + w
                if c > most:
                    best, most = i, c
        if best < 0:
            return None
        current[best] -= total
        return self.targets[best]


class LeastConn(Balancer):
    """``least_conn``: weighted least connections, as nginx's ``least_conn`` and HAProxy's
    ``leastconn``: the target with the least ``active / weight``.

    Ties are broken round-robin: the scan starts just after the previous pick, so with no load
    the picks rotate instead of always taking the first target (HAProxy gets the same effect
    from its tree's insertion order; nginx breaks ties by weighted round-robin). A target with
    no request in flight ends the scan at once. O(n) per pick.
    """

    __slots__ = ("_inverse", "_next", "_twice")
    name = "least_conn"

    def update(self, targets: Sequence[Target]) -> None:
        self.targets = tuple(targets)
        # the list twice over lets a scan start anywhere without a modulo per step
        self._twice = self.targets * 2
        self._inverse = [1.0 / w for w in _weights(self.targets)] * 2
        self._next = 0

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        n = len(self.targets)
        twice = self._twice
        inverse = self._inverse
        best = -1
        least = math.inf
        for i in range(self._next, self._next + n):
            t = twice[i]
            if exclude and t in exclude:
                continue
            load = t.active * inverse[i]
            if load < least:
                best, least = i, load
                if load <= 0:
                    break
        if best < 0:
            return None
        self._next = (best + 1) % n
        return twice[best]
