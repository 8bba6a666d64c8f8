"""Round-robin over a fixed list of targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class RoundRobin(Generic[T]):
    """``next()`` returns the targets in turn."""

    __slots__ = ("_i", "targets")

    def __init__(self, targets: Sequence[T]) -> None:
        if not targets:
            raise ValueError("round-robin needs at least one target")
        self.targets = tuple(targets)
        self._i = -1

    def next(self) -> T:
        self._i = i = (self._i + 1) % len(self.targets)
        return self.targets[i]

    def __len__(self) -> int:
        return len(self.targets)
