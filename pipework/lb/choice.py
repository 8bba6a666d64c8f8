"""Randomised balancers: weighted random, Envoy's least_request and peak-EWMA power of two choices.

Theory of operation: every draw is one ``rng.random()``. Equal weights draw uniformly; unequal
ones go through Vose's alias table, built in O(n) by :meth:`update` and drawn from in O(1). The
power-of-two-choices kinds draw two candidates and keep the one with the lower cost; on a tie
the first drawn wins, so with no load at all the picks follow the weights exactly. A retry
(``exclude``) takes a slower path that lists the remaining targets: retries are rare.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from .balancers import Balancer, _weights
from .target import Target

# A response time of 0 (a coarse clock) must not read as "never observed" (latency 0).
MIN_LATENCY = 1e-6


def alias_table(weights: Sequence[float]) -> tuple[list[float], list[int]]:
    """Vose's alias method: draw ``u = random() * n``, ``i = int(u)``; the pick is ``i`` when
    ``u - i < prob[i]``, else ``alias[i]`` — with probability ``weights[i] / sum(weights)``."""
    n = len(weights)
    total = sum(weights)
    scaled = [w * n / total for w in weights]
    prob = [1.0] * n
    alias = list(range(n))
    small = [i for i, p in enumerate(scaled) if p < 1.0]
    large = [i for i, p in enumerate(scaled) if p >= 1.0]
    while small and large:
        s = small.pop()
        g = large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] += scaled[s] - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias  # what is left has prob 1.0 (up to rounding)


class _Sampler(Balancer):
    """Draws targets by weight; the base of the randomised kinds."""

    __slots__ = ("_alias", "_equal", "_inverse", "_prob", "_weights")

    def update(self, targets: Sequence[Target]) -> None:
        self.targets = tuple(targets)
        self._weights = _weights(self.targets)
        self._inverse = [1.0 / w for w in self._weights]
        self._equal = len(set(self._weights)) <= 1
        self._prob, self._alias = ([], []) if self._equal else alias_table(self._weights)

    def _draw(self) -> int:
        u = self._random() * len(self.targets)
        i = int(u)
        if self._equal or u - i < self._prob[i]:
            return i
        return self._alias[i]

    def _remaining(self, exclude: Collection[Target]) -> list[int]:
        return [i for i, t in enumerate(self.targets) if t not in exclude]

    def _better(self, i: int, j: int) -> int:
        """The index of the cheaper of two candidates, ``i`` on a tie."""
        raise NotImplementedError

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        """Power of two choices: the better (:meth:`_better`) of two candidates."""
        n = len(self.targets)
        if exclude or n < 2:
            return self._pick_two_slowly(exclude)
        if self._equal:
            i = int(self._random() * n)
            j = int(self._random() * (n - 1))
            if j >= i:
                j += 1
        else:
            i = self._draw()
            j = self._draw()
        return self.targets[self._better(i, j)]

    def _pick_two_slowly(self, exclude: Collection[Target]) -> Target | None:
        remaining = self._remaining(exclude)
        if len(remaining) < 2:
            return self.targets[remaining[0]] if remaining else None
        if self._equal:
            i, j = self._rng.sample(remaining, 2)
        else:
            i, j = self._rng.choices(remaining, [self._weights[k] for k in remaining], k=2)
        return self.targets[self._better(i, j)]


class WeightedRandom(_Sampler):
    """``random``: each pick independent, with probability weight / total weight.

    As Envoy's and HAProxy's ``random`` (HAProxy draws two and keeps the less loaded: that is
    ``least_request`` here). O(1) per pick through the alias table; a retry draws among the
    targets not excluded, by weight.
    """

    __slots__ = ()
    name = "random"

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        if not self.targets:
            return None
        t = self.targets[self._draw()]
        if not exclude or t not in exclude:
            return t
        remaining = self._remaining(exclude)
        if not remaining:
            return None
        weights = [self._weights[i] for i in remaining]
        return self.targets[self._rng.choices(remaining, weights)[0]]


class LeastRequest(_Sampler):
    """``least_request``: Envoy's power of two choices on requests in flight.

    Equal weights: draw two different targets at random and keep the one with fewer ``active``
    requests (Envoy draws with replacement, so with two targets it sends a quarter of the load
    to the busier one; distinct draws avoid that). Unequal weights: Envoy schedules by
    ``weight / (active + 1)``; here the two candidates are drawn by weight (with replacement)
    and the lower ``active / weight`` wins, so at zero load the shares are the weights exactly
    and under load the less loaded per unit of weight is preferred. O(1) per pick.
    """

    __slots__ = ()
    name = "least_request"

    def _better(self, i: int, j: int) -> int:
        a, b = self.targets[i], self.targets[j]
        return j if b.active * self._inverse[j] < a.active * self._inverse[i] else i


class PeakEwma(_Sampler):
    """``ewma``: power of two choices on peak-EWMA latency, as Finagle's ``PeakEwma`` and
    linkerd2-proxy's (tower's) ``PeakEwma``.

    Cost = latency now x (active x heaviest weight / weight + 1); of two candidates drawn as in
    ``least_request``, the cheaper wins. With equal weights that is Finagle's and tower's
    ``latency x (active + 1)`` (they know no weights); with unequal ones the load counts per
    unit of weight, so that it stays in proportion to the weights as in ``least_request``, and at
    zero load the costs tie and the weighted draw decides.

    The latency estimate jumps to any response time above it at once (peak) and otherwise
    decays exponentially with time constant ``decay`` seconds — toward the response times it is
    given, and toward 0 while none come, so a target that was slow is tried again after a while.
    This is what Finagle and tower compute under load (they decay the estimate on every read);
    here a pick reads without writing: the estimate at ``now`` is
    ``latency * exp(-(now - stamp) / decay)`` and an observation stores ``max(that, seconds)``.
    A target with no response yet counts ``default_latency`` (decaying from when the balancer
    first saw it, as tower's default RTT does), pessimistic on purpose: a new or recovered
    target earns its traffic. Options: ``decay`` (default 10 s, Finagle's and linkerd's) and
    ``default_latency`` (default 0.1 s). O(1) per pick.
    """

    __slots__ = ("_default", "_per_weight", "_tau")
    name = "ewma"
    wants_latency = True
    OPTIONS = {"decay": 10.0, "default_latency": 0.1}

    def _configure(self, options: Mapping[str, float]) -> None:
        self._tau = options["decay"]
        self._default = options["default_latency"]

    def update(self, targets: Sequence[Target]) -> None:
        super().update(targets)
        heaviest = max(self._weights, default=1.0)
        self._per_weight = [heaviest / w for w in self._weights]
        now = self._clock()
        for t in self.targets:
            if not t.latency and not t.stamp:
                t.stamp = now  # when the default starts to decay

    def estimate(self, target: Target, now: float | None = None) -> float:
        """The latency estimate of ``target`` at ``now`` (the clock's time by default)."""
        if now is None:
            now = self._clock()
        latency = target.latency or self._default
        elapsed = now - target.stamp
        return latency * math.exp(-elapsed / self._tau) if elapsed > 0 else latency

    def observe(self, target: Target, seconds: float) -> None:
        now = self._clock()
        seconds = max(seconds, MIN_LATENCY)
        if target.latency:
            seconds = max(seconds, self.estimate(target, now))
        target.latency = seconds
        target.stamp = now

    def _better(self, i: int, j: int) -> int:
        a, b = self.targets[i], self.targets[j]
        now = self._clock()
        estimate = self.estimate
        per = self._per_weight
        cost_a = estimate(a, now) * (a.active * per[i] + 1)
        return j if estimate(b, now) * (b.active * per[j] + 1) < cost_a else i
