"""Consistent hashing on a request key: a Ketama-like ring and Google's Maglev table.

Theory of operation: both kinds place targets by their *name* with a keyed-less, stable hash
(BLAKE2b, the same in every process and on every machine, unlike Python's salted ``hash()``),
so every worker and every proxy that sees the same targets sends a key to the same target. A
pick hashes the key once (:func:`hash_key`, ~0.5 µs) and looks it up: bisection on the ring,
one index into the Maglev table. Rebuilding is done by :meth:`update`, in O(points log points)
for the ring and O(M log M) for a Maglev table of size M. With ``exclude`` a pick walks on
deterministically (next distinct target clockwise on the ring, next slot in the table), so a
retry of the same key goes to the same second choice everywhere. With no key, a pick takes a
random point, which honours the weights as a keyed pick does.
"""

from __future__ import annotations

import heapq
import math
import struct
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from hashlib import blake2b

from .balancers import Balancer
from .target import Target

_U64X8 = struct.Struct("<8Q")
_U64X2 = struct.Struct("<2Q")
_SPAN = 1 << 64


def hash_key(key: bytes) -> int:
    """The 64-bit hash of a request key (stable across processes and machines)."""
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "little")


def ring_points(name: str, count: int) -> list[int]:
    """The first ``count`` ring positions of a target: eight per 64-byte digest (Ketama takes
    four per MD5). Positions for ``count`` are a prefix of those for ``count + 1``, so a weight
    change moves keys only between that target and its neighbours."""
    points: list[int] = []
    for j in range((count + 7) // 8):
        points.extend(_U64X8.unpack(blake2b(f"{name}-{j}".encode()).digest()))
    del points[count:]
    return points


def _by_name(targets: Sequence[Target]) -> list[Target]:
    # The build must not depend on the order the caller lists the targets in.
    return sorted(targets, key=lambda t: t.name)


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


class RingHash(Balancer):
    """``ring_hash``: a consistent hash ring (Ketama-like); a key goes to the first point at or
    after its hash, clockwise.

    Points per target follow nginx's and HAProxy's rule rather than Envoy's: a count that
    depends only on the target's own weight — ``points_per_target x weight / heaviest weight``,
    at least 1 — so that removing or adding a target moves only the keys that target loses or
    gains (Envoy rescales every target to fill ``min_ring_size``, which moves keys between the
    targets that stay). Options: ``points_per_target`` (default 512: with three targets the
    shares are within ~5% of the weights, and 100 targets build in ~30 ms) and
    ``max_ring_size`` (default 1 << 17, Envoy's is 8M: building costs ~0.5 µs a point here;
    beyond it every target gets proportionally fewer points). O(log points) per pick.
    """

    __slots__ = ("_hashes", "_max", "_owners", "_per_target")
    name = "ring_hash"
    OPTIONS = {"points_per_target": 512, "max_ring_size": 1 << 17}

    def _configure(self, options: Mapping[str, float]) -> None:
        self._per_target = int(options["points_per_target"])
        self._max = int(options["max_ring_size"])

    def update(self, targets: Sequence[Target]) -> None:
        self.targets = tuple(targets)
        ordered = _by_name(self.targets)
        heaviest = max((t.weight for t in ordered), default=1)
        shares = [t.weight / heaviest for t in ordered]
        scale = min(float(self._per_target), self._max / sum(shares)) if shares else 0.0
        hashes: list[int] = []
        owners: list[Target] = []
        for t, share in zip(ordered, shares, strict=True):
            count = max(1, round(scale * share))
            hashes += ring_points(t.name, count)
            owners += [t] * count
        owner = dict(zip(hashes, owners, strict=True))  # a 64-bit collision keeps the later name
        hashes.sort()
        self._hashes = hashes
        self._owners = [owner[h] for h in hashes]

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        hashes = self._hashes
        if not hashes:
            return None
        h = self._rng.getrandbits(64) if key is None else hash_key(key)
        i = bisect_left(hashes, h)
        if i == len(hashes):
            i = 0
        t = self._owners[i]
        if exclude and t in exclude:
            return self._walk(i, exclude)
        return t

    def _walk(self, i: int, exclude: Collection[Target]) -> Target | None:
        if all(t in exclude for t in self.targets):
            return None
        owners = self._owners
        while owners[i] in exclude:
            i = i + 1 if i + 1 < len(owners) else 0
        return owners[i]

    def __len__(self) -> int:
        return len(self._hashes)


class Maglev(Balancer):
    """``maglev``: Google's Maglev lookup table (Eisenbud et al., NSDI 2016), weighted as Envoy's.

    Each target walks its own permutation of the table's slots (offset and skip from its name's
    hash) and the targets take turns claiming their next free slot until the table is full; in
    Envoy's weighted variant a target of weight w (relative to the heaviest) takes a turn in a
    round only when ``round x w`` has caught up with the turns it already took. A key goes to
    ``table[hash % size]``. Removing one of N targets moves its keys and only a few others (the
    paper's trade of a little disruption for an even spread). Option ``table_size`` (a prime,
    default 65537 as Envoy's; about 100x the number of targets keeps the shares within ~1%).
    O(1) per pick.
    """

    __slots__ = ("_size", "_table")
    name = "maglev"
    OPTIONS = {"table_size": 65537}

    def _configure(self, options: Mapping[str, float]) -> None:
        size = int(options["table_size"])
        if not _is_prime(size):
            raise ValueError(f"balancer maglev: option table_size must be a prime, not {size}")
        self._size = size

    def update(self, targets: Sequence[Target]) -> None:
        self.targets = tuple(targets)
        ordered = _by_name(self.targets)
        self._table = [ordered[i] for i in self._fill(ordered)] if ordered else []

    def _fill(self, ordered: Sequence[Target]) -> list[int]:
        size = self._size
        heaviest = max(t.weight for t in ordered)
        shares = [t.weight / heaviest for t in ordered]
        position: list[int] = []
        skip: list[int] = []
        for t in ordered:
            a, b = _U64X2.unpack(blake2b(t.name.encode(), digest_size=16).digest())
            position.append(a % size)
            skip.append(b % (size - 1) + 1)
        # A target of share s moves in turn t when t * s >= the moves it made before (Envoy's
        # rule), in name order within a turn. Envoy visits every target every turn; the turns each
        # target is due in are kept here instead, so light targets cost nothing while they wait.
        everyone = list(range(len(ordered)))
        equal = min(shares) == 1.0
        due: dict[int, list[int]] = {1: everyone}
        turns = [1]
        moves = [0] * len(ordered)
        table = [-1] * size
        filled = 0
        while True:
            if equal:
                movers = everyone
            else:
                turn = heapq.heappop(turns)
                movers = sorted(due.pop(turn))
                for i in movers:
                    moves[i] += 1
                    later = max(turn + 1, math.ceil(moves[i] / shares[i]))
                    if later in due:
                        due[later].append(i)
                    else:
                        due[later] = [i]
                        heapq.heappush(turns, later)
            for i in movers:
                c = position[i]
                step = skip[i]
                while table[c] >= 0:
                    c += step
                    if c >= size:
                        c -= size
                table[c] = i
                c += step
                position[i] = c - size if c >= size else c
                filled += 1
                if filled == size:
                    return table

    def pick(self, key: bytes | None = None, exclude: Collection[Target] = ()) -> Target | None:
        table = self._table
        if not table:
            return None
        i = self._rng.getrandbits(64) % self._size if key is None else hash_key(key) % self._size
        t = table[i]
        if exclude and t in exclude:
            if all(t in exclude for t in self.targets):
                return None
            while t in exclude:
                i = i + 1 if i + 1 < self._size else 0
                t = table[i]
        return t
