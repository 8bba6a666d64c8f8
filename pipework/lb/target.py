"""What a balancer knows of one target: its name, weight and load (no I/O, no pool).

The I/O layer keeps a :class:`Target` per upstream server and updates its counters as requests
start and finish; balancers read them when they pick. A subclass may add what the I/O side needs
(a connection pool, say) — balancers only touch the fields below.
"""

from __future__ import annotations


class Target:
    """One server a balancer can pick.

    ``name`` is stable and unique within an upstream (``"10.0.0.1:8080"``): consistent hashing
    places a target by it, so the same name lands in the same place in every process. ``weight``
    is the weight in force now (> 0; slow start lowers it for a while); ``active`` counts the
    requests sent to this target and not yet answered; ``latency`` is a peak-EWMA of response
    times in seconds (0 until the first is observed) and ``stamp`` when it was last updated,
    both kept by :class:`~pipework.lb.choice.PeakEwma`.
    """

    __slots__ = ("active", "latency", "name", "stamp", "weight")

    def __init__(self, name: str, weight: float = 1) -> None:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise ValueError(f"target {name}: weight must be a number > 0, not {weight!r}")
        self.name = name
        self.weight = weight
        self.active = 0
        self.latency = 0.0
        self.stamp = 0.0

    def __repr__(self) -> str:
        return f"<Target {self.name} weight={self.weight:g} active={self.active}>"
