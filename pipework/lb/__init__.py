"""Load-balancing algorithms: pure code that picks a target, with no I/O."""

from .round_robin import RoundRobin

__all__ = ["RoundRobin"]
