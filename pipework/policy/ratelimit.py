"""Rate limits per key: token buckets and sliding-window counters, with the clock passed in.

Theory of operation: a limiter keeps one small state per key (a client address, an API key, a
route…) in a :class:`KeyTable`, and ``limiter.hit(key, now, cost=1)`` answers with a
:class:`RateLimitDecision`: allowed or not, the quota units remaining, the seconds until the
quota is whole again (``reset``) and, when refused, the seconds until the same hit would pass
(``retry_after``). ``cost`` is 1 to count requests, or a byte count to limit bytes; a refused hit
takes nothing (a client that keeps knocking is not punished further, and its retry time holds).
:func:`rate_limit_headers` turns decisions into response fields. Nothing here reads a clock,
sleeps or logs: a filter passes ``loop.time()`` (any monotonic seconds) and acts on the answer.

Two algorithms, both "``limit`` units per ``window`` seconds" (``RateLimit-Policy: 100;w=60``):

- :class:`TokenBucketLimiter` — a :class:`~pipework.policy.TokenBucket` of ``limit`` tokens
  refilled at ``limit / window`` a second: a client may spend the whole quota at once (the burst)
  and then gets a steady trickle. This is Envoy's ``local_ratelimit`` (``max_tokens``,
  ``tokens_per_fill``, ``fill_interval``) and, in effect, nginx's ``limit_req`` with ``nodelay``:
  nginx keeps a *leaky bucket* (GCRA) per key — ``rate=10r/s burst=20`` lets a request in when the
  bucket's "excess" is at most ``burst``, the excess draining at ``rate``; with ``nodelay`` that is
  a token bucket of ``burst + 1`` tokens refilled at 10/s, i.e. ``TokenBucketLimiter(21, 2.1)``.
  Without ``nodelay`` nginx *delays* the excess instead of refusing it (a queue, which is flow
  control: ``throttle_message_rate`` territory, not this module). nginx sends no RateLimit fields
  and refuses with 503 unless ``limit_req_status 429``.
- :class:`SlidingWindowLimiter` — the "sliding window counter" of Cloudflare's and Redis' rate
  limiters: two fixed windows' counts, the previous one weighted by the part of it the sliding
  window still covers, ``estimate = prev * (1 - elapsed / window) + curr``; a hit passes when
  ``estimate + cost <= limit``. Two numbers per key instead of a log of timestamps; it assumes the
  previous window's hits were spread evenly. What it guarantees (checked against a brute-force
  log by the tests): every aligned window admits at most ``limit`` units, every sliding window of
  length ``window`` at most ``2 * limit``, and a refusal means more than ``limit - cost`` units were
  admitted in the last ``2 * window`` seconds. No bursts beyond the limit, unlike a fixed window's
  2x at its boundary.

Memory is bounded whatever keys clients choose: a :class:`KeyTable` holds at most ``max_keys``
states, least recently used first out. An entry idle long enough to be whole again (a full bucket,
two empty windows) is dropped as a matter of course — dropping it changes no answer. Evicting a key
still in use *does* forget its spending (the limiter fails open for it); ``KeyTable.evicted`` counts
those so a metric can say when ``max_keys`` is too small.

Response fields: draft-ietf-httpapi-ratelimit-headers-07 (October 2023), the last version with
separate fields, which is what gateways emit today (Kong, Traefik plugins, Envoy's draft-03 mode
with the ``X-`` prefix)::

    RateLimit-Limit: 100            quota units of the policy that binds (sf-integer)
    RateLimit-Remaining: 42         units left (sf-integer, >= 0)
    RateLimit-Reset: 17             delta-seconds until the quota is whole again, rounded up
    RateLimit-Policy: 100;w=60      each policy applied: limit;w=window seconds (sf-list)
    Retry-After: 3                  on a refusal (send 429): delta-seconds, RFC 9110 10.2.3

Envoy's ``enable_x_ratelimit_headers: DRAFT_VERSION_03`` writes ``X-RateLimit-Limit: 100, 100;w=60``
(policy folded into the limit), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` — same numbers.
Later drafts (-08 on) merge them into ``RateLimit: "p";r=42;t=17`` with ``RateLimit-Policy:
"p";q=100;w=60``; a gateway option can spell those from the same decision when clients need them.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .token_bucket import TokenBucket

__all__ = [
    "DEFAULT_MAX_KEYS",
    "KeyTable",
    "RateLimitDecision",
    "SharedStates",
    "SlidingWindowLimiter",
    "TokenBucketLimiter",
    "rate_limit_headers",
]

#: keys a limiter remembers: about 200 bytes each, so the default costs ~20 MB at worst; clients
#: choose the keys (addresses, header values), so the table must have a ceiling
DEFAULT_MAX_KEYS = 100_000
#: idle entries dropped per call at most: each call adds at most one entry, so a few per call keep
#: up with any arrival rate, and no single call pays for a long quiet period's backlog
_PURGE_STEP = 8
#: float slack: 100 tokens at 100/60 a second after 60 s may be 99.99999999999999
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The answer to one hit.

    ``retry_after`` is 0 when allowed and ``math.inf`` when the cost exceeds the limit (it can
    never pass); ``reset`` is at least ``retry_after`` when that is finite.
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float
    window: float

    @property
    def policy(self) -> str:
        """This limit as a ``RateLimit-Policy`` item: ``"100;w=60"``."""
        return f"{self.limit};w={math.ceil(self.window - _EPS)}"


class _Stamped(Protocol):
    stamp: float | None


S = TypeVar("S", bound=_Stamped)


class SharedStates(Protocol):
    """Where ``hit_in`` keeps states: :class:`~pipework.policy.shared_table.SharedTable`."""

    def update(self, key: bytes, now: float, idle: float, step: Callable[[Any], tuple[Any, Any]]) -> Any: ...


class KeyTable(Generic[S]):
    """Per-key states, at most ``max_keys``, least recently used evicted first.

    An entry whose ``stamp`` (last use) is ``idle`` seconds old or more is dropped on a later call.
    """

    __slots__ = ("_entries", "evicted", "expired", "idle", "max_keys")

    def __init__(self, max_keys: int, idle: float) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, not {max_keys!r}")
        self.max_keys = max_keys
        self.idle = idle
        self._entries: OrderedDict[Hashable, S] = OrderedDict()
        self.evicted = 0  # live entries pushed out by the cap (their spending forgotten)
        self.expired = 0  # idle entries dropped (no answer changes)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def peek(self, key: Hashable) -> S | None:
        """The entry for ``key`` if there is one, without touching its recency."""
        return self._entries.get(key)

    def get(self, key: Hashable, now: float, make: Callable[[], S]) -> S:
        """The entry for ``key`` (made by ``make`` if missing), now the most recently used."""
        entries = self._entries
        self._purge(now)  # an expired entry is as good as a new one, so ``key``'s own may go too
        state = entries.get(key)
        if state is None:
            if len(entries) >= self.max_keys:
                entries.popitem(last=False)
                self.evicted += 1
            state = entries[key] = make()
        else:
            entries.move_to_end(key)
        return state

    def _purge(self, now: float) -> None:
        entries = self._entries
        horizon = now - self.idle
        for _ in range(min(_PURGE_STEP, len(entries))):
            oldest = next(iter(entries.values()))
            if oldest.stamp is None or oldest.stamp > horizon:
                return
            entries.popitem(last=False)
            self.expired += 1


class _Limiter(Generic[S]):
    """What both limiters share: the quota, the key table, and ``hit``/``peek`` over ``_decide``."""

    __slots__ = ("keys", "limit", "window")

    def __init__(self, limit: int, window: float, max_keys: int, idle: float) -> None:
        if limit < 1:
            raise ValueError(f"a limit must be >= 1, not {limit!r}")
        if window <= 0:
            raise ValueError(f"a window must be > 0, not {window!r}")
        self.limit = int(limit)
        self.window = float(window)
        self.keys: KeyTable[S] = KeyTable(max_keys, idle)

    def take(self, key: Hashable, now: float, cost: float = 1) -> RateLimitDecision | None:
        """:meth:`hit` for a caller that needs the numbers only when it refuses: None when
        ``cost`` units were there (and are spent), else the refusal."""
        d = self.hit(key, now, cost)
        return None if d.allowed else d

    def hit(self, key: Hashable, now: float, cost: float = 1) -> RateLimitDecision:
        """Spend ``cost`` units of ``key``'s quota at time ``now`` if they are there.

        Raises ``ValueError`` for a negative cost (0 asks without spending).
        """
        if cost < 0:
            raise ValueError(f"a cost must be >= 0, not {cost!r}")
        return self._decide(self.keys.get(key, now, self._new), now, cost, True)

    def charge(self, key: Hashable, now: float, cost: float) -> RateLimitDecision:
        """Spend ``cost`` units of ``key``'s quota even past its end (a debt the refill pays
        back before the next hit passes): for what is known only afterwards, such as the bytes
        of a response."""
        if cost < 0:
            raise ValueError(f"a cost must be >= 0, not {cost!r}")
        return self._decide(self.keys.get(key, now, self._new), now, cost, True, True)

    def hit_in(
        self, table: SharedStates, key: bytes, now: float, cost: float = 1, force: bool = False
    ) -> RateLimitDecision:
        """``hit`` (``charge`` when ``force``) with ``key``'s state kept in ``table`` instead of
        this limiter's own keys: a :class:`~pipework.policy.shared_table.SharedTable` that the
        workers of a group share, so they share the quota."""
        if cost < 0:
            raise ValueError(f"a cost must be >= 0, not {cost!r}")

        def step(
            values: tuple[float, float, float, float] | None,
        ) -> tuple[tuple[float, float, float, float], RateLimitDecision]:
            state = self._new() if values is None else self.from_values(values)
            decision = self._decide(state, now, cost, True, force)
            return self.values(state, now), decision

        decision: RateLimitDecision = table.update(key, now, self.keys.idle, step)
        return decision

    def decide_from(
        self, values: tuple[float, float, float, float] | None, now: float, cost: float
    ) -> RateLimitDecision:
        """What ``hit`` answers for a key whose state was ``values`` (None: a new key) — the
        numbers for a decision another store (Redis) made with the same algorithm."""
        state = self._new() if values is None else self.from_values(values)
        return self._decide(state, now, cost, False)

    def values(self, state: S, now: float) -> tuple[float, float, float, float]:
        """``state`` as the four floats a shared store keeps, the last one the time of use."""
        raise NotImplementedError

    def from_values(self, values: tuple[float, float, float, float]) -> S:
        raise NotImplementedError

    def peek(self, key: Hashable, now: float, cost: float = 1) -> RateLimitDecision:
        """What ``hit`` would answer, spending nothing and adding no key.

        Checking several limits before charging any (requests and bytes) is ``peek`` on each,
        then ``hit`` on each when all allow.
        """
        if cost < 0:
            raise ValueError(f"a cost must be >= 0, not {cost!r}")
        state = self.keys.peek(key)
        return self._decide(self._new() if state is None else state, now, cost, False)

    def __len__(self) -> int:
        return len(self.keys)

    def _new(self) -> S:
        raise NotImplementedError

    def _decide(
        self, state: S, now: float, cost: float, commit: bool, force: bool = False
    ) -> RateLimitDecision:
        raise NotImplementedError


class TokenBucketLimiter(_Limiter[TokenBucket]):
    """``limit`` units per ``window`` seconds as a bucket of ``limit`` tokens per key.

    The whole quota may be spent at once; it refills at ``limit / window`` a second.
    """

    __slots__ = ("rate",)

    def __init__(self, limit: int, window: float, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        super().__init__(limit, window, max_keys, idle=float(window))  # full again after a window
        self.rate = self.limit / self.window

    def _new(self) -> TokenBucket:
        return TokenBucket(self.rate, self.limit)

    def take(self, key: Hashable, now: float, cost: float = 1) -> RateLimitDecision | None:
        if cost < 0:
            raise ValueError(f"a cost must be >= 0, not {cost!r}")
        state = self.keys.get(key, now, self._new)
        state.refill(now)
        tokens = state.tokens
        if tokens + _EPS >= cost:  # the common answer, without a decision to describe it
            state.tokens = tokens - cost if tokens > cost else 0.0
            return None
        return self._decide(state, now, cost, True)

    def values(self, state: TokenBucket, now: float) -> tuple[float, float, float, float]:
        stamp = state.stamp if state.stamp is not None else now
        return (state.tokens, stamp, 0.0, stamp)

    def from_values(self, values: tuple[float, float, float, float]) -> TokenBucket:
        state = TokenBucket(self.rate, self.limit)
        state.tokens, state.stamp = values[0], values[1]
        return state

    def _decide(
        self, state: TokenBucket, now: float, cost: float, commit: bool, force: bool = False
    ) -> RateLimitDecision:
        state.refill(now)
        tokens = state.tokens
        allowed = tokens + _EPS >= cost
        if force:  # a debt: tokens may go below 0, and the next hits wait for the refill
            tokens -= cost
            if commit:
                state.tokens = tokens
            retry = 0.0 if tokens >= 0 else -tokens / self.rate
        elif allowed:
            tokens = max(0.0, tokens - cost)
            if commit:
                state.tokens = tokens
            retry = 0.0
        elif cost > self.limit:
            retry = math.inf
        else:
            retry = state.wait_time(cost, now)
        return RateLimitDecision(
            allowed,
            self.limit,
            max(0, int(tokens + _EPS)),
            (self.limit - tokens) / self.rate,
            retry,
            self.window,
        )


class _Windows:
    """One key's sliding-window counter: the current fixed window's index and two counts."""

    __slots__ = ("curr", "index", "prev", "stamp")

    def __init__(self) -> None:
        self.index = 0
        self.prev = 0.0
        self.curr = 0.0
        self.stamp: float | None = None


class SlidingWindowLimiter(_Limiter[_Windows]):
    """``limit`` units in any ``window`` seconds, estimated from two fixed windows' counts."""

    __slots__ = ()

    def __init__(self, limit: int, window: float, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        super().__init__(limit, window, max_keys, idle=2 * float(window))  # both counts gone by then

    def _new(self) -> _Windows:
        return _Windows()

    def values(self, state: _Windows, now: float) -> tuple[float, float, float, float]:
        return (float(state.index), state.prev, state.curr, state.stamp if state.stamp is not None else now)

    def from_values(self, values: tuple[float, float, float, float]) -> _Windows:
        state = _Windows()
        state.index, state.prev, state.curr, state.stamp = int(values[0]), values[1], values[2], values[3]
        return state

    def _decide(
        self, state: _Windows, now: float, cost: float, commit: bool, force: bool = False
    ) -> RateLimitDecision:
        w, limit = self.window, self.limit
        index = math.floor(now / w)
        prev, curr = state.prev, state.curr
        if state.stamp is None or index > state.index:  # roll forward: one window or a gap of more
            prev, curr = (curr if index == state.index + 1 else 0.0), 0.0
        elif index < state.index:  # the clock went back: stay at the start of the known window
            index, now = state.index, state.index * w
        start = index * w
        weight = 1.0 - (now - start) / w  # share of the previous window still inside the slide
        estimate = prev * weight + curr
        allowed = estimate + cost <= limit + _EPS
        if allowed or force:
            curr += cost
            estimate += cost
            retry = 0.0
        elif cost > limit:
            retry = math.inf
        elif curr + cost <= limit + _EPS:  # in this window, once enough of prev has slid out
            retry = start + w * (1.0 - (limit - curr - cost) / prev) - now
        else:  # next window, when curr (then prev) has slid out enough
            retry = start + w + w * (1.0 - (limit - cost) / curr) - now
        if commit:
            state.index, state.prev, state.curr = index, prev, curr
            state.stamp = now if state.stamp is None else max(state.stamp, now)
        reset = start + 2 * w - now if curr > 0 else (start + w - now if prev > 0 else 0.0)
        return RateLimitDecision(
            allowed, limit, max(0, int(limit - estimate + _EPS)), reset, max(0.0, retry), w
        )


def rate_limit_headers(*decisions: RateLimitDecision) -> list[tuple[bytes, bytes]]:
    """Response fields for one or more decisions (one per limit applied), lower-case names.

    ``RateLimit-Limit``/``-Remaining``/``-Reset`` describe the limit that binds: a refusing one
    (the longest wait), else the one with the fewest units remaining. ``RateLimit-Policy`` lists
    every distinct policy; ``Retry-After`` is added when a decision refuses and can ever pass.
    Seconds are rounded up, so a client that waits what it is told is not refused again.
    """
    if not decisions:
        raise ValueError("rate_limit_headers needs at least one decision")
    refused = [d for d in decisions if not d.allowed]
    if refused:
        d = max(refused, key=lambda d: d.retry_after)
    else:
        d = min(decisions, key=lambda d: (d.remaining, -d.reset))
    policies = ", ".join(dict.fromkeys(x.policy for x in decisions))
    fields = [
        (b"ratelimit-limit", b"%d" % d.limit),
        (b"ratelimit-remaining", b"%d" % d.remaining),
        (b"ratelimit-reset", b"%d" % _seconds(d.reset)),
        (b"ratelimit-policy", policies.encode()),
    ]
    if refused and math.isfinite(d.retry_after):
        fields.append((b"retry-after", b"%d" % max(1, _seconds(d.retry_after))))
    return fields


def _seconds(t: float) -> int:
    """Delta-seconds rounded up (a float's dust below a whole second is not a second more)."""
    return max(0, math.ceil(t - _EPS)) if math.isfinite(t) else 0
