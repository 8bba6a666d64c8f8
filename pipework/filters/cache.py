"""``cache_http``: a shared HTTP cache (RFC 9111) in front of what serves or forwards requests.

Theory of operation: ``cache_http(cache).to(layout)`` sits in the sub-pipeline ``demux_http``
makes per request. At the request head it looks the request up in the :class:`HttpCache`'s store
(the rules are in :mod:`pipework.policy.http_cache`) and either answers from it at once, or
sends the request into a sub-pipeline of ``layout`` (typically a ``proxy``):

- **HIT**: a fresh stored response is written with its ``Age``, ``X-Cache: HIT`` and
  ``Cache-Status`` fields (a 304 if the client's own ``If-None-Match``/``If-Modified-Since``
  matches). Straight under ``demux_http`` it goes out as one encoded ``bytes`` object, kept on
  the entry while its ``Age`` does not change, as ``serve_files`` does; nothing is parsed again.
- **STALE**: a stale response the client allows (``max-stale``), or one within its
  ``stale-while-revalidate`` window, which is then refreshed in the background (one refresh at a
  time per entry, in a pipeline of its own that outlives the request).
- **MISS**, **EXPIRED**, **REVALIDATED**: the request goes on (without the client's own
  conditional fields, so that the answer is a whole one worth storing; a stale entry with an
  ``ETag``/``Last-Modified`` is asked about with ``If-None-Match``/``If-Modified-Since``). The
  response streams to the client as it comes while a copy of its body is kept, at most
  ``max_object`` bytes (past it the copy is dropped and the rest streams on); at its end it is
  stored. A 304 freshens the stored entry (RFC 9111 4.3.4) and the client gets the stored
  response. An upstream error in place of a revalidation is answered with the stale entry when
  ``stale-if-error`` allows.
- **Ranges**: a ``Range`` request (RFC 9110 14) is answered from a stored 200 it may be served
  from, as a 206 with that part (or a 416; several ranges get the whole, an ``If-Range`` naming
  another representation too). With nothing such stored, the whole is fetched (without the
  client's ``Range`` and ``If-Range``, as nginx's ``proxy_cache`` does), stored as any miss, and
  the client gets its part of it as it streams by (the whole when the length is not known).
- **BYPASS**: requests the cache cannot answer (other methods, bodies, upgrades,
  ``If-Match``/``If-Unmodified-Since``, ``Cache-Control: no-store``) pass through untouched but
  for the status field; a successful unsafe method (POST, PUT, DELETE...) drops what is stored
  for its URL (RFC 9111 4.4).

Workers: with ``--workers N`` each worker has its store, and what one drops — a purge through
the admin port, ``purge()`` from a script, an unsafe method's invalidation — the others must
drop too: it is published in a journal in the group's shared directory
(:mod:`pipework.policy.shared_journal`), and each worker applies the others' records before its
next lookup (one read of shared memory when there is nothing new). A worker too far behind, or a
purge too long for a record, empties the whole store instead: more than asked, never less.

Reloads: a cache made by a new load of the script takes over the store of the cache of the
same name that served until then (its entries and counters; its limits changed to the new
ones, evicting what no longer fits), as nginx's cache outlives a reload; a program with two
caches of one name leaves each of them fresh stores.

Request coalescing: while a fetch for a key is under way, other misses for it wait (at most
``lock_timeout`` seconds, then they go on their own, as nginx's ``proxy_cache_lock``). When the
fetch ends, they look again: they are answered from the new entry, or, if the response was not
stored, go upstream themselves; if the first client went away, one of them fetches.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import weakref
from functools import partial
from typing import Any
from urllib.parse import quote

from ..codec.http1 import RequestHead, ResponseHead, header_block, status_line
from ..codec.http1.ranges import (
    NOT_SATISFIABLE,
    byte_range,
    content_range,
    if_range_holds,
    range_start,
    unsatisfied_range,
)
from ..core import Builder, Context, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, group, register
from ..core.checks import seconds
from ..core.pipeline import Layout, Pipeline
from ..core.script import loading, service
from ..core.subpipes import _One
from ..net.loop import running_loop
from ..policy import shared_table
from ..policy.http_cache import (
    FRESH,
    NO_DIRECTIVES,
    STALE,
    UPDATE,
    CacheControl,
    CacheStats,
    CacheStore,
    Entry,
    Key,
    RawHeaders,
    decide,
    not_modified,
    split_url,
    storable,
)
from ..policy.shared_journal import SharedJournal, open_journal
from .http import DemuxHTTP, RawResponse

log = logging.getLogger("pipework")

#: every cache made (weakly), for the admin API and the metrics
LIVE: weakref.WeakSet[HttpCache] = weakref.WeakSet()
#: by name, the program serving now and its cache of that name (None: it has several)
_SERVING: dict[str, tuple[Any, HttpCache | None]] = {}
#: requests that may wait for one fetch; past it they go upstream on their own (the queue's bound)
MAX_WAITERS = 1024
DEFAULT_MAX_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_OBJECT = 4 * 1024 * 1024

#: request fields looked at, by length (one test for the others): host, range, pragma, upgrade,
#: if-match/if-range, cache-control/if-none-match, content-length,
#: transfer-encoding/if-modified-since, if-unmodified-since
_NOTED_LENGTHS = frozenset((4, 5, 6, 7, 8, 13, 14, 17, 19))
#: request fields that make the cache step aside: a body, a part, a protocol switch, a
#: precondition the upstream must judge (If-Match, If-Unmodified-Since)
_BYPASS = frozenset((b"upgrade", b"transfer-encoding", b"if-match", b"if-unmodified-since"))
#: the client's conditional and range fields, not sent on by a cache that wants whole answers to
#: store (nginx's proxy_cache leaves out the same)
_CONDITIONAL = frozenset((b"if-none-match", b"if-modified-since"))
_NOT_FETCHED = _CONDITIONAL | {b"range", b"if-range"}
_SAFE = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
_PRAGMA_NO_CACHE = CacheControl()
_PRAGMA_NO_CACHE.no_cache = True
#: the fields a 304 from the cache carries (RFC 9110 15.4.5)
_IN_304 = frozenset(
    (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary", b"last-modified")
)

# what the X-Cache field says (nginx's $upstream_cache_status words)
HIT = b"HIT"
MISS = b"MISS"
EXPIRED = b"EXPIRED"  # it was stale and is fetched again
REVALIDATED = b"REVALIDATED"  # it was stale and the upstream said 304
STALE_ = b"STALE"  # served stale (stale-while-revalidate, max-stale, stale-if-error)
BYPASS = b"BYPASS"


class HttpCache:
    """A shared HTTP cache: its store, its settings and its statistics. Make one in the script
    and give it to one or more ``cache_http`` steps.

    ``max_size``: bytes the stored responses may take in all (bodies and fields; least recently
    used ones go first); ``max_object``: the largest response stored (larger ones stream through);
    ``lock_timeout``: seconds a request waits for another's fetch of the same URL before going
    on its own; ``refresh_timeout``: seconds a background refresh may take; ``heuristic``: the
    fraction of the time since ``Last-Modified`` a response without explicit freshness stays
    fresh (0, the default, as nginx: none); ``x_cache``: add ``X-Cache`` (HIT, MISS...) beside
    ``Cache-Status``; ``name``: the cache's name in ``Cache-Status`` and the admin API.

    Statistics: ``hits``, ``stale``, ``misses``, ``revalidated``, ``bypasses``, ``coalesced``,
    ``stores``, ``evictions``, ``purged``, ``size`` (bytes stored), ``entries`` (see
    :class:`~pipework.policy.http_cache.CacheStats`).
    """

    def __init__(
        self,
        max_size: int = DEFAULT_MAX_SIZE,
        *,
        max_object: int = DEFAULT_MAX_OBJECT,
        lock_timeout: float = 5.0,
        refresh_timeout: float = 30.0,
        heuristic: float = 0.0,
        x_cache: bool = True,
        name: str = "pipework",
    ) -> None:
        for what, value in (("max_size", max_size), ("max_object", max_object)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HttpCache(): {what} must be a number of bytes > 0, not {value!r}")
        if max_object > max_size:
            raise ValueError(f"HttpCache(): max_object ({max_object}) is larger than max_size ({max_size})")
        for what, t in (("lock_timeout", lock_timeout), ("refresh_timeout", refresh_timeout)):
            seconds(t, f"HttpCache(): {what}", zero=False)
        if isinstance(heuristic, bool) or not isinstance(heuristic, int | float) or not 0 <= heuristic <= 1:
            raise ValueError(f"HttpCache(): heuristic must be a fraction from 0 to 1, not {heuristic!r}")
        if not name or any(c in name for c in ' ;,="\r\n'):
            raise ValueError(f"HttpCache(): name {name!r} must be a token (no spaces, ; , = or quotes)")
        self.name = name
        self._program = loading()
        kept = _SERVING.get(name)
        previous = kept[1] if kept is not None and kept[0] is not self._program else None
        self.store: CacheStore
        if self._program is not None and previous is not None:
            self.store = previous.store  # a reload keeps what is stored (see the module docstring)
            self.store.resize(max_size, max_object)
            for entry in self.store.entries():
                entry.memo_stamp = -1  # encoded with the old settings' status fields
        else:
            self.store = CacheStore(max_size, max_object)
        service(self)
        self.lock_timeout = float(lock_timeout)
        self.refresh_timeout = float(refresh_timeout)
        self.heuristic = float(heuristic)
        self.x_cache = x_cache
        #: fetches under way, by (host, target, Vary values): the ones others may wait for
        self.inflight: dict[tuple[str, str, tuple[bytes, ...]], _Fetch] = {}
        self._id = name.encode()
        self._journal: SharedJournal | None = None  # the group's, for purges (see the module docstring)
        self._journal_gen = -1  # shared_table.generation when it was looked for
        self._seen = 0  # journal records applied
        LIVE.add(self)

    # -- a reload ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """The program this cache was made by serves now: the next load's cache of the same name
        takes over its store (two caches of one name in one program: neither is taken over)."""
        kept = _SERVING.get(self.name)
        if kept is not None and kept[0] is self._program:
            if kept[1] is not self:
                _SERVING[self.name] = (self._program, None)
        else:
            _SERVING[self.name] = (self._program, self)

    def stop(self) -> None:
        kept = _SERVING.get(self.name)
        if kept is not None and kept[0] is self._program:
            del _SERVING[self.name]

    # -- statistics -----------------------------------------------------------------------------------
    @property
    def stats(self) -> CacheStats:
        return self.store.stats

    @property
    def hits(self) -> int:
        return self.store.stats.hits

    @property
    def stale(self) -> int:
        return self.store.stats.stale

    @property
    def misses(self) -> int:
        return self.store.stats.misses

    @property
    def revalidated(self) -> int:
        return self.store.stats.revalidated

    @property
    def bypasses(self) -> int:
        return self.store.stats.bypasses

    @property
    def coalesced(self) -> int:
        return self.store.stats.coalesced

    @property
    def stores(self) -> int:
        return self.store.stats.stores

    @property
    def evictions(self) -> int:
        return self.store.stats.evictions

    @property
    def purged(self) -> int:
        return self.store.stats.purged

    @property
    def size(self) -> int:
        """Bytes the stored responses take (as counted against ``max_size``)."""
        return self.store.size

    @property
    def entries(self) -> int:
        return len(self.store)

    def statistics(self) -> dict[str, int]:
        """Every counter, with ``bytes``, ``entries`` and ``max_size``."""
        return {
            **self.store.stats.as_dict(),
            "bytes": self.store.size,
            "entries": len(self.store),
            "max_size": self.store.max_size,
        }

    # -- purging --------------------------------------------------------------------------------------
    def purge(self, url: str) -> int:
        """Drop what is stored for ``url``: a path with its query (``/a?b=1``, on every host) or a
        host and path (``example.com/a``, ``http://example.com/a``); how many responses went
        (from this worker's store: the other workers drop theirs before their next lookup)."""
        self._publish(b"u", url)
        return self.store.purge(url)

    def purge_prefix(self, prefix: str) -> int:
        """Drop what is stored for every URL starting with ``prefix`` (``/img/``, on every host,
        or ``example.com/img/``); ``""`` drops everything. In every worker, as :meth:`purge`."""
        self._publish(b"p", prefix)
        return self.store.purge(prefix, prefix=True)

    def clear(self) -> int:
        """Drop everything stored, in every worker."""
        self._publish(b"a", "")
        return self.store.clear()

    def remove(self, key: Key) -> int:
        """Drop every response stored for ``key`` (host, target), in every worker."""
        self._publish(b"k", f"{key[0]}\0{key[1]}")
        return self.store.remove(key)

    def _group_journal(self) -> SharedJournal | None:
        if self._journal_gen != shared_table.generation:  # first use in this process
            self._journal_gen = shared_table.generation
            d = group.directory()
            path = os.path.join(d, f"cache-{quote(self.name, safe='')}") if d is not None else None
            self._journal = open_journal(path) if path is not None else None
            self._seen = self._journal.count() if self._journal is not None else 0
        return self._journal

    def _publish(self, kind: bytes, text: str) -> None:
        j = self._group_journal()
        if j is not None:
            payload = kind + text.encode("utf-8", "surrogatepass")
            j.publish(payload if len(payload) <= j.room else b"a")

    def sync(self) -> None:
        """Drop what the other workers of the group have purged since the last look (see the
        module docstring); the filter calls it before each lookup."""
        j = self._journal if self._journal_gen == shared_table.generation else self._group_journal()
        if j is None or j.count() == self._seen:
            return
        records, self._seen = j.since(self._seen)
        store = self.store
        if records is None:
            store.clear()
            return
        for r in records:
            kind, text = r[:1], r[1:].decode("utf-8", "surrogatepass")
            if kind == b"u":
                store.purge(text)
            elif kind == b"p":
                store.purge(text, prefix=True)
            elif kind == b"k":
                host, _, target = text.partition("\0")
                store.remove((host, target))
            else:
                store.clear()

    # -- what the filter uses -------------------------------------------------------------------------
    def status_fields(self, label: bytes, detail: bytes) -> RawHeaders:
        """``X-Cache`` (if asked for) and ``Cache-Status`` (RFC 9211) for an answer."""
        out = [(b"cache-status", self._id + detail)]
        if self.x_cache:
            out.append((b"x-cache", label))
        return out

    def refresh(self, entry: Entry, head: RequestHead, layout: Layout, ctx: Context) -> None:
        """Refresh ``entry`` in the background (stale-while-revalidate), unless a fetch of it is
        under way: a conditional GET into a pipeline of ``layout`` with a context of its own."""
        fkey = (entry.key[0], entry.key[1], entry.vkey)
        if fkey in self.inflight:
            return
        fields = [(k, v) for k, v in head.raw_headers if k.lower() not in _CONDITIONAL]
        ask = RequestHead("GET", head.target, "1.1", fields + entry.validators)
        f = _Fetch(self, fkey, entry.key, entry, ask, NO_DIRECTIVES, None)
        self.inflight[fkey] = f
        f.timer = running_loop().call_later(self.refresh_timeout, f.abort)
        f.start(layout, Context(inbound=ctx.inbound))

    def __repr__(self) -> str:
        return f"<HttpCache {self.name} {len(self.store)} entries, {self.store.size} bytes>"


class _Fetch:
    """One request sent on for the cache: its response streams to the client that made it (if
    any), is stored when it may be, and wakes the requests waiting for it."""

    __slots__ = (
        "cache",
        "cand",
        "client",
        "done",
        "entry",
        "fkey",
        "head",
        "key",
        "parts",
        "req",
        "req_fields",
        "request_time",
        "size",
        "started",
        "storing",
        "sub",
        "swallow",
        "timer",
        "waiters",
    )

    def __init__(
        self,
        cache: HttpCache,
        fkey: tuple[str, str, tuple[bytes, ...]],
        key: Key,
        entry: Entry | None,
        head: RequestHead,
        req: CacheControl,
        client: CacheHTTP | None,
    ) -> None:
        self.cache = cache
        self.fkey = fkey
        self.key = key
        self.entry = entry  # the stale entry this fetch replaces (or revalidates, if it can)
        self.head = head
        self.req = req
        self.req_fields = list(head.raw_headers)  # before the layout changes them (Vary values)
        self.client = client
        self.waiters: list[CacheHTTP] = []
        self.sub: Pipeline | None = None
        self.cand: Entry | None = None  # the entry being made of the response
        self.parts: list[bytes] = []
        self.size = 0
        self.storing = False
        #: the response is not the client's: when it ends, the client gets the stored entry with
        #: this X-Cache label and Cache-Status detail (a 304, or an error in place of a revalidation)
        self.swallow: tuple[bytes, bytes] | None = None
        self.started = False  # a response head came
        self.done = False
        self.timer: asyncio.TimerHandle | None = None
        self.request_time = 0.0

    def start(self, layout: Layout, ctx: Context) -> None:
        self.request_time = time.time()
        sub = self.sub = layout.spawn(ctx, self._on_event)
        sub.start()
        sub.input(MessageStart(self.head))
        sub.input(MessageEnd())  # the request has no body (others are never fetched for the cache)

    def _on_event(self, evt: Event) -> None:
        if self.done:
            return
        t = type(evt)
        if t is Data:
            if self.storing:
                data: bytes = evt.data  # type: ignore[attr-defined]
                self.parts.append(data)
                self.size += len(data)
                if self.size > self.cache.store.max_object:
                    self._give_up()
            if self.swallow is None and self.client is not None:
                self.client._fetched(evt)
        elif t is MessageStart:
            self._on_head(evt.head)  # type: ignore[attr-defined]
        elif t is MessageEnd:
            self._on_end(evt)
        elif t is StreamEnd:
            self._on_fail(evt)  # type: ignore[arg-type]

    def _on_head(self, head: Any) -> None:
        self.started = True
        cache = self.cache
        client = self.client
        now = time.time()
        if not isinstance(head, ResponseHead):  # an encoded answer (serve_files): not stored
            self._release()
            if client is not None:
                client._fetched(MessageStart(head))
            return
        entry = self.entry
        status = head.status
        if entry is not None and status == 304:
            entry.freshen(head.raw_headers, self.request_time, now, cache.heuristic)
            cache.store.update(entry)
            cache.store.stats.revalidated += client is not None
            self.swallow = (REVALIDATED, b"; fwd=stale; fwd-status=304")
            self._release()
            return
        if entry is not None and status >= 500 and client is not None and entry.stale_if_error(now, self.req):
            self.swallow = (STALE_, b"; fwd=stale; fwd-status=%d" % status)
            self._release()
            cache.store.stats.stale += 1
            return
        raw = head.raw_headers
        cand = Entry.from_response(
            self.key, status, head.reason, raw, b"", self.request_time, now, self.req_fields, cache.heuristic
        )
        explicit = set_cookie = False
        length = head.length
        for k, v in raw:
            n = k.lower()
            if n == b"expires":
                explicit = True
            elif n == b"set-cookie":
                set_cookie = True
            elif n == b"content-length" and length is None:
                length = v
        why = storable(
            status,
            self.req,
            cand.cc,
            authorization=any(k.lower() == b"authorization" for k, _ in self.req_fields),
            set_cookie=set_cookie,
            vary=cand.vary,
            explicit=explicit,
            validator=cand.etag is not None or cand.last_modified is not None,
            lifetime=cand.lifetime,
        )
        if why is None and length is not None and length.isdigit() and int(length) > cache.store.max_object:
            why = "size"
        if why is None:
            self.storing = True
            self.cand = cand
        else:
            self._release()
            if entry is not None:
                cache.store.remove(self.key)  # what replaced it may not be stored: it goes
        if client is not None:
            detail = b"; fwd=uri-miss" if entry is None else b"; fwd=stale; fwd-status=%d" % status
            head.raw_headers = raw + cache.status_fields(
                MISS if entry is None else EXPIRED, detail + (b"; stored" if why is None else b"")
            )
            client._fetched(MessageStart(head))

    def _on_end(self, evt: Event) -> None:
        cand = self.cand
        if self.storing and cand is not None:
            body = b"".join(self.parts)
            cand.body = body
            cand.size += len(body)
            self.cache.store.put(cand)
        self._finish()
        client = self.client
        if client is None:
            return
        if self.swallow is not None and self.entry is not None:
            client._serve(self.entry, *self.swallow, time.time())
        else:
            client._fetched(evt)

    def _on_fail(self, evt: StreamEnd) -> None:
        client = self.client
        entry = self.entry
        now = time.time()
        self._finish()
        if client is None:
            return
        if self.swallow is not None and entry is not None:  # the 304 or the error came: enough
            client._serve(entry, *self.swallow, now)
        elif entry is not None and not self.started and entry.stale_if_error(now, self.req):
            self.cache.store.stats.stale += 1
            client._serve(entry, STALE_, b"; fwd=stale; fwd-status=502", now)
        else:
            client._fetched(evt)

    def _give_up(self) -> None:
        """The body passed ``max_object``: it streams on, not kept."""
        self.storing = False
        self.parts = []
        self._release()

    def _release(self, dropped: bool = False) -> None:
        """No new request waits for this fetch; the waiting ones look again (and, if it was
        ``dropped`` before its end, may wait for one of them)."""
        cache = self.cache
        if cache.inflight.get(self.fkey) is self:
            del cache.inflight[self.fkey]
        waiters, self.waiters = self.waiters, []
        if waiters:
            loop = running_loop()
            for w in waiters:
                loop.call_soon(w._wake, dropped)

    def _finish(self, dropped: bool = False) -> None:
        self.done = True
        self.storing = False
        self.parts = []
        self._release(dropped)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        sub, self.sub = self.sub, None
        if sub is not None:
            sub.close()

    def abort(self) -> None:
        """Stop it (its client went away, or a background refresh took too long)."""
        if not self.done:
            if self.client is None:
                log.warning("cache_http: the background refresh of %s%s took too long", *self.key)
            self.client = None
            self._finish(dropped=True)


def _asked(
    head: RequestHead,
) -> tuple[bytes, list[bytes], bool, bool, bytes | None, bytes | None, bytes | None, bytes | None]:
    """What a request asks of the cache: its Host, Cache-Control values, whether a Pragma says
    no-cache, whether a field makes the cache step aside (a body, an upgrade, a precondition),
    its If-None-Match, If-Modified-Since, Range and If-Range."""
    cc: list[bytes] = []
    host = b""
    pragma = bypass = False
    inm = ims = rng = if_range = None
    for k, v in head.raw_headers:
        if len(k) not in _NOTED_LENGTHS:
            continue
        n = k.lower()
        if n == b"host":
            host = v
        elif n == b"cache-control":
            cc.append(v)
        elif n == b"if-none-match":
            inm = v
        elif n == b"if-modified-since":
            ims = v
        elif n == b"pragma":
            pragma = pragma or b"no-cache" in v.lower()
        elif n == b"range":
            rng = v
        elif n == b"if-range":
            if_range = v
        elif n in _BYPASS or (n == b"content-length" and v.strip() != b"0"):
            bypass = True
    return host, cc, pragma, bypass, inm, ims, rng, if_range


def _described(head: ResponseHead) -> tuple[bytes | None, bytes | None, bytes | None]:
    """What names a response's representation: its Content-Length (the parser's, else its
    field), ETag and Last-Modified."""
    length = etag = modified = None
    for k, v in head.raw_headers:
        n = k.lower()
        if n == b"content-length":
            length = v.strip()
        elif n == b"etag":
            etag = v.strip()
        elif n == b"last-modified":
            modified = v.strip()
    return (head.length if head.length is not None else length), etag, modified


def encoded(
    cache: HttpCache,
    entry: Entry,
    label: bytes,
    detail: bytes,
    age: int,
    keep: bool,
    head_only: bool,
    nm: bool,
) -> bytes:
    """A whole answer from ``entry`` as bytes (a 304 when ``nm``); a plain hit is kept on the
    entry while its Age holds."""
    common = label is HIT and keep and not head_only and not nm
    if common and entry.memo_stamp == age:
        return entry.memo
    extra = header_block([(b"age", b"%d" % age), *cache.status_fields(label, detail)])
    end = b"\r\n" if keep else b"connection: close\r\n\r\n"
    if nm:
        fields = [(k, v) for k, v in entry.fields if k.lower() in _IN_304]
        return status_line(304) + header_block(fields) + extra + end
    prefix = entry.prefix
    if not prefix:
        prefix = entry.prefix = status_line(entry.status, entry.reason or None) + header_block(entry.fields)
    if entry.status in (204, 304):
        return prefix + extra + end
    data = prefix + extra + b"content-length: %d\r\n" % len(entry.body) + end
    if head_only:
        return data
    data += entry.body
    if common:
        entry.memo, entry.memo_stamp = data, age
    return data


class _CacheCfg(_One):
    __slots__ = ("cache",)

    #: what a route looks for to answer this cache's fresh hits on its direct path
    answers_hits = True

    def __init__(self, cache: HttpCache) -> None:
        super().__init__(None)
        self.cache = cache

    def direct(self, head: RequestHead, ctx: Any) -> bytes | None:
        """``demux_http``'s direct path: a fresh hit for a plain GET or HEAD (conditional or not)
        answered at once, as whole bytes, with no pipeline made; None leaves the request to the
        filter (a miss, a stale entry, request directives, ranges, other methods...)."""
        method = head.method
        if method != "GET" and method != "HEAD":
            return None
        host, cc, pragma, bypass, inm, ims, rng, _ = _asked(head)
        if cc or pragma or bypass or rng is not None:
            return None  # the filter decides these
        cache = self.cache
        cache.sync()
        entry = cache.store.get((host.decode("latin-1").lower(), head.target), head.raw_headers)
        if entry is None:
            return None
        exact = entry.age(time.time())
        if entry.lifetime - exact <= 0 or entry.cc.no_cache:  # decide() for a request with no directives
            return None
        cache.store.stats.hits += 1
        age = int(exact)
        if entry.memo_stamp == age and inm is None and ims is None and head.keep_alive and method == "GET":
            return entry.memo  # the common answer, as encoded() kept it
        nm = (inm is not None or ims is not None) and not_modified(entry, inm, ims)
        detail = b"; hit; ttl=%d" % (int(entry.lifetime) - age)
        return encoded(cache, entry, HIT, detail, age, head.keep_alive, method == "HEAD", nm)


def _straight_to_demux(out: Any) -> bool:
    """Whether a filter's output is ``demux_http``'s own (it takes whole encoded answers, as
    ``RawResponse``); any other step after the cache gets events it can read and change."""
    return isinstance(out, partial) and getattr(out.func, "__func__", None) is DemuxHTTP._on_answer


class CacheHTTP(Filter):
    """See the module docstring: one instance per request."""

    __slots__ = (
        "cond",
        "fetch",
        "head",
        "invalidate",
        "key",
        "label",
        "no_wait",
        "range",
        "raw",
        "req",
        "slice",
        "sub",
        "timer",
        "waiting",
    )

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.head: RequestHead | None = None
        self.sub: Pipeline | None = None  # a request passed through
        self.fetch: _Fetch | None = None  # the fetch this request leads
        self.waiting: _Fetch | None = None  # the fetch this request waits for
        self.timer: asyncio.TimerHandle | None = None
        self.req: CacheControl = NO_DIRECTIVES
        self.key: Key = ("", "")
        self.cond: tuple[bytes | None, bytes | None] = (None, None)
        self.range: tuple[bytes, bytes | None] | None = None  # Range and If-Range
        self.slice: list[int] | None = None  # a fetched body's part the client gets: first, last, at
        self.no_wait = False
        self.raw: bool | None = None
        self.label = b""
        self.invalidate = False

    def process(self, evt: Event) -> None:
        sub = self.sub
        if sub is not None:
            sub.input(evt)
        elif self.head is None and type(evt) is MessageStart:
            head = evt.head
            if isinstance(head, RequestHead):
                self._begin(head)
            else:
                self._pass(evt, b"")
        # the rest of a request the cache handles is its MessageEnd: such requests have no body

    def _begin(self, head: RequestHead) -> None:
        self.head = head
        host, cc, pragma, bypass, inm, ims, rng, if_range = _asked(head)
        self.key = (host.decode("latin-1").lower(), head.target)
        method = head.method
        if method != "GET" and method != "HEAD":
            self.invalidate = method not in _SAFE
            self._pass(MessageStart(head), b"")
            return
        req = self.req = CacheControl.parse(cc) if cc else _PRAGMA_NO_CACHE if pragma else NO_DIRECTIVES
        if bypass or req.no_store:
            self.cfg.cache.store.stats.bypasses += 1
            self._pass(MessageStart(head), BYPASS)
            return
        self.cond = (inm, ims)
        if rng is not None:
            self.range = (rng, if_range)
        self._decide()

    def _decide(self) -> None:
        cache: HttpCache = self.cfg.cache
        store = cache.store
        head = self.head
        assert head is not None
        now = time.time()
        cache.sync()
        entry = store.get(self.key, head.raw_headers)
        if entry is not None:
            state = decide(entry, self.req, now)
            if state is FRESH:
                store.stats.hits += 1
                self._serve(entry, HIT, b"", now)
                return
            if state is STALE or state is UPDATE:
                store.stats.stale += 1
                self._serve(entry, STALE_, b"", now)
                if state is UPDATE:
                    cache.refresh(entry, head, self.cfg.layout, self.pipeline.context)
                return
        if self.req.only_if_cached:  # RFC 9111 5.2.1.7
            self._out(MessageStart(ResponseHead(504, "", "1.1", [(b"content-type", b"text/plain")])))
            self._out(Data(b"not in the cache (only-if-cached)\n"))
            self._out(MessageEnd())
            return
        if self.range is not None:
            first = range_start(self.range[0])
            if first is not None and first >= store.max_object:  # of what could never be stored
                store.stats.bypasses += 1  # (nginx's proxy_cache_max_range_offset)
                self._pass(MessageStart(head), BYPASS)
                return
        store.stats.misses += 1
        if head.method == "HEAD":  # answered from a stored GET, never stored itself
            self._pass(MessageStart(head), MISS)
            return
        fkey = (self.key[0], self.key[1], store.secondary(self.key, head.raw_headers) or ())
        other = cache.inflight.get(fkey)
        if other is not None and not self.no_wait and len(other.waiters) < MAX_WAITERS:
            store.stats.misses -= 1  # counted when it is answered
            store.stats.coalesced += 1
            other.waiters.append(self)
            self.waiting = other
            self.timer = running_loop().call_later(cache.lock_timeout, self._waited_too_long)
            return
        fields = [(k, v) for k, v in head.raw_headers if k.lower() not in _NOT_FETCHED]
        if entry is not None:
            fields += entry.validators
        head.replace_fields(fields)
        f = self.fetch = _Fetch(cache, fkey, self.key, entry, head, self.req, self)
        if fkey not in cache.inflight:
            cache.inflight[fkey] = f
        f.start(self.cfg.layout, self.pipeline.context)

    def _waited_too_long(self) -> None:
        self.timer = None
        f = self.waiting
        if f is not None and self in f.waiters:
            f.waiters.remove(self)
        self._wake()

    def _wake(self, again: bool = False) -> None:
        """The fetch this request waited for ended (or it waited too long): look again, and
        fetch on its own if the answer is not in the store (or, ``again``, when the fetch was
        dropped, wait for another's)."""
        if self.pipeline.closed or self.waiting is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.waiting = None
        self.no_wait = not again
        try:
            self._decide()
        except Exception as exc:  # this request's failure, not the one that woke it
            self.pipeline.context.fail(exc)

    def _serve(self, entry: Entry, label: bytes, detail: bytes, now: float) -> None:
        """Answer from ``entry``: its fields and body with ``Age`` and the status fields."""
        head = self.head
        assert head is not None
        exact = entry.age(now)
        age = int(exact)
        if not detail:  # a hit: the seconds it stays fresh, or (negative) how long it has been stale
            ttl = int(entry.lifetime) - age if label is HIT else math.floor(entry.lifetime - exact)
            detail = b"; hit; ttl=%d" % ttl
        inm, ims = self.cond
        nm = (inm is not None or ims is not None) and not_modified(entry, inm, ims)
        head_only = head.method == "HEAD"
        if self.raw is None:
            self.raw = _straight_to_demux(self._out)
        if self.range is not None and not nm and entry.status == 200:
            rng, if_range = self.range
            if if_range is None or if_range_holds(if_range, entry.etag, entry.last_modified):
                part = byte_range(rng, len(entry.body))
                if part is not None:
                    self._serve_part(entry, part, label, detail, age, head_only)
                    return
        if self.raw:
            data = encoded(self.cfg.cache, entry, label, detail, age, head.keep_alive, head_only, nm)
            self._out(MessageStart(RawResponse(data)))
        else:
            cache: HttpCache = self.cfg.cache
            fields = [(k, v) for k, v in entry.fields if k.lower() in _IN_304] if nm else list(entry.fields)
            fields.append((b"age", b"%d" % age))
            fields += cache.status_fields(label, detail)
            if head_only and not nm:
                fields.append((b"content-length", b"%d" % len(entry.body)))
            status, reason = (304, "") if nm else (entry.status, entry.reason)
            self._out(MessageStart(ResponseHead(status, reason, "1.1", fields)))
            if entry.body and not head_only and not nm:
                self._out(Data(entry.body))
        self._out(MessageEnd())

    def _fetched(self, evt: Event) -> None:
        """An event of the response fetched for this request: the client's as it is, or, for a
        ``Range`` the whole 200 fetched can answer, the part it asked for (a 206 or a 416)."""
        if self.range is None:
            self._out(evt)
            return
        t = type(evt)
        cut = self.slice
        if t is MessageStart:
            head = evt.head  # type: ignore[attr-defined]
            if isinstance(head, ResponseHead):
                head = self._sliced(head)
            self._out(MessageStart(head))
        elif t is Data and cut is not None:
            data: bytes = evt.data  # type: ignore[attr-defined]
            first, last, at = cut
            cut[2] = at + len(data)
            if at + len(data) > first and at <= last:
                self._out(Data(data[max(0, first - at) : last + 1 - at]))
            f = self.fetch
            if cut[2] > last and f is not None and not f.storing and not f.done:
                f.abort()  # the client has its part and the rest would not be stored: no more of it
                self._out(MessageEnd())
        else:
            self._out(evt)

    def _sliced(self, head: ResponseHead) -> ResponseHead:
        """The head the client gets for a whole response fetched for its ``Range``."""
        assert self.range is not None
        rng, if_range = self.range
        raw = head.raw_headers
        length, etag, modified = _described(head)
        if head.status != 200 or length is None or not length.isdigit():
            return head  # the whole (a range of what has no known length is not made up)
        if if_range is not None and not if_range_holds(if_range, etag, modified):
            return head
        size = int(length)
        part = byte_range(rng, size)
        if part is None:
            return head
        fields = [(k, v) for k, v in raw if k.lower() != b"content-length"]
        if part is NOT_SATISFIABLE:
            self.slice = [0, -1, 0]  # nothing of the body
            status = [f for f in fields if f[0] in (b"cache-status", b"x-cache")]
            return ResponseHead(416, "", "1.1", [unsatisfied_range(size), *status])
        self.slice = [part[0], part[1], 0]
        return ResponseHead(206, "", "1.1", [*fields, content_range(part[0], part[1], size)])

    def _serve_part(
        self, entry: Entry, part: tuple[int, int], label: bytes, detail: bytes, age: int, head_only: bool
    ) -> None:
        """Answer a ``Range`` from ``entry``: a 206 with bytes ``part``, or a 416."""
        cache: HttpCache = self.cfg.cache
        size = len(entry.body)
        extra = [(b"age", b"%d" % age), *cache.status_fields(label, detail)]
        if part is NOT_SATISFIABLE:
            status, fields, body = 416, [unsatisfied_range(size), *extra], b""
        else:
            first, last = part
            status, body = 206, entry.body[first : last + 1]
            fields = [*entry.fields, *extra, content_range(first, last, size)]
        fields.append((b"content-length", b"%d" % len(body)))
        if head_only:
            body = b""
        if self.raw:
            head = self.head
            assert head is not None
            end = b"\r\n" if head.keep_alive else b"connection: close\r\n\r\n"
            self._out(MessageStart(RawResponse(status_line(status) + header_block(fields) + end + body)))
        else:
            self._out(MessageStart(ResponseHead(status, "", "1.1", fields)))
            if body:
                self._out(Data(body))
        self._out(MessageEnd())

    def _pass(self, evt: Event, label: bytes) -> None:
        """Send the request on untouched; the answer gets ``label`` (or invalidates the URL)."""
        self.label = label
        out = self._passed if label or self.invalidate else self._out
        sub = self.sub = self.cfg.layout.spawn(self.pipeline.context, out)
        sub.start()
        sub.input(evt)

    def _passed(self, evt: Event) -> None:
        if type(evt) is MessageStart and isinstance(evt.head, ResponseHead):
            head: ResponseHead = evt.head
            cache: HttpCache = self.cfg.cache
            if self.invalidate and head.status < 400:
                self._invalidate(cache, head)
            elif head.status == 200 and self.head is not None and self.head.method == "HEAD":
                self._freshen_from_head(cache, head)
            if self.label:
                detail = b"; fwd=bypass" if self.label is BYPASS else b"; fwd=uri-miss"
                head.raw_headers = head.raw_headers + cache.status_fields(self.label, detail)
        self._out(evt)

    def _freshen_from_head(self, cache: HttpCache, head: ResponseHead) -> None:
        """A HEAD went to the upstream (its stored GET was stale): its 200 freshens that GET when
        it names the same representation — the same strong ETag, or, with none, the same
        Last-Modified and length — and drops it when it names another (RFC 9111 4.3.5)."""
        req = self.head
        assert req is not None
        entry = cache.store.get(self.key, req.raw_headers)
        if entry is None:
            return
        length, etag, modified = _described(head)
        if length is not None and length != b"%d" % len(entry.body):
            same = False
        elif entry.etag is not None or etag is not None:
            same = etag is not None and entry.etag == etag and not etag.startswith(b"W/")
        else:
            same = entry.last_modified is not None and entry.last_modified == modified
        if same:
            now = time.time()
            entry.freshen(head.raw_headers, now, now, cache.heuristic)
            cache.store.update(entry)
        else:
            cache.remove(self.key)

    def _invalidate(self, cache: HttpCache, head: ResponseHead) -> None:
        """An unsafe method succeeded: drop what is stored for its URL and for the URLs in its
        ``Location`` and ``Content-Location`` on the same host (RFC 9111 4.4)."""
        cache.remove(self.key)
        for k, v in head.raw_headers:
            if k.lower() in (b"location", b"content-location"):
                host, target = split_url(v.decode("latin-1"))
                if host is None or host == self.key[0]:
                    cache.remove((self.key[0], target))

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()
            self.sub = None
        f = self.fetch
        if f is not None and not f.done:
            f.abort()
        w = self.waiting
        if w is not None:
            self.waiting = None
            if self in w.waiters:
                w.waiters.remove(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def cache_http(self: Builder, cache: HttpCache | None = None, **options: Any) -> Builder:
    """Answer requests from ``cache`` (a :class:`HttpCache`, shared by the steps given it; or
    one of this step's own made with ``options``: ``max_size=``, ``max_object=``...), and send
    the others to the sub-pipeline (``.to(layout)``), storing what may be stored (RFC 9111; see
    the module docstring). Use it under ``demux_http``, in front of a ``proxy``."""
    if cache is None:
        cache = HttpCache(**options)
    elif options:
        raise TypeError("cache_http(): give an HttpCache or its options, not both")
    elif not isinstance(cache, HttpCache):
        raise TypeError(f"cache_http(): expected an HttpCache, not {type(cache).__name__}")
    return self.add("cache_http", CacheHTTP, _CacheCfg(cache), 1)


register(cache_http=cache_http)
