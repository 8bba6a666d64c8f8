"""Load-balancing algorithms: pure code that picks a target, with no I/O."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from .balancers import Balancer, Clock, LeastConn, RoundRobinBalancer, WeightedRoundRobin
from .choice import LeastRequest, PeakEwma, WeightedRandom
from .hashing import Maglev, RingHash, hash_key
from .round_robin import RoundRobin
from .target import Target

BALANCERS: dict[str, type[Balancer]] = {
    cls.name: cls
    for cls in (
        RoundRobinBalancer,
        WeightedRoundRobin,
        LeastConn,
        LeastRequest,
        PeakEwma,
        WeightedRandom,
        RingHash,
        Maglev,
    )
}


def make_balancer(
    name: str,
    targets: Sequence[Target],
    *,
    rng: random.Random | None = None,
    clock: Clock = time.monotonic,
    **options: object,
) -> Balancer:
    """A balancer of the kind registered as ``name`` over ``targets``.

    Raises ``ValueError`` for an unknown name (the message lists the known ones) and for an
    option the kind does not take or a value out of range.
    """
    try:
        cls = BALANCERS[name]
    except KeyError:
        known = ", ".join(BALANCERS)
        raise ValueError(f"unknown balancer {name!r} (known: {known})") from None
    return cls(targets, rng=rng, clock=clock, **options)


__all__ = [
    "BALANCERS",
    "Balancer",
    "LeastConn",
    "LeastRequest",
    "Maglev",
    "PeakEwma",
    "RingHash",
    "RoundRobin",
    "RoundRobinBalancer",
    "Target",
    "WeightedRandom",
    "WeightedRoundRobin",
    "hash_key",
    "make_balancer",
]
