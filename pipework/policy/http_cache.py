"""The rules of a shared HTTP cache (RFC 9111), with no I/O and the clock passed in.

Theory of operation: a response the cache may keep (:func:`storable`) becomes an :class:`Entry`:
the status, the fields worth keeping (no hop-by-hop fields, no ``Content-Length``, no ``Age``),
the whole body, and the facts its freshness needs: the ``Date``, ``Age`` and times of the
exchange (RFC 9111 4.2.3) and the freshness lifetime (4.2.1: ``s-maxage``, then ``max-age``,
then ``Expires`` - ``Date``, then, only when the cache is told to, a fraction of the time since
``Last-Modified``). :func:`decide` says what a request may get from a stored entry: it is fresh
(serve it), stale but servable (the client allows it with ``max-stale``, or the response's
``stale-while-revalidate`` window is open: serve it and refresh in the background), or it must be
revalidated (a conditional request with its ``ETag``/``Last-Modified``) or fetched again.

:class:`CacheStore` keeps entries by a primary key (the ``Host`` and the request target) and, for
responses with ``Vary``, a secondary key made of the request's values of the named fields
(4.1); ``Vary: *`` is never stored since it can never match. Memory is bounded: each entry is
counted by its body and fields, the store holds at most ``max_size`` bytes and drops the least
recently used entries to make room; an object over ``max_object`` is not stored at all.
:class:`CacheStats` counts what happened, for the metrics.

The choices left open by the RFC are made as nginx's ``proxy_cache`` makes them where it has
one: responses with ``Set-Cookie`` are not stored; no heuristic freshness unless asked for;
``no-cache="field"`` acts as plain ``no-cache``; ``private="field"`` stores the response without
the named fields. See docs/caching.md.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from email.utils import formatdate, mktime_tz, parsedate_tz

RawHeaders = list[tuple[bytes, bytes]]
#: (host, request target): what a stored response answers
Key = tuple[str, str]

#: RFC 9111 1.2.2: a delta-seconds too large to represent is taken as 2^31
DELTA_MAX = 2**31
#: the methods whose responses are stored (HEAD is answered from a stored GET)
STORED_METHODS = frozenset(("GET",))
#: statuses the cache understands and may store (RFC 9111 3: final and understood)
UNDERSTOOD = frozenset((200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501))
#: statuses that are "heuristically cacheable" (RFC 9110 15.1): storable without explicit freshness
HEURISTIC = frozenset((200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501))
#: fields a cache never stores or forwards (RFC 9110 7.6.1), plus the framing of the body
_NOT_STORED = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"age",
    )
)
#: fields a 304 does not replace in the stored response (RFC 9111 3.2): the body's own framing
_NOT_UPDATED = _NOT_STORED | frozenset((b"content-encoding", b"content-range", b"content-type"))
#: bytes counted for an entry beyond its body and fields (the objects that hold it)
ENTRY_OVERHEAD = 400

_DIRECTIVE = re.compile(rb'\s*([^\s,=]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)')


def parse_delta(value: bytes | str | None) -> int | None:
    """A delta-seconds value (RFC 9111 1.2.2): digits only; None when it is not one."""
    if value is None:
        return None
    v = value.strip() if isinstance(value, bytes) else value.strip().encode()
    if not v.isdigit():
        return None
    return min(int(v), DELTA_MAX)


def parse_http_date(value: bytes | None) -> float | None:
    """An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, RFC 850 or asctime) as seconds since the epoch;
    None when it is missing or not a date (an invalid ``Expires`` means "already expired")."""
    if not value:
        return None
    parts = parsedate_tz(value.decode("latin-1"))
    if parts is None:
        return None
    try:
        return float(mktime_tz(parts))
    except (OverflowError, ValueError):
        return None


class CacheControl:
    """The directives of ``Cache-Control`` field values (RFC 9111 5.2), of a request or a
    response. Unknown directives are ignored; of a repeated directive the first one counts
    (4.2.1); a ``max-age`` or ``s-maxage`` whose value is not a number is taken as 0 (stale)."""

    __slots__ = (
        "immutable",
        "max_age",
        "max_stale",
        "min_fresh",
        "must_revalidate",
        "no_cache",
        "no_store",
        "no_transform",
        "only_if_cached",
        "private",
        "private_fields",
        "proxy_revalidate",
        "public",
        "s_maxage",
        "stale_if_error",
        "stale_while_revalidate",
    )

    def __init__(self) -> None:
        self.max_age: int | None = None
        self.s_maxage: int | None = None
        self.max_stale: int | None = None
        self.min_fresh: int | None = None
        self.stale_while_revalidate: int | None = None
        self.stale_if_error: int | None = None
        self.no_store = False
        self.no_cache = False
        self.private = False  # unqualified: not for a shared cache
        self.private_fields: tuple[bytes, ...] = ()  # private="a, b": store without these
        self.public = False
        self.must_revalidate = False
        self.proxy_revalidate = False
        self.only_if_cached = False
        self.immutable = False
        self.no_transform = False

    @classmethod
    def parse(cls, values: Iterable[bytes]) -> CacheControl:
        """The directives of every ``Cache-Control`` field line in ``values``."""
        cc = cls()
        seen: set[bytes] = set()
        for value in values:
            for m in _DIRECTIVE.finditer(value):
                name = m.group(1).lower()
                if not name or name in seen:
                    continue
                seen.add(name)
                arg = m.group(2)
                if arg is not None:
                    arg = arg.strip()
                    if arg[:1] == b'"':
                        arg = re.sub(rb"\\(.)", rb"\1", arg[1:-1])
                cc._set(name, arg)
        return cc

    def _set(self, name: bytes, arg: bytes | None) -> None:
        if name in _DELTAS:
            delta = parse_delta(arg)
            if delta is None:
                if name == b"max-stale" and arg is None:
                    delta = DELTA_MAX  # max-stale without a value: any staleness (5.2.1.2)
                elif name in (b"max-age", b"s-maxage"):
                    delta = 0  # an invalid lifetime: stale (4.2.1)
                else:
                    return
            setattr(self, _DELTAS[name], delta)
        elif name == b"private":
            fields = tuple(f.strip().lower() for f in (arg or b"").split(b",") if f.strip())
            if fields:
                self.private_fields = fields
            else:
                self.private = True
        elif name in _FLAGS:
            # no-cache="field" is taken as plain no-cache, as RFC 9111 5.2.2.4 lets a cache do
            setattr(self, _FLAGS[name], True)

    def __repr__(self) -> str:
        on = [n for n in self.__slots__ if getattr(self, n) not in (None, False, ())]
        return f"<CacheControl {' '.join(f'{n}={getattr(self, n)!r}' for n in on)}>"


_DELTAS = {
    b"max-age": "max_age",
    b"s-maxage": "s_maxage",
    b"max-stale": "max_stale",
    b"min-fresh": "min_fresh",
    b"stale-while-revalidate": "stale_while_revalidate",
    b"stale-if-error": "stale_if_error",
}
_FLAGS = {
    b"no-store": "no_store",
    b"no-cache": "no_cache",
    b"public": "public",
    b"must-revalidate": "must_revalidate",
    b"proxy-revalidate": "proxy_revalidate",
    b"only-if-cached": "only_if_cached",
    b"immutable": "immutable",
    b"no-transform": "no_transform",
}
#: the directives of a message without Cache-Control (never changed)
NO_DIRECTIVES = CacheControl()


def request_directives(raw: RawHeaders) -> CacheControl:
    """A request's directives; ``Pragma: no-cache`` counts as ``no-cache`` when the request has
    no ``Cache-Control`` (RFC 9111 5.4)."""
    values = [v for k, v in raw if k.lower() == b"cache-control"]
    if values:
        return CacheControl.parse(values)
    if any(k.lower() == b"pragma" and b"no-cache" in v.lower() for k, v in raw):
        cc = CacheControl()
        cc.no_cache = True
        return cc
    return NO_DIRECTIVES


def vary_names(raw: RawHeaders) -> tuple[bytes, ...]:
    """The request fields a response varies on, lower-case and sorted; ``(b"*",)`` for ``*``."""
    names: set[bytes] = set()
    for k, v in raw:
        if k.lower() == b"vary":
            names.update(n.strip().lower() for n in v.split(b","))
    names.discard(b"")
    if b"*" in names:
        return (b"*",)
    return tuple(sorted(names))


def vary_values(names: tuple[bytes, ...], raw: RawHeaders) -> tuple[bytes, ...]:
    """The request's values of ``names``, each field's lines joined and its list spacing
    normalised (RFC 9111 4.1), as the secondary key of a stored response."""
    if not names:
        return ()
    out = []
    for name in names:
        vals = [v.strip() for k, v in raw if len(k) == len(name) and k.lower() == name]
        out.append(b",".join(p.strip() for p in b",".join(vals).split(b",")) if vals else b"")
    return tuple(out)


def freshness_lifetime(
    cc: CacheControl,
    expires: bytes | None,
    date: float,
    last_modified: float | None,
    status: int,
    *,
    shared: bool = True,
    heuristic: float = 0.0,
    heuristic_max: float = 86400.0,
) -> float:
    """Seconds a response stays fresh (RFC 9111 4.2.1): ``s-maxage`` in a shared cache, then
    ``max-age``, then ``Expires`` minus ``Date`` (an invalid ``Expires``: 0), then, when
    ``heuristic`` > 0, that fraction of the time since ``Last-Modified`` for a heuristically
    cacheable status, at most ``heuristic_max`` (4.2.2); else 0."""
    if shared and cc.s_maxage is not None:
        return float(cc.s_maxage)
    if cc.max_age is not None:
        return float(cc.max_age)
    if expires is not None:
        when = parse_http_date(expires)
        return max(0.0, when - date) if when is not None else 0.0
    if heuristic > 0 and last_modified is not None and (status in HEURISTIC or cc.public):
        return min(heuristic_max, max(0.0, (date - last_modified) * heuristic))
    return 0.0


def initial_age(age_value: float, date_value: float, request_time: float, response_time: float) -> float:
    """``corrected_initial_age`` of RFC 9111 4.2.3: the response's age when it arrived."""
    apparent_age = max(0.0, response_time - date_value)
    corrected_age_value = age_value + (response_time - request_time)
    return max(apparent_age, corrected_age_value)


def storable(
    status: int,
    req: CacheControl,
    resp: CacheControl,
    *,
    method: str = "GET",
    authorization: bool = False,
    set_cookie: bool = False,
    vary: tuple[bytes, ...] = (),
    explicit: bool = False,
    validator: bool = False,
    lifetime: float = 0.0,
    shared: bool = True,
) -> str | None:
    """Why a response may not be stored (a short reason), or None when it may (RFC 9111 3).

    ``explicit``: the response has ``Expires`` (its directives tell the rest); ``validator``: it
    has ``ETag`` or ``Last-Modified``; ``lifetime``: its freshness lifetime. A response that
    would be stale at once and has no validator is not worth storing.
    """
    if method not in STORED_METHODS:
        return "method"
    if status not in UNDERSTOOD:
        return "status"
    if req.no_store or resp.no_store:
        return "no-store"
    if shared and resp.private:
        return "private"
    if shared and authorization and not (resp.public or resp.s_maxage is not None or resp.must_revalidate):
        return "authorization"  # RFC 9111 3.5
    if set_cookie:
        return "set-cookie"  # a choice: one client's cookie is never handed to another
    if vary == (b"*",):
        return "vary"
    explicit = explicit or resp.public or resp.max_age is not None or (shared and resp.s_maxage is not None)
    if not explicit and status not in HEURISTIC:
        return "no-freshness"
    if lifetime <= 0 and not validator and not resp.stale_while_revalidate:
        return "stale"
    return None


class Entry:
    """A stored response (see the module docstring). ``prefix``, ``memo`` and ``memo_stamp`` are
    the serving filter's: its encoded head, and a whole answer kept while its ``Age`` holds."""

    __slots__ = (
        "body",
        "cc",
        "charged",
        "etag",
        "fields",
        "initial_age",
        "key",
        "last_modified",
        "lifetime",
        "memo",
        "memo_stamp",
        "prefix",
        "reason",
        "response_time",
        "size",
        "status",
        "vary",
        "vkey",
    )

    def __init__(
        self,
        key: Key,
        status: int,
        reason: str,
        fields: RawHeaders,
        body: bytes,
        request_time: float,
        response_time: float,
        *,
        vary: tuple[bytes, ...] = (),
        vkey: tuple[bytes, ...] = (),
        heuristic: float = 0.0,
    ) -> None:
        self.key = key
        self.status = status
        self.reason = reason
        self.body = body
        self.vary = vary
        self.vkey = vkey
        self.charged = 0  # the size a store counts for it (its size may change after)
        self._update(fields, request_time, response_time, heuristic)

    @classmethod
    def from_response(
        cls,
        key: Key,
        status: int,
        reason: str,
        raw: RawHeaders,
        body: bytes,
        request_time: float,
        response_time: float,
        request_fields: RawHeaders,
        heuristic: float = 0.0,
    ) -> Entry:
        """An entry for a response with fields ``raw`` to a request with ``request_fields``."""
        names = vary_names(raw)
        return cls(
            key,
            status,
            reason,
            stored_fields(raw),
            body,
            request_time,
            response_time,
            vary=names,
            vkey=vary_values(names, request_fields),
            heuristic=heuristic,
        )

    def _update(
        self, fields: RawHeaders, request_time: float, response_time: float, heuristic: float
    ) -> None:
        age = date = expires = None
        cc_values: list[bytes] = []
        self.etag = self.last_modified = None
        for k, v in fields:
            n = k.lower()
            if n == b"cache-control":
                cc_values.append(v)
            elif n == b"date" and date is None:
                date = parse_http_date(v)
            elif n == b"expires" and expires is None:
                expires = v
            elif n == b"etag" and self.etag is None:
                self.etag = v
            elif n == b"last-modified" and self.last_modified is None:
                self.last_modified = v
            elif n == b"age" and age is None:
                age = parse_delta(v)
        cc = self.cc = CacheControl.parse(cc_values) if cc_values else NO_DIRECTIVES
        if cc.private_fields:
            fields = [(k, v) for k, v in fields if k.lower() not in cc.private_fields]
        if date is None:  # RFC 9110 6.6.1: a cache adds the Date a response lacks
            date = response_time
            fields = [*fields, (b"date", _http_date(response_time))]
        self.fields = [(k, v) for k, v in fields if k.lower() not in _NOT_STORED]
        self.initial_age = initial_age(float(age or 0), date, request_time, response_time)
        self.response_time = response_time
        self.lifetime = freshness_lifetime(
            cc, expires, date, parse_http_date(self.last_modified), self.status, heuristic=heuristic
        )
        self.size = ENTRY_OVERHEAD + len(self.body) + sum(len(k) + len(v) + 4 for k, v in self.fields)
        self.memo = self.prefix = b""
        self.memo_stamp: object = None

    def freshen(
        self, raw: RawHeaders, request_time: float, response_time: float, heuristic: float = 0.0
    ) -> None:
        """Update the entry with the fields of a 304 that validated it (RFC 9111 4.3.4 and
        3.2): each field the 304 carries replaces the stored ones of that name, but for the
        body's own framing; the freshness is computed again from the new ``Date``/``Age``."""
        new = [(k, v) for k, v in raw if k.lower() not in _NOT_UPDATED]
        names = {k.lower() for k, _ in new}
        if b"date" not in names:
            names.add(b"date")
            new.append((b"date", _http_date(response_time)))
        kept = [(k, v) for k, v in self.fields if k.lower() not in names]
        ages = [(k, v) for k, v in raw if k.lower() == b"age"]
        self._update(kept + new + ages, request_time, response_time, heuristic)

    def age(self, now: float) -> float:
        """The entry's current age (RFC 9111 4.2.3)."""
        return self.initial_age + max(0.0, now - self.response_time)

    def ttl(self, now: float) -> float:
        """Seconds it stays fresh (negative: how long it has been stale)."""
        return self.lifetime - self.age(now)

    @property
    def may_be_stale(self) -> bool:
        """Whether it may ever be served stale: not after ``no-cache``, ``must-revalidate`` or
        ``proxy-revalidate`` (RFC 9111 4.2.4). ``s-maxage`` implies proxy-revalidate (5.2.2.10),
        but an explicit ``stale-while-revalidate`` or ``stale-if-error`` beside it wins (a choice:
        CDNs read ``s-maxage=60, stale-while-revalidate=30`` so)."""
        cc = self.cc
        if cc.no_cache or cc.must_revalidate or cc.proxy_revalidate:
            return False
        return cc.s_maxage is None or cc.stale_while_revalidate is not None or cc.stale_if_error is not None

    @property
    def validators(self) -> RawHeaders:
        """The fields of a conditional request that revalidates it (RFC 9111 4.3.1)."""
        out = []
        if self.etag is not None:
            out.append((b"if-none-match", self.etag))
        if self.last_modified is not None:
            out.append((b"if-modified-since", self.last_modified))
        return out

    def stale_if_error(self, now: float, req: CacheControl) -> bool:
        """Whether it may answer in place of an upstream error (RFC 5861 4)."""
        window = max(self.cc.stale_if_error or 0, req.stale_if_error or 0)
        return window > 0 and self.may_be_stale and -self.ttl(now) <= window

    def __repr__(self) -> str:
        return f"<Entry {self.key[0]}{self.key[1]} {self.status} {len(self.body)} bytes>"


def stored_fields(raw: RawHeaders) -> RawHeaders:
    """The fields of a response a cache keeps: not the hop-by-hop ones (and those ``Connection``
    names), not the body's framing."""
    named = {t.strip().lower() for k, v in raw if k.lower() == b"connection" for t in v.split(b",")}
    return [(k, v) for k, v in raw if k.lower() not in named]


def _http_date(t: float) -> bytes:
    return formatdate(int(t), usegmt=True).encode()


# what a request may get from a stored entry (decide)
FRESH = "fresh"  # serve it
STALE = "stale"  # serve it stale: the client allows it (max-stale)
UPDATE = "update"  # serve it stale and refresh it in the background (stale-while-revalidate)
REVALIDATE = "revalidate"  # ask the upstream (conditionally when it has validators)


def decide(entry: Entry, req: CacheControl, now: float) -> str:
    """What a request with directives ``req`` may get from ``entry`` at ``now`` (RFC 9111 4.2,
    4.2.4, 5.2.1, RFC 5861 3): FRESH, STALE, UPDATE or REVALIDATE."""
    if req.no_cache or entry.cc.no_cache:
        return REVALIDATE
    age = entry.age(now)
    if req.max_age is not None and age > req.max_age:
        return REVALIDATE
    fresh = entry.lifetime - age
    if fresh > (req.min_fresh or 0):
        return FRESH
    if not entry.may_be_stale or req.min_fresh:
        return REVALIDATE
    staleness = -fresh
    if req.max_stale is not None and staleness <= req.max_stale:
        return STALE
    swr = entry.cc.stale_while_revalidate
    if swr is not None and staleness <= swr:
        return UPDATE
    return REVALIDATE


def etag_matches(condition: bytes, etag: bytes | None) -> bool:
    """``If-None-Match`` against a stored ``ETag``: ``*`` or any tag equal by the weak comparison
    (RFC 9110 13.1.2)."""
    if etag is None:
        return False
    if condition.strip() == b"*":
        return True
    mine = etag.strip().removeprefix(b"W/")
    return any(t.strip().removeprefix(b"W/") == mine for t in condition.split(b","))


def not_modified(entry: Entry, if_none_match: bytes | None, if_modified_since: bytes | None) -> bool:
    """Whether a client's conditional GET is answered 304 by ``entry`` (RFC 9110 13.2.2: with
    ``If-None-Match``, ``If-Modified-Since`` is ignored)."""
    if if_none_match is not None:
        return etag_matches(if_none_match, entry.etag)
    if if_modified_since is not None and entry.last_modified is not None:
        since = parse_http_date(if_modified_since)
        modified = parse_http_date(entry.last_modified)
        return since is not None and modified is not None and modified <= since
    return False


class CacheStats:
    """What a cache has done, as counters the metrics read: requests answered from it (``hits``,
    ``stale`` for stale answers), sent on (``misses``, ``revalidated`` by a 304, ``bypasses``
    never cacheable), ``coalesced`` requests that waited for another's fetch, ``stores``,
    ``evictions`` (made room for others) and ``purged`` entries."""

    __slots__ = (
        "bypasses",
        "coalesced",
        "evictions",
        "hits",
        "misses",
        "purged",
        "revalidated",
        "stale",
        "stores",
    )

    def __init__(self) -> None:
        self.hits = self.stale = self.misses = self.revalidated = self.bypasses = 0
        self.coalesced = self.stores = self.evictions = self.purged = 0

    def as_dict(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in self.__slots__}


class CacheStore:
    """Entries by primary key and Vary secondary key, least recently used first out, at most
    ``max_size`` bytes in all and ``max_object`` bytes each (see the module docstring)."""

    __slots__ = ("_lru", "_vary", "max_object", "max_size", "size", "stats")

    def __init__(self, max_size: int, max_object: int) -> None:
        self.max_size = max_size
        self.max_object = max_object
        self.size = 0
        self.stats = CacheStats()
        #: every entry by (host, target, secondary key), least recently used first
        self._lru: OrderedDict[tuple[str, str, tuple[bytes, ...]], Entry] = OrderedDict()
        #: the Vary names of the entries of each primary key, and their secondary keys
        self._vary: dict[Key, tuple[tuple[bytes, ...], set[tuple[bytes, ...]]]] = {}

    def __len__(self) -> int:
        return len(self._lru)

    def secondary(self, key: Key, request_fields: RawHeaders) -> tuple[bytes, ...] | None:
        """The secondary key a request has for ``key``'s stored responses (None: none stored)."""
        known = self._vary.get(key)
        if known is None:
            return None
        return vary_values(known[0], request_fields)

    def get(self, key: Key, request_fields: RawHeaders) -> Entry | None:
        """The stored response for a request (its fields matching the Vary ones), now the most
        recently used; None if there is none."""
        known = self._vary.get(key)
        if known is None:
            return None
        full = (key[0], key[1], vary_values(known[0], request_fields) if known[0] else ())
        entry = self._lru.get(full)
        if entry is not None:
            self._lru.move_to_end(full)
        return entry

    def put(self, entry: Entry, *, new: bool = True) -> bool:
        """Store ``entry`` (replacing the one with its keys), then drop the least recently used
        entries until the store fits; False if the entry alone is over ``max_object``. ``new``:
        count it in ``stats.stores`` (not for an entry put back after a revalidation)."""
        if entry.size > self.max_object or entry.size > self.max_size:
            return False
        key = entry.key
        known = self._vary.get(key)
        if known is not None and known[0] != entry.vary:
            self.remove(key)  # the resource varies on other fields now: its old variants go
            known = None
        if known is None:
            known = self._vary[key] = (entry.vary, set())
        full = (key[0], key[1], entry.vkey)
        old = self._lru.pop(full, None)
        if old is not None:
            self.size -= old.charged
        self._lru[full] = entry
        known[1].add(entry.vkey)
        entry.charged = entry.size
        self.size += entry.size
        self.stats.stores += new
        while self.size > self.max_size:
            self._drop(next(iter(self._lru)))
            self.stats.evictions += 1
        return True

    def resize(self, max_size: int, max_object: int) -> None:
        """Take new limits: entries over ``max_object`` go, then the least recently used until
        the store fits ``max_size`` (counted as evictions)."""
        self.max_size, self.max_object = max_size, max_object
        for full in [f for f, e in self._lru.items() if e.size > max_object]:
            self._drop(full)
            self.stats.evictions += 1
        while self.size > max_size:
            self._drop(next(iter(self._lru)))
            self.stats.evictions += 1

    def update(self, entry: Entry) -> None:
        """Account for ``entry`` again after it changed (a 304 freshened it): its size, its place
        as the most recently used; put back if it was dropped meanwhile and nothing took its
        place, left out if another response did."""
        full = (entry.key[0], entry.key[1], entry.vkey)
        now = self._lru.get(full)
        if now is None or now is entry:
            self.put(entry, new=False)

    def _drop(self, full: tuple[str, str, tuple[bytes, ...]]) -> None:
        entry = self._lru.pop(full)
        self.size -= entry.charged
        key = (full[0], full[1])
        known = self._vary.get(key)
        if known is not None:
            known[1].discard(full[2])
            if not known[1]:
                del self._vary[key]

    def remove(self, key: Key) -> int:
        """Drop every stored response of ``key`` (all its variants); how many there were."""
        known = self._vary.pop(key, None)
        if known is None:
            return 0
        for vkey in known[1]:
            entry = self._lru.pop((key[0], key[1], vkey), None)
            if entry is not None:
                self.size -= entry.charged
        return len(known[1])

    def purge(self, url: str, *, prefix: bool = False) -> int:
        """Drop the responses stored for ``url`` (every one whose key starts with it when
        ``prefix``); how many. ``url`` is a path (``/img/a.png?x=1``: on any host), or a host and
        path (``example.com/img/``, a scheme before it is ignored); ``""`` with ``prefix`` is all."""
        host, target = split_url(url)
        if not prefix and host is not None:
            n = self.remove((host, target))
        else:
            keys = [
                k
                for k in self._vary
                if (host is None or k[0] == host) and (k[1].startswith(target) if prefix else k[1] == target)
            ]
            n = sum(self.remove(k) for k in keys)
        self.stats.purged += n
        return n

    def clear(self) -> int:
        """Drop everything; how many entries there were."""
        n = len(self._lru)
        self._lru.clear()
        self._vary.clear()
        self.size = 0
        self.stats.purged += n
        return n

    def entries(self) -> list[Entry]:
        """The stored responses, least recently used first."""
        return list(self._lru.values())

    def keys(self) -> list[str]:
        """The stored URLs (host and target), least recently used first."""
        return [h + t for h, t, _ in self._lru]


def split_url(url: str) -> tuple[str | None, str]:
    """``(host, target)`` of a purge argument: ``/p`` is (None, "/p"), ``h/p`` and ``http://h/p``
    are ("h", "/p"), a bare host is (host, "")."""
    if url.startswith("/") or url == "":
        return None, url
    rest = url.split("://", 1)[1] if "://" in url else url
    host, slash, path = rest.partition("/")
    return host.lower(), slash + path
