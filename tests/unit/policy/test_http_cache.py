"""The HTTP cache's rules (RFC 9111) with the clock passed in: Cache-Control, dates, age,
freshness, what may be stored, what a request may get, and the LRU store with Vary."""

from __future__ import annotations

import pytest

from pipework.policy.http_cache import (
    DELTA_MAX,
    FRESH,
    REVALIDATE,
    STALE,
    UPDATE,
    CacheControl,
    CacheStore,
    Entry,
    decide,
    etag_matches,
    freshness_lifetime,
    initial_age,
    not_modified,
    parse_http_date,
    request_directives,
    split_url,
    storable,
    vary_names,
    vary_values,
)

SUNDAY = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110 5.6.7's example


def cc(*values: str) -> CacheControl:
    return CacheControl.parse(v.encode() for v in values)


# -- Cache-Control (RFC 9111 5.2) ---------------------------------------------------------------------


def test_response_directives() -> None:
    c = cc("public, max-age=60, s-maxage=120", "stale-while-revalidate=30, stale-if-error=600")
    assert (c.public, c.max_age, c.s_maxage) == (True, 60, 120)
    assert (c.stale_while_revalidate, c.stale_if_error) == (30, 600)
    assert (c.no_store, c.no_cache, c.private, c.must_revalidate) == (False, False, False, False)


def test_names_are_case_insensitive_and_spacing_is_free() -> None:
    c = cc("  Max-Age = 5 ,NO-STORE,must-revalidate")
    assert (c.max_age, c.no_store, c.must_revalidate) == (5, True, True)


def test_quoted_arguments() -> None:
    # RFC 9111 5.2: recipients accept the quoted form of a delta-seconds (senders should not send it)
    assert cc('max-age="5"').max_age == 5
    c = cc('private="Set-Cookie, X-Secret", max-age=10')
    assert (c.private, c.private_fields, c.max_age) == (False, (b"set-cookie", b"x-secret"), 10)
    assert cc("private").private
    # the qualified no-cache is taken as the unqualified one (RFC 9111 5.2.2.4 allows it)
    assert cc('no-cache="Set-Cookie"').no_cache


def test_first_occurrence_counts_and_bad_lifetimes_are_stale() -> None:
    assert cc("max-age=10, max-age=20").max_age == 10
    assert cc("max-age=10", "max-age=20").max_age == 10
    assert cc("max-age=abc").max_age == 0  # 4.2.1: an invalid value is stale
    assert cc("max-age").max_age == 0
    assert cc("max-age=99999999999999").max_age == DELTA_MAX  # 1.2.2
    assert cc("stale-while-revalidate=x").stale_while_revalidate is None


def test_request_directives() -> None:
    c = cc("max-stale, min-fresh=10, only-if-cached")
    assert (c.max_stale, c.min_fresh, c.only_if_cached) == (DELTA_MAX, 10, True)
    assert cc("max-stale=5").max_stale == 5
    assert request_directives([(b"Pragma", b"no-cache")]).no_cache  # 5.4
    assert not request_directives([(b"Pragma", b"no-cache"), (b"Cache-Control", b"max-age=5")]).no_cache
    assert not request_directives([]).no_cache


def test_unknown_directives_and_junk_are_ignored() -> None:
    c = cc("community=UCI, foo, , =, max-age=3")
    assert c.max_age == 3


# -- dates and age (RFC 9110 5.6.7, RFC 9111 4.2.3) --------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"Sun, 06 Nov 1994 08:49:37 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT", b"Sun Nov  6 08:49:37 1994"],
)
def test_the_three_date_formats(value: bytes) -> None:
    assert parse_http_date(value) == SUNDAY


@pytest.mark.parametrize("value", [b"0", b"-1", b"yesterday", b"", None])
def test_invalid_dates(value: bytes | None) -> None:
    assert parse_http_date(value) is None


def test_age_calculation() -> None:
    # apparent age 3 (103 - 100), corrected Age 5 + a 2 s response delay = 7: the larger wins
    assert initial_age(5, 100, 101, 103) == 7
    assert initial_age(0, 100, 101, 103) == 3
    assert initial_age(0, 110, 101, 103) == 2  # a Date ahead of our clock: no negative apparent age
    e = entry([(b"date", b"Sun, 06 Nov 1994 08:49:37 GMT"), (b"age", b"5")], SUNDAY + 1, SUNDAY + 3)
    assert e.age(SUNDAY + 10) == pytest.approx(7 + 7)


# -- freshness lifetime (RFC 9111 4.2.1, 4.2.2) -------------------------------------------------------


def test_lifetime_precedence() -> None:
    expires = b"Sun, 06 Nov 1994 08:50:37 GMT"  # Date + 60
    assert freshness_lifetime(cc("s-maxage=5, max-age=10"), expires, SUNDAY, None, 200) == 5
    assert freshness_lifetime(cc("s-maxage=5, max-age=10"), None, SUNDAY, None, 200, shared=False) == 10
    assert freshness_lifetime(cc("max-age=10"), expires, SUNDAY, None, 200) == 10
    assert freshness_lifetime(cc(), expires, SUNDAY, None, 200) == 60
    assert freshness_lifetime(cc(), b"0", SUNDAY, None, 200) == 0  # an invalid Expires: already stale
    assert freshness_lifetime(cc(), b"Sun, 06 Nov 1994 08:00:00 GMT", SUNDAY, None, 200) == 0


def test_heuristic_freshness_only_when_asked() -> None:
    day = 86400.0
    assert freshness_lifetime(cc(), None, SUNDAY, SUNDAY - 10 * day, 200) == 0
    assert freshness_lifetime(cc(), None, SUNDAY, SUNDAY - 5 * day, 200, heuristic=0.1) == pytest.approx(
        day / 2
    )
    assert freshness_lifetime(cc(), None, SUNDAY, SUNDAY - 50 * day, 200, heuristic=0.1) == day  # capped
    assert freshness_lifetime(cc(), None, SUNDAY, SUNDAY - 5 * day, 302, heuristic=0.1) == 0  # not for 302


# -- what may be stored (RFC 9111 3, 3.5) -------------------------------------------------------------


def test_storable() -> None:
    ok = cc("max-age=60")
    assert storable(200, cc(), ok, lifetime=60) is None
    assert storable(200, cc(), ok, method="POST", lifetime=60) == "method"
    assert storable(206, cc(), ok, lifetime=60) == "status"
    assert storable(200, cc("no-store"), ok, lifetime=60) == "no-store"
    assert storable(200, cc(), cc("no-store, max-age=60"), lifetime=60) == "no-store"
    assert storable(200, cc(), cc("private, max-age=60"), lifetime=60) == "private"
    assert storable(200, cc(), cc("private, max-age=60"), lifetime=60, shared=False) is None
    assert storable(200, cc(), cc('private="x", max-age=60'), lifetime=60) is None
    assert storable(200, cc(), ok, lifetime=60, set_cookie=True) == "set-cookie"
    assert storable(200, cc(), ok, lifetime=60, vary=(b"*",)) == "vary"
    # 302 is not heuristically cacheable: only with explicit freshness
    assert storable(302, cc(), cc(), validator=True) == "no-freshness"
    assert storable(302, cc(), ok, lifetime=60) is None
    # stale at once and nothing to revalidate with: not worth it
    assert storable(200, cc(), cc()) == "stale"
    assert storable(200, cc(), cc(), validator=True) is None
    assert storable(200, cc(), cc("no-cache"), validator=True) is None


@pytest.mark.parametrize(
    ("directives", "why"),
    [
        ("max-age=60", "authorization"),
        ("public, max-age=60", None),
        ("s-maxage=60", None),
        ("must-revalidate, max-age=60", None),
    ],
)
def test_authorization_needs_an_explicit_permission(directives: str, why: str | None) -> None:
    assert storable(200, cc(), cc(directives), authorization=True, lifetime=60) == why  # RFC 9111 3.5


# -- what a request may get (RFC 9111 4.2, 4.2.4, 5.2.1; RFC 5861) ------------------------------------


def entry(fields: list[tuple[bytes, bytes]], t0: float = 1000.0, t1: float = 1000.0, **kw: object) -> Entry:
    return Entry.from_response(("h", "/"), 200, "OK", fields, b"body", t0, t1, [], **kw)  # type: ignore[arg-type]


def test_decide_fresh_then_stale() -> None:
    e = entry([(b"cache-control", b"max-age=10")])
    assert decide(e, cc(), 1005) == FRESH
    assert decide(e, cc(), 1011) == REVALIDATE
    assert decide(e, cc("max-age=3"), 1005) == REVALIDATE
    assert decide(e, cc("min-fresh=6"), 1005) == REVALIDATE
    assert decide(e, cc("no-cache"), 1001) == REVALIDATE
    assert decide(e, cc("max-stale=5"), 1014) == STALE
    assert decide(e, cc("max-stale"), 9999) == STALE
    assert decide(e, cc("max-stale=5"), 1016) == REVALIDATE


def test_stale_while_revalidate_window() -> None:
    e = entry([(b"cache-control", b"max-age=10, stale-while-revalidate=20")])
    assert decide(e, cc(), 1005) == FRESH
    assert decide(e, cc(), 1025) == UPDATE
    assert decide(e, cc(), 1031) == REVALIDATE


@pytest.mark.parametrize("extra", ["must-revalidate", "proxy-revalidate", "no-cache"])
def test_no_stale_answers_after_revalidation_directives(extra: str) -> None:
    e = entry(
        [(b"cache-control", f"max-age=10, stale-while-revalidate=20, stale-if-error=60, {extra}".encode())]
    )
    assert decide(e, cc("max-stale"), 1015) == REVALIDATE
    assert not e.stale_if_error(1015, cc())


def test_s_maxage_implies_proxy_revalidate_unless_stale_is_explicitly_allowed() -> None:
    assert decide(entry([(b"cache-control", b"s-maxage=10")]), cc("max-stale"), 1015) == REVALIDATE
    assert decide(entry([(b"cache-control", b"s-maxage=10, stale-while-revalidate=9")]), cc(), 1015) == UPDATE


def test_stale_if_error() -> None:
    e = entry([(b"cache-control", b"max-age=10, stale-if-error=60")])
    assert e.stale_if_error(1050, cc())
    assert not e.stale_if_error(1080, cc())
    plain = entry([(b"cache-control", b"max-age=10")])
    assert not plain.stale_if_error(1050, cc())
    assert plain.stale_if_error(1050, cc("stale-if-error=100"))


def test_stored_fields_and_validators() -> None:
    e = entry(
        [
            (b"Cache-Control", b'max-age=10, private="X-Secret"'),
            (b"Connection", b"close, X-Hop"),
            (b"X-Hop", b"1"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Content-Length", b"4"),
            (b"X-Secret", b"s"),
            (b"ETag", b'"a"'),
            (b"Last-Modified", b"Sun, 06 Nov 1994 08:49:37 GMT"),
            (b"Content-Type", b"text/plain"),
        ]
    )
    names = [k.lower() for k, _ in e.fields]
    assert names == [b"cache-control", b"etag", b"last-modified", b"content-type", b"date"]  # Date added
    assert e.validators == [
        (b"if-none-match", b'"a"'),
        (b"if-modified-since", b"Sun, 06 Nov 1994 08:49:37 GMT"),
    ]


def test_a_304_freshens_the_entry() -> None:
    e = entry([(b"cache-control", b"max-age=10"), (b"etag", b'"a"'), (b"content-type", b"text/plain")])
    assert decide(e, cc(), 1020) == REVALIDATE
    e.freshen(
        [(b"cache-control", b"max-age=100"), (b"content-type", b"text/html"), (b"x-new", b"1")], 1020, 1021
    )
    assert decide(e, cc(), 1100) == FRESH
    fields = dict(e.fields)
    assert fields[b"cache-control"] == b"max-age=100"
    assert fields[b"x-new"] == b"1"
    assert fields[b"etag"] == b'"a"'
    assert fields[b"content-type"] == b"text/plain"  # the body's own fields are not replaced
    assert e.body == b"body"


def test_conditionals() -> None:
    assert etag_matches(b'"a", "b"', b'"b"')
    assert etag_matches(b'W/"b"', b'"b"')  # weak comparison
    assert etag_matches(b"*", b'"x"')
    assert not etag_matches(b'"a"', b'"b"')
    assert not etag_matches(b'"a"', None)
    e = entry(
        [
            (b"cache-control", b"max-age=10"),
            (b"etag", b'"a"'),
            (b"last-modified", b"Sun, 06 Nov 1994 08:49:37 GMT"),
        ]
    )
    assert not_modified(e, b'"a"', None)
    assert not not_modified(e, b'"b"', b"Sun, 06 Nov 1994 08:49:37 GMT")  # If-None-Match decides
    assert not_modified(e, None, b"Sun, 06 Nov 1994 09:00:00 GMT")
    assert not not_modified(e, None, b"Sun, 06 Nov 1994 08:00:00 GMT")


# -- the store: Vary, LRU, purge ----------------------------------------------------------------------


def make(
    target: str, size: int = 100, vary: bytes | None = None, req: list[tuple[bytes, bytes]] | None = None
) -> Entry:
    fields = [(b"cache-control", b"max-age=60"), (b"date", b"Sun, 06 Nov 1994 08:49:37 GMT")]
    if vary is not None:
        fields.append((b"vary", vary))
    return Entry.from_response(("h", target), 200, "OK", fields, b"x" * size, SUNDAY, SUNDAY, req or [])


def test_vary_names_and_values() -> None:
    assert vary_names([(b"Vary", b"Accept-Encoding, User-Agent"), (b"vary", b"accept-encoding")]) == (
        b"accept-encoding",
        b"user-agent",
    )
    assert vary_names([(b"Vary", b"Accept, *")]) == (b"*",)
    req = [(b"Accept-Encoding", b"gzip,  br"), (b"accept-encoding", b"zstd")]
    assert vary_values((b"accept-encoding", b"user-agent"), req) == (b"gzip,br,zstd", b"")


def test_secondary_keys() -> None:
    store = CacheStore(1 << 20, 1 << 16)
    gz = [(b"accept-encoding", b"gzip")]
    br = [(b"accept-encoding", b"br")]
    assert store.put(make("/a", vary=b"Accept-Encoding", req=gz))
    assert store.get(("h", "/a"), gz) is not None
    assert store.get(("h", "/a"), br) is None
    assert store.get(("h", "/a"), []) is None
    assert store.put(make("/a", vary=b"Accept-Encoding", req=br))
    assert len(store) == 2
    assert store.secondary(("h", "/a"), br) == (b"br",)
    assert store.secondary(("h", "/b"), br) is None
    # the resource now varies on something else: its old variants go
    assert store.put(make("/a", vary=b"User-Agent", req=gz))
    assert len(store) == 1
    assert store.get(("h", "/a"), gz) is not None


def test_lru_eviction_bounds_the_bytes() -> None:
    one = make("/0").size
    store = CacheStore(one * 3, one)
    for i in range(3):
        assert store.put(make(f"/{i}"))
    assert store.get(("h", "/0"), []) is not None  # /0 is now the most recently used
    assert store.put(make("/3"))
    assert store.get(("h", "/1"), []) is None  # the least recently used went
    assert sorted(store.keys()) == ["h/0", "h/2", "h/3"]
    assert store.size <= store.max_size
    assert store.stats.evictions == 1
    assert not store.put(make("/big", size=one))  # over max_object: not stored
    assert len(store) == 3


def test_replacing_an_entry_keeps_the_size_right() -> None:
    store = CacheStore(1 << 20, 1 << 16)
    store.put(make("/a", 100))
    store.put(make("/a", 300))
    assert store.size == make("/a", 300).size
    assert len(store) == 1


def test_purge() -> None:
    store = CacheStore(1 << 20, 1 << 16)
    for target in ("/a", "/a?x=1", "/img/1", "/img/2"):
        store.put(make(target))
    other = make("/img/1")
    other.key = ("other", "/img/1")
    store.put(other)
    assert store.purge("/a") == 1
    assert store.purge("h/a?x=1") == 1
    assert store.purge("http://h/img/", prefix=True) == 2
    assert store.keys() == ["other/img/1"]
    assert store.purge("/img/1") == 1  # a path: on every host
    store.put(make("/z"))
    assert store.purge("", prefix=True) == 1
    assert store.size == 0
    assert store.stats.purged == 6


def test_split_url() -> None:
    assert split_url("/a?b") == (None, "/a?b")
    assert split_url("Example.com/a") == ("example.com", "/a")
    assert split_url("https://example.com:8443/a") == ("example.com:8443", "/a")
    assert split_url("example.com") == ("example.com", "")


def test_a_freshened_entry_is_counted_at_its_new_size() -> None:
    store = CacheStore(1 << 20, 1 << 16)
    e = make("/a")
    store.put(e)
    e.freshen([(b"x-much-longer-field", b"y" * 500)], SUNDAY + 1, SUNDAY + 1)
    store.update(e)
    assert store.size == e.size
    replaced = make("/a")
    store.put(replaced)
    store.update(e)  # another response took its place: the old one stays out
    assert store.get(("h", "/a"), []) is replaced
    assert store.size == replaced.size
    store.remove(("h", "/a"))
    store.update(e)  # dropped meanwhile: put back
    assert store.get(("h", "/a"), []) is e
    assert (store.size, store.stats.stores) == (e.size, 2)
