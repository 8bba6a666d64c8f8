"""``rate_limit``: quotas per key, in this process, across a worker group, or across machines.

Theory of operation: the step sits under ``demux_http`` (one sub-pipeline per request). At the
request head it computes the key (:mod:`.keys`) and the cost (1, or bytes) and asks its *zone*
for a :class:`~pipework.policy.ratelimit.RateLimitDecision`; an allowed request flows on
untouched, a refused one is answered 429 with ``Retry-After`` and ``RateLimit-*`` fields.

Where the quota lives (a zone, as nginx's ``limit_req_zone``; steps with the same settings, or
the same ``zone=`` name, share one):

- serving alone: the limiter's own bounded table in this process (:class:`KeyTable`);
- under ``--workers N``: a :class:`~pipework.policy.shared_table.SharedTable` in the group's
  directory, so the N workers share one quota (a hit costs a few microseconds more);
- with ``redis=URL``: a Lua script run atomically by Redis (EVALSHA) implementing the same two
  algorithms on Redis's clock, so any number of pipework processes share it. The request's
  events are held (at most :data:`MAX_HELD` bytes) while the answer comes, which is bounded by
  the client's timeout. When Redis cannot be reached or does not answer in time, the step
  decides with the zone's local quota (the group's, or the process's) — one warning when that
  starts and one line when Redis is back; a request never fails because Redis is down.

``cost="bytes"``: a request costs its ``Content-Length`` (at least 1) when its head comes —
refused if that much is not left — and the bytes of its response body (and of a request body
sent without a length) are charged when the response ends, even past the quota: a debt that
the next requests wait out. That is a bandwidth quota per key ("1 GB a day per API key"), what
API gateways meter; nginx has no per-key byte quota (its ``limit_rate`` slows one connection
instead, which is :meth:`throttle_data_rate` here).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..codec.http1 import RequestHead
from ..codec.resp import Array, BulkString, Integer, SimpleError, Value
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, group
from ..core.checks import seconds
from ..core.script import service
from ..net.redis import DEFAULT_TIMEOUT, RedisClient, RedisError
from ..policy import shared_table
from ..policy.ratelimit import (
    DEFAULT_MAX_KEYS,
    RateLimitDecision,
    SlidingWindowLimiter,
    TokenBucketLimiter,
    rate_limit_headers,
)
from ..policy.shared_table import open_table
from .http import Answer, send_answer
from .keys import key_function

log = logging.getLogger("pipework")

#: requests refused by each rate_limit zone (named "limit/window by key"), for the metrics
REJECTED: Counter[str] = Counter()
#: request bytes held while Redis answers; past it the step decides locally at once
MAX_HELD = 1024 * 1024

# The two algorithms of policy/ratelimit.py, for Redis. KEYS[1]: the key's hash (fields a b c,
# the same three numbers SharedTable keeps); ARGV: limit, window, cost, "t" (token bucket) or
# "s" (sliding window), "1" to charge past the quota. Returns allowed, Redis's time, and the
# state before the hit ("" when new), from which pipework computes the decision's numbers.
LUA = r"""
if redis.replicate_commands then redis.replicate_commands() end
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local force = ARGV[5] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local old = redis.call('HMGET', KEYS[1], 'a', 'b', 'c')
local a, b, c = tonumber(old[1]), tonumber(old[2]), tonumber(old[3])
local allowed, ttl = 0, window
if ARGV[4] == 't' then
  local tokens, stamp = limit, now
  if a then
    tokens, stamp = a, b
    if now > stamp then
      tokens = math.min(limit, tokens + (now - stamp) * limit / window)
      stamp = now
    end
  end
  if tokens + 1e-9 >= cost then allowed = 1 end
  if force then tokens = tokens - cost elseif allowed == 1 then tokens = math.max(0, tokens - cost) end
  a, b, c = tokens, stamp, 0
else
  local index = math.floor(now / window)
  local prev, curr = 0, 0
  if a then
    if index > a then
      if index == a + 1 then prev = c end
    else
      if index < a then index = a; now = a * window end
      prev, curr = b, c
    end
  end
  local weight = 1 - (now - index * window) / window
  if prev * weight + curr + cost <= limit + 1e-9 then allowed = 1 end
  if allowed == 1 or force then curr = curr + cost end
  a, b, c, ttl = index, prev, curr, 2 * window
end
redis.call('HSET', KEYS[1], 'a', string.format('%.17g', a), 'b', string.format('%.17g', b),
           'c', string.format('%.17g', c))
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000))
return {allowed, string.format('%.17g', now), old[1] or '', old[2] or '', old[3] or ''}
"""
LUA_SHA = hashlib.sha1(LUA.encode()).hexdigest()

Limiter = TokenBucketLimiter | SlidingWindowLimiter
Decided = Callable[["RateLimitDecision | None"], None]


class RedisStore:
    """Quotas in one Redis server, shared by every pipework process that names it.

    ``pw.RedisStore("redis://127.0.0.1:6379/0", timeout=0.5)`` may be passed as ``redis=`` to
    several steps; a URL string makes (or reuses) the process's store for that URL. One
    pipelined connection (:class:`~pipework.net.redis.RedisClient`), opened when the program
    starts serving.
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, prefix: str = "pipework:rl:") -> None:
        self.url = url
        self.prefix = prefix.encode()
        self.client = RedisClient(
            url,
            timeout=timeout,
            setup=[("SCRIPT", "LOAD", LUA)],
            on_up=self._up,
            on_down=self._down,
        )
        self.failing = False
        self.connected_once = False
        self.started = False

    def start(self) -> None:
        """Connect (the runtime calls this when a program using the store starts serving, again
        for each reload that keeps it: only the first counts)."""
        if not self.started:
            self.started = True
            self.client.start()

    def stop(self) -> None:
        if self.started:
            self.started = False
            self.client.stop()

    def _up(self) -> None:
        if self.failing:
            log.warning("rate_limit: Redis at %s is back; quotas are shared through it again", self.url)
        elif not self.connected_once:
            log.info("rate_limit: connected to Redis at %s", self.url)
        self.failing = False
        self.connected_once = True

    def _down(self, reason: str) -> None:
        if not self.failing:
            log.warning(
                "rate_limit: Redis at %s is unreachable (%s); limiting locally until it is back",
                self.url,
                reason,
            )
        self.failing = True

    def hit(self, zone: bytes, limiter: Limiter, key: bytes, cost: float, force: bool, done: Decided) -> bool:
        """Ask Redis; ``done`` gets the decision, or None when Redis did not give one. False
        (``done`` never called) when the question cannot be sent now."""
        algo = "t" if isinstance(limiter, TokenBucketLimiter) else "s"
        rkey = self.prefix + zone + b":" + key
        args = (rkey, limiter.limit, limiter.window, cost, algo, "1" if force else "0")

        def answer(reply: Value | RedisError) -> None:
            flushed = isinstance(reply, SimpleError) and reply.code == b"NOSCRIPT"
            if flushed and self.client.call(answer, "EVAL", LUA, 1, *args):  # sent whole this time
                return
            done(_decision(reply, limiter, cost))

        return self.client.call(answer, "EVALSHA", LUA_SHA, 1, *args)


def _decision(reply: Value | RedisError, limiter: Limiter, cost: float) -> RateLimitDecision | None:
    """The script's answer as a decision; None for anything else (the caller decides locally)."""
    if not isinstance(reply, Array) or len(reply.items) != 5:
        if isinstance(reply, SimpleError):
            log.error("rate_limit: Redis refused the script: %s", reply.value.decode("latin-1"))
        return None
    allowed, *rest = reply.items
    if not isinstance(allowed, Integer):
        return None
    raw = [v.value for v in rest if isinstance(v, BulkString)]
    if len(raw) != 4:
        return None
    t = float(raw[0])
    values: tuple[float, float, float, float] | None = None
    if raw[1]:
        x, y, z = (float(v) for v in raw[1:])
        values = (x, y, 0.0, y) if isinstance(limiter, TokenBucketLimiter) else (x, y, z, t)
    d = limiter.decide_from(values, t, cost)
    ok = allowed.value == 1
    if d.allowed != ok:  # float dust at the edge: Redis decided, say so
        d = RateLimitDecision(
            ok, d.limit, d.remaining if ok else 0, d.reset, 0.0 if ok else max(d.retry_after, 1e-3), d.window
        )
    return d


_stores: dict[str, RedisStore] = {}


def _store(redis: Any) -> RedisStore | None:
    if redis is None or isinstance(redis, RedisStore):
        return redis
    if not isinstance(redis, str):
        raise TypeError(f"rate_limit(): redis is a redis:// URL or a RedisStore, not {redis!r}")
    store = _stores.get(redis)
    if store is None:
        store = _stores[redis] = RedisStore(redis)
    return store


class Zone:
    """One quota: its limiter, where its states live, and the name of its metrics."""

    __slots__ = ("_dir", "_gen", "_table", "capacity", "ident", "limiter", "name", "redis")

    def __init__(
        self, ident: str, name: str, limiter: Limiter, capacity: int, redis: RedisStore | None
    ) -> None:
        self.ident = ident
        self.name = name
        self.limiter = limiter
        self.capacity = capacity
        self.redis = redis
        self._table: Any = None
        self._gen = -1
        self._dir: str | None = None

    def local(self, key: bytes, cost: float, force: bool = False) -> RateLimitDecision:
        """The decision of the quota shared by this process group (or this process alone)."""
        now = time.monotonic()
        if self._gen != shared_table.generation:  # first use in this process: find the group's directory
            self._gen = shared_table.generation
            self._dir = group.directory()
            self._table = None
            if self._dir is not None:
                self._table = open_table(os.path.join(self._dir, f"ratelimit-{self.ident}"), self.capacity)
        table = self._table
        lim = self.limiter
        if table is not None:
            return lim.hit_in(table, key, now, cost, force)
        return lim.charge(key, now, cost) if force else lim.hit(key, now, cost)

    def take(self, key: bytes, cost: float) -> RateLimitDecision | None:
        """:meth:`local` for the direct path: None when the request may pass (nothing made to
        say so), else the refusal."""
        if self._gen == shared_table.generation and self._table is None:
            return self.limiter.take(key, time.monotonic(), cost)
        d = self.local(key, cost)
        return None if d.allowed else d

    def hit(self, key: bytes, cost: float, done: Decided, force: bool = False) -> RateLimitDecision | None:
        """The decision now, or None when it will come to ``done`` (from Redis)."""
        redis = self.redis
        if redis is not None and redis.hit(self.ident.encode(), self.limiter, key, cost, force, done):
            return None
        return self.local(key, cost, force)


_zones: dict[str, Zone] = {}


class RateLimit(Filter):
    """See the module docstring."""

    __slots__ = ("cost", "counting", "held", "held_size", "key", "out", "spent", "state")

    @staticmethod
    def direct_check(cfg: _Cfg) -> Callable[[RequestHead, Any], Any] | None:
        """For demux_http's direct path: the check of a limit decided here and now (not through
        Redis, not on bytes, which are charged when the response has gone); else None."""
        return cfg.check if cfg.zone.redis is None and cfg.cost >= 0 else None

    # state: 0 before the head, 1 waiting for Redis, 2 passing, 3 refused
    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.state = 0
        self.held: list[Event] | None = None
        self.held_size = 0
        self.key = b""
        self.cost = 1.0
        self.counting = False  # bytes mode: the bodies are counted, to charge at the end
        self.spent = 0  # body bytes past the declared request length (charged at the end)
        self.out: Callable[[Event], None] | None = None

    def process(self, evt: Event) -> None:
        st = self.state
        if st == 2:
            if self.counting and type(evt) is Data:
                self.spent += len(evt.data)
            self._out(evt)
            return
        if st == 3:
            return
        if st == 0 and type(evt) is MessageStart:
            cfg: _Cfg = self.cfg
            head: RequestHead = evt.head
            k = cfg.key(head, self.pipeline.context)
            self.key = k if k is not None else b""
            cost = cfg.cost
            if cost < 0:  # bytes: the declared body now, the rest when it has passed
                length = head.header(b"content-length")
                declared = int(length) if length is not None and length.isdigit() else 0
                self.counting = True
                self.spent = -declared
                cost = max(declared, 1)
            self.cost = cost
            d = cfg.zone.hit(self.key, cost, self._decided)
            if d is None:
                self.state = 1
                self.held = [evt]
                return
            self._apply(d, evt)
            return
        if st == 0:  # no request head yet (a stream ending early): nothing to decide
            self._out(evt)
            return
        held = self.held
        if held is not None:
            held.append(evt)
            if type(evt) is Data:
                self.held_size += len(evt.data)
                if self.held_size > MAX_HELD:  # Redis is slow: do not wait for it any longer
                    self._decided(None)

    def _decided(self, d: RateLimitDecision | None) -> None:
        """Redis's answer (None: none, decide locally) for the held request."""
        if self.state != 1 or self.pipeline.closed:
            return
        held, self.held = self.held or [], None
        try:
            if d is None:
                cfg: _Cfg = self.cfg
                d = cfg.zone.local(self.key, self.cost)
            self._apply(d, *held)
        except Exception as exc:
            self.pipeline.context.fail(exc)

    def _apply(self, d: RateLimitDecision, *events: Event) -> None:
        cfg: _Cfg = self.cfg
        if not d.allowed:
            self.state = 3
            self.counting = False
            send_answer(self.pipeline.output, cfg.refusal(d))  # past the steps after this one
            return
        self.state = 2
        if self.counting:
            self.out = self.pipeline.output
            self.pipeline.set_output(self._response)
        for e in events:
            self.process(e)

    def _response(self, evt: Event) -> None:
        """Bytes mode: the response on its way out, its body counted, charged at its end."""
        t = type(evt)
        if t is Data:
            if self.counting:
                self.spent += len(evt.data)  # type: ignore[attr-defined]
        elif t is MessageStart:
            body = getattr(evt.head, "body", None)  # type: ignore[attr-defined]
            if type(body) is bytes and self.counting:  # a whole pw.Response, encoded by demux_http
                self.spent += len(body)
        elif t is MessageEnd or t is StreamEnd:
            self._charge()
        out = self.out
        assert out is not None
        out(evt)

    def _charge(self) -> None:
        if not self.counting:
            return
        self.counting = False
        spent = self.spent
        if spent > 0:
            zone: Zone = self.cfg.zone
            key = self.key

            def charged(d: RateLimitDecision | None) -> None:
                if d is None:  # Redis did not take it: the local quota does
                    zone.local(key, spent, True)

            zone.hit(key, spent, charged, force=True)

    def close(self) -> None:
        if self.state == 2:
            self._charge()
        self.held = None


class _Cfg:
    __slots__ = ("cost", "key", "zone")

    def __init__(self, zone: Zone, key: Callable[[Any, Any], bytes | None], cost: float) -> None:
        self.zone = zone
        self.key = key
        self.cost = cost  # -1: bytes

    def check(self, head: RequestHead, ctx: Any) -> Answer | None:
        """The local decision for one request, as a gate's answer: None to pass, or the 429."""
        k = self.key(head, ctx)
        d = self.zone.take(k if k is not None else b"", self.cost)
        return None if d is None else self.refusal(d)

    def refusal(self, d: RateLimitDecision) -> Answer:
        """The 429 for a refused request (counted for the metrics)."""
        REJECTED[self.zone.name] += 1
        return 429, [(b"content-type", b"text/plain"), *rate_limit_headers(d)], "too many requests\n"


def rate_limit(
    self: Builder,
    limit: int,
    window: float = 1.0,
    *,
    key: str | Callable[..., Any] = "ip",
    algorithm: str = "token_bucket",
    cost: int | str = 1,
    max_keys: int = DEFAULT_MAX_KEYS,
    redis: str | RedisStore | None = None,
    zone: str | None = None,
) -> Builder:
    """At most ``limit`` requests (or bytes, with ``cost="bytes"``) per ``window`` seconds for
    each value of ``key`` (the client address by default; any key expression such as
    ``"header:x-api-key"`` or ``"claim:sub"``, or a function); past it, 429 with ``Retry-After``
    and ``RateLimit-*`` fields. ``algorithm``: ``"token_bucket"`` (bursts up to ``limit``,
    nginx's ``limit_req ... nodelay``) or ``"sliding_window"``. ``cost``: what one request
    spends (an integer >= 0, default 1) or ``"bytes"`` (see the module docstring).

    The quota is shared by all workers of a ``--workers N`` group (a table of ``max_keys``
    keys in shared memory), and with ``redis`` (a ``redis://`` URL or a :class:`RedisStore`)
    by every process using that Redis, falling back to the group's quota while Redis is down.
    Steps with the same settings share one quota (as nginx's ``limit_req zone=``); give
    ``zone`` a name to keep them apart or to join steps with different keys."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"rate_limit(): limit must be an integer >= 1, not {limit!r}")
    seconds(window, "rate_limit(): window", zero=False)
    if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
        raise ValueError(f"rate_limit(): max_keys must be an integer >= 1, not {max_keys!r}")
    limiter: Limiter
    if algorithm == "token_bucket":
        limiter = TokenBucketLimiter(limit, window, max_keys=max_keys)
    elif algorithm == "sliding_window":
        limiter = SlidingWindowLimiter(limit, window, max_keys=max_keys)
    else:
        raise ValueError(f"rate_limit(): algorithm {algorithm!r} is not token_bucket or sliding_window")
    if cost == "bytes":
        unit = -1.0
    elif isinstance(cost, int) and not isinstance(cost, bool) and cost >= 0:
        unit = float(cost)
    else:
        raise ValueError(f"rate_limit(): cost must be an integer >= 0 or 'bytes', not {cost!r}")
    get_key = key_function(key, "rate_limit(): key")
    key_name = key if isinstance(key, str) else getattr(key, "__name__", "function")
    store = _store(redis)
    if zone is not None and (not zone or not zone.replace("-", "").replace("_", "").isalnum()):
        raise ValueError(f"rate_limit(): zone {zone!r} must be a name of letters, digits, - and _")
    # the quota's identity: the file its group table lives in and its Redis keys, the same in every
    # worker and every process that loads the script; a named zone leaves the key and cost out
    core = f"{algorithm}:{limit}:{window:g}:{max_keys}"
    digest = hashlib.sha1((core if zone else f"{core}:{cost}:{key_name}").encode()).hexdigest()[:12]
    ident = f"{zone}-{digest}" if zone else digest
    name = zone or f"{limit}/{window:g}s by {key_name}" + (" (bytes)" if unit < 0 else "")
    z = _zones.get(ident)
    if z is None or z.redis is not store:
        z = _zones[ident] = Zone(ident, name, limiter, max_keys, store)
    if store is not None:
        service(store)
    return self.add("rate_limit", RateLimit, _Cfg(z, get_key, unit))
