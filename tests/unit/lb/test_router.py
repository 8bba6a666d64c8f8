"""The request router: precedence, fall-through, matchers, hosts, templates, JSON, errors, and a
brute-force reference for random route sets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.http1 import RequestHead
from pipework.lb.router import NO_BODY, Match, Router


def req(
    target: str = "/",
    host: str | None = None,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
) -> RequestHead:
    raw = [] if host is None else [(b"Host", host.encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers]
    return RequestHead(method, target, raw_headers=raw)


def value(router: Router[str], head: RequestHead, body: Any = NO_BODY) -> str | None:
    m = router.match(head, body)
    return None if m is None else m.value


# --- path precedence -----------------------------------------------------------------------


def test_exact_beats_template_beats_prefix_beats_regex_beats_any() -> None:
    r: Router[str] = Router()
    r.add("any")
    r.add("regex", regex=r"/users/.*")
    r.add("prefix", prefix="/users/")
    r.add("template", path="/users/{id}")
    r.add("exact", path="/users/7")
    assert value(r, req("/users/7")) == "exact"
    assert value(r, req("/users/8")) == "template"
    assert value(r, req("/users/8/x")) == "prefix"
    assert value(r, req("/users/")) == "prefix"  # a param never matches an empty segment
    assert value(r, req("/other")) == "any"


def test_regex_beats_routes_without_path_and_keeps_order_added() -> None:
    r: Router[str] = Router()
    r.add("any")
    r.add("first", regex=r"/a.*")
    r.add("second", regex=r"/ab.*")
    assert value(r, req("/abc")) == "first"
    assert value(r, req("/b")) == "any"


def test_longest_prefix_wins_whatever_the_order() -> None:
    r: Router[str] = Router()
    r.add("root", prefix="/")
    r.add("api", prefix="/api/")
    r.add("v1", prefix="/api/v1/")
    r.add("api-short", prefix="/ap")
    assert value(r, req("/api/v1/x")) == "v1"
    assert value(r, req("/api/v2")) == "api"
    assert value(r, req("/api")) == "api-short"  # character-wise: "/api/" does not match "/api"
    assert value(r, req("/apix")) == "api-short"
    assert value(r, req("/x")) == "root"


def test_same_path_spec_keeps_order_added() -> None:
    r: Router[str] = Router()
    r.add("one", path="/x")
    r.add("two", path="/x")
    r.add("p1", prefix="/y")
    r.add("p2", prefix="/y")
    assert value(r, req("/x")) == "one"
    assert value(r, req("/y")) == "p1"


def test_template_literal_beats_param_beats_rest() -> None:
    r: Router[str] = Router()
    r.add("rest", path="/a/{r*}")
    r.add("param-param", path="/a/{x}/{y}")
    r.add("param-lit", path="/a/{x}/c")
    r.add("lit-param", path="/a/b/{y}")
    r.add("deeper-rest", path="/a/b/{r*}")
    assert value(r, req("/a/b/c")) == "lit-param"
    assert value(r, req("/a/z/c")) == "param-lit"
    assert value(r, req("/a/z/d")) == "param-param"
    assert value(r, req("/a/b/c/d")) == "deeper-rest"
    assert value(r, req("/a/z/c/d")) == "rest"
    assert value(r, req("/a/b")) == "rest"


def test_template_params() -> None:
    r: Router[str] = Router()
    r.add("post", path="/users/{uid}/posts/{pid}")
    r.add("files", path="/files/{path*}")
    r.add("slash", path="/t/{id}/")
    m = r.match(req("/users/7/posts/42?x=1"))
    assert m is not None
    assert (m.value, m.params) == ("post", {"uid": "7", "pid": "42"})
    m = r.match(req("/files/a/b/c.txt"))
    assert m is not None
    assert m.params == {"path": "a/b/c.txt"}
    m = r.match(req("/files/"))
    assert m is not None
    assert m.params == {"path": ""}
    assert r.match(req("/files")) is None  # {path*} takes what follows "/files/", as a prefix would
    assert value(r, req("/t/1/")) == "slash"
    assert r.match(req("/t/1")) is None
    assert r.match(req("/users/7/posts")) is None


def test_templates_with_different_names_on_one_node() -> None:
    r: Router[str] = Router()
    r.add("a", path="/u/{id}", methods=["POST"])
    r.add("b", path="/u/{name}")
    m = r.match(req("/u/x"))
    assert m is not None
    assert (m.value, m.params) == ("b", {"name": "x"})
    m = r.match(req("/u/x", method="POST"))
    assert m is not None
    assert (m.value, m.params) == ("a", {"id": "x"})


def test_regex_params_and_fullmatch() -> None:
    r: Router[str] = Router()
    r.add("num", regex=r"/u/(?P<id>\d+)(?:/(?P<tab>\w+))?")
    r.add("compiled", regex=re.compile(r"/c/(?P<x>.+)"))
    m = r.match(req("/u/12"))
    assert m is not None
    assert m.params == {"id": "12"}  # a group that took no part is left out
    m = r.match(req("/u/12/info"))
    assert m is not None
    assert m.params == {"id": "12", "tab": "info"}
    assert r.match(req("/u/12x")) is None  # fullmatch, not search
    assert r.match(req("/x/u/12")) is None
    m = r.match(req("/c/a/b"))
    assert m is not None
    assert m.params == {"x": "a/b"}


def test_raw_path_no_decoding() -> None:
    r: Router[str] = Router()
    r.add("exact", path="/a b")
    r.add("t", path="/f/{name}")
    r.add("admin", prefix="/admin/")
    assert value(r, req("/a%20b")) is None
    m = r.match(req("/f/a%2Fb"))
    assert m is not None
    assert m.params == {"name": "a%2Fb"}  # one segment, escape kept
    assert value(r, req("/%61dmin/x")) is None
    assert value(r, req("/Admin/x")) is None  # paths are case-sensitive


# --- fall-through --------------------------------------------------------------------------


def test_failed_conditions_fall_through_to_less_specific_paths() -> None:
    r: Router[str] = Router()
    r.add("fallback")
    r.add("regex-post", regex=r"/u/.*", methods=["POST"])
    r.add("prefix-canary", prefix="/u/", headers={"x-canary": "1"})
    r.add("tmpl-put", path="/u/{id}", methods=["PUT"])
    r.add("exact-delete", path="/u/1", methods=["DELETE"])
    r.add("exact-get", path="/u/1", methods=["GET"])
    assert value(r, req("/u/1", method="DELETE")) == "exact-delete"
    assert value(r, req("/u/1")) == "exact-get"
    assert value(r, req("/u/1", method="PUT")) == "tmpl-put"
    assert value(r, req("/u/1", method="PATCH", headers=[("X-Canary", "1")])) == "prefix-canary"
    assert value(r, req("/u/1", method="POST")) == "regex-post"
    assert value(r, req("/u/1", method="PATCH")) == "fallback"


def test_fall_through_between_templates() -> None:
    r: Router[str] = Router()
    r.add("rest", path="/a/{r*}")
    r.add("lit", path="/a/b/{x}", headers={"x-v": "2"})
    r.add("param", path="/a/{y}/{x}", methods=["POST"])
    m = r.match(req("/a/b/c", method="POST"))
    assert m is not None
    assert (m.value, m.params) == ("param", {"y": "b", "x": "c"})
    m = r.match(req("/a/b/c"))
    assert m is not None
    assert (m.value, m.params) == ("rest", {"r": "b/c"})  # params of the failed branches are gone


def test_fall_through_to_a_less_specific_host() -> None:
    r: Router[str] = Router()
    r.add("default", prefix="/")
    r.add("wild", host="*.example.com", prefix="/", methods=["GET"])
    r.add("exact", host="api.example.com", path="/x", headers={"x-a": True})
    assert value(r, req("/x", "api.example.com", headers=[("x-a", "")])) == "exact"
    assert value(r, req("/x", "api.example.com")) == "wild"
    assert value(r, req("/x", "api.example.com", method="POST")) == "default"


# --- hosts ---------------------------------------------------------------------------------


def test_host_precedence_over_path_precedence() -> None:
    r: Router[str] = Router()
    r.add("any-exact", path="/x")
    r.add("short-wild", host="*.example.com")
    r.add("long-wild", host="*.b.example.com")
    r.add("exact-host", host="a.b.example.com")
    assert value(r, req("/x", "a.b.example.com")) == "exact-host"
    assert value(r, req("/x", "c.b.example.com")) == "long-wild"
    assert value(r, req("/x", "z.c.b.example.com")) == "long-wild"
    assert value(r, req("/x", "b.example.com")) == "short-wild"
    assert value(r, req("/x", "example.com")) == "any-exact"  # a wildcard needs a label in front
    assert value(r, req("/x", "other.org")) == "any-exact"
    assert value(r, req("/x")) == "any-exact"  # no Host header
    assert value(r, req("/y", "other.org")) is None


def test_host_case_port_and_trailing_dot() -> None:
    r: Router[str] = Router()
    r.add("a", host="API.Example.COM.")
    r.add("w", host=["*.Wild.org", "one.net"])
    r.add("v6", host="[::1]")
    for h in ("api.example.com", "API.EXAMPLE.COM:8080", "api.example.com.", " api.example.com "):
        assert value(r, req("/", h)) == "a", h
    assert value(r, req("/", "X.WILD.ORG:443")) == "w"
    assert value(r, req("/", "one.net")) == "w"
    assert value(r, req("/", "[::1]:8080")) == "v6"
    assert value(r, req("/", "two.net")) is None
    assert r.routes[1].host == ("*.wild.org", "one.net")


def test_host_header_any_case_and_star_host() -> None:
    r: Router[str] = Router()
    r.add("a", host="a.com")
    r.add("star", host="*")
    head = RequestHead("GET", "/", raw_headers=[(b"hOsT", b"A.com")])
    assert value(r, head) == "a"
    assert value(r, req("/", "b.com")) == "star"


def test_absolute_form_target_wins_over_host_header() -> None:
    r: Router[str] = Router()
    r.add("a", host="a.com", path="/p/{x}")
    r.add("b", host="b.com", prefix="/")
    m = r.match(req("http://user@A.com:80/p/1?q=2", "b.com"))
    assert m is not None
    assert (m.value, m.params) == ("a", {"x": "1"})
    assert value(r, req("http://b.com", "a.com")) == "b"
    r2: Router[str] = Router()
    r2.add("root", path="/")
    assert value(r2, req("http://x.org")) == "root"


def test_host_cache_is_bounded_and_cleared_by_add() -> None:
    from pipework.lb import router as mod

    r: Router[str] = Router()
    r.add("a", host="a.com")
    for i in range(mod.HOST_CACHE_SIZE + 10):
        assert value(r, req("/", f"h{i}.org")) is None
    assert len(r._cache) <= mod.HOST_CACHE_SIZE
    assert value(r, req("/", "a.com")) == "a"
    r.add("b", host="*.org")
    assert value(r, req("/", "h1.org")) == "b"


# --- matchers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "present", "absent_ok", "good", "bad"),
    [
        ("v1", True, False, "v1", "v2"),
        (True, True, False, "anything", None),
        (False, False, True, None, "anything"),
        (re.compile(r"v\d+"), True, False, "v12", "v1x"),  # fullmatch
        (lambda v: v.startswith("v"), True, False, "vx", "x"),
    ],
)
@pytest.mark.parametrize("kind", ["headers", "query", "cookies"])
def test_matcher_kinds(kind: str, matcher: Any, present: bool, absent_ok: bool, good: Any, bad: Any) -> None:
    def head(v: str | None) -> RequestHead:
        if v is None:
            return req("/?other=1", headers=[("Cookie", "other=1")])
        if kind == "headers":
            return req("/", headers=[("X-Key", v)])
        if kind == "query":
            return req(f"/?key={v}&key=second")
        return req("/", headers=[("Cookie", f"a=b; key={v}")])

    r: Router[str] = Router()
    conds: dict[str, Any] = {kind: {"X-Key" if kind == "headers" else "key": matcher}}
    r.add("hit", **conds)
    if good is not None or absent_ok:
        assert value(r, head(good)) == "hit"
    assert value(r, head(bad)) is None
    assert (value(r, head(None)) == "hit") == absent_ok


def test_header_names_any_case_values_joined() -> None:
    r: Router[str] = Router()
    r.add("both", headers={"X-Tag": "a, b"})
    r.add("one", headers={"x-TAG": "a"})
    assert value(r, req("/", headers=[("x-tag", "a"), ("X-TAG", "b")])) == "both"
    assert value(r, req("/", headers=[("X-Tag", "a")])) == "one"


def test_query_values_are_decoded_and_first_wins() -> None:
    r: Router[str] = Router()
    r.add("q", query={"name": "a b/c", "flag": ""})
    assert value(r, req("/?name=a+b%2Fc&flag=&name=zzz")) == "q"
    assert value(r, req("/?name=zzz&name=a+b%2Fc&flag=")) is None
    assert value(r, req("/?Name=a+b%2Fc&flag=")) is None  # names are case-sensitive


def test_cookies_over_several_lines_first_wins() -> None:
    r: Router[str] = Router()
    r.add("canary", cookies={"ver": "canary", "sid": True})
    head = req("/", headers=[("Cookie", "ver=canary; x=1"), ("cookie", "sid=9;ver=stable")])
    assert value(r, head) == "canary"
    assert value(r, req("/", headers=[("Cookie", "ver=canary")])) is None


def test_methods_and_when() -> None:
    r: Router[str] = Router()
    r.add("read", methods=["get", "HEAD"], when=lambda h: h.path != "/no")
    r.add("one", methods="DELETE")
    assert value(r, req("/", method="GET")) == "read"
    assert value(r, req("/", method="HEAD")) == "read"
    assert value(r, req("/no", method="GET")) is None
    assert value(r, req("/", method="get")) is None  # methods are case-sensitive (RFC 9110 §9.1)
    assert value(r, req("/", method="DELETE")) == "one"


def test_query_and_cookies_parsed_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = RequestHead.query_params

    def counting(self: RequestHead) -> dict[str, list[str]]:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(RequestHead, "query_params", counting)
    r: Router[str] = Router()
    for i in range(5):
        r.add(str(i), prefix="/", query={"v": str(i)})
    assert value(r, req("/?v=4")) == "4"
    assert len(calls) == 1


# --- json ------------------------------------------------------------------------------------


def test_json_conditions() -> None:
    r: Router[str] = Router()
    r.add(
        "gold", path="/buy", methods=["POST"], json={"user.tier": "gold", "items.0.sku": re.compile(r"A\d+")}
    )
    r.add("big", path="/buy", json={"qty": 10, "gift": False, "note": None})
    r.add("flagged", path="/buy", json={"flags.1": lambda v: v is True})
    r.add("plain", path="/buy")
    post = req("/buy", method="POST")
    assert value(r, post, {"user": {"tier": "gold"}, "items": [{"sku": "A12"}]}) == "gold"
    assert value(r, post, {"user": {"tier": "gold"}, "items": [{"sku": "B12"}]}) == "plain"
    assert value(r, post, {"user": {"tier": "gold"}, "items": []}) == "plain"
    assert value(r, post, {"qty": 10.0, "note": None}) == "big"
    assert value(r, post, {"qty": 10, "note": None, "gift": 1}) == "plain"  # gift present
    assert value(r, post, {"qty": True, "note": None}) == "plain"  # true is not 1 here
    assert value(r, post, {"qty": 10}) == "plain"  # note absent is not null
    assert value(r, post, {"flags": [False, True]}) == "flagged"
    assert value(r, post, {"flags": [False, 1]}) == "plain"
    assert value(r, post) == "plain"  # no body
    assert value(r, post, [1, 2]) == "plain"  # not an object
    assert value(r, post, "gold") == "plain"


def test_json_keys_in_objects_and_strings_only_match_strings() -> None:
    r: Router[str] = Router()
    r.add("k", json={"a.0": "x", "n": "5"})
    assert value(r, req("/"), {"a": {"0": "x"}, "n": "5"}) == "k"
    assert value(r, req("/"), {"a": ["x"], "n": 5}) is None
    assert value(r, req("/"), {"a": ["x"], "n": "5"}) == "k"


def test_needs_body() -> None:
    r: Router[str] = Router()
    assert not r.needs_body(req("/"))
    r.add("exact", path="/plain")
    r.add("json", prefix="/api/", methods=["POST"], json={"kind": "x"})
    r.add("api", prefix="/api/")
    r.add("shadow", path="/api/exact")
    assert r.has_json
    assert r.needs_body(req("/api/x", method="POST"))
    assert not r.needs_body(req("/api/x", method="GET"))  # the json route cannot match
    assert not r.needs_body(req("/api/exact", method="POST"))  # an earlier route always matches
    assert not r.needs_body(req("/plain", method="POST"))
    assert not r.needs_body(req("/nothing", method="POST"))


# --- introspection and errors ------------------------------------------------------------------


def test_route_and_match_introspection() -> None:
    r: Router[str] = Router()
    route = r.add("users", host="API.example.com", path="/u/{id}", methods=["GET"], headers={"X-A": "1"})
    assert route.kind == "template"
    assert route.index == 0
    assert route.host == ("api.example.com",)
    assert route.headers == {"X-A": "1"}
    text = repr(route)
    for part in ("host='api.example.com'", "path='/u/{id}'", "methods=GET", "'users'"):
        assert part in text
    assert r.add("x", regex="/x").kind == "regex"
    assert Router().routes == ()
    assert len(r) == 2
    assert list(r) == list(r.routes)
    m = r.match(req("/u/3", "api.example.com", headers=[("x-a", "1")]))
    assert isinstance(m, Match)
    assert m.route is route
    assert "params={'id': '3'}" in repr(m)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"path": "/a", "prefix": "/a"}, ValueError, "at most one"),
        ({"prefix": "/a", "regex": "/a"}, ValueError, "at most one"),
        ({"path": "a"}, ValueError, "start with '/'"),
        ({"prefix": ""}, ValueError, "start with '/'"),
        ({"path": "/a?b=1"}, ValueError, "query="),
        ({"path": 3}, TypeError, "must be a str"),
        ({"regex": "/a("}, ValueError, "regex '/a('"),
        ({"regex": re.compile(b"/a")}, TypeError, "bytes"),
        ({"regex": 3}, TypeError, "regex must be"),
        ({"path": "/a/{id"}, ValueError, "whole segment"),
        ({"path": "/a/x{id}"}, ValueError, "whole segment"),
        ({"path": "/a/{}"}, ValueError, "identifier"),
        ({"path": "/a/{1x}"}, ValueError, "identifier"),
        ({"path": "/a/{x}/{x}"}, ValueError, "twice"),
        ({"path": "/a/{r*}/b"}, ValueError, "must come last"),
        ({"prefix": "/a/{x}"}, ValueError, "no {params}"),
        ({"host": "a.com:80"}, ValueError, "without a port"),
        ({"host": "a.*.com"}, ValueError, "wildcard"),
        ({"host": "http://a.com"}, ValueError, "scheme"),
        ({"host": []}, ValueError, "non-empty"),
        ({"host": [3]}, TypeError, "host must be"),
        ({"methods": []}, ValueError, "non-empty"),
        ({"methods": "GET,POST"}, ValueError, "not a method"),
        ({"headers": {"x": 3}}, TypeError, "headers['x']: a matcher"),
        ({"headers": {"x": None}}, TypeError, "a matcher"),
        ({"headers": {"": "v"}}, ValueError, "non-empty"),
        ({"headers": ["x"]}, TypeError, "mapping"),
        ({"query": {"q": b"v"}}, TypeError, "query['q']"),
        ({"cookies": {"c": 1.5}}, TypeError, "cookies['c']"),
        ({"headers": {"x": re.compile(b"v")}}, TypeError, "bytes"),
        ({"json": {"a..b": "x"}}, ValueError, "empty steps"),
        ({"json": {1: "x"}}, TypeError, "dotted path"),
        ({"json": {"a": object()}}, TypeError, "for json"),
        ({"when": "yes"}, TypeError, "when must be"),
    ],
)
def test_bad_arguments_raise_at_add(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    r: Router[str] = Router()
    with pytest.raises(error, match=re.escape(message)):
        r.add("v", **kwargs)
    assert len(r) == 0
    assert r.match(req("/a")) is None


# --- reference model -------------------------------------------------------------------------

HOSTS = [None, "a.com", "*.a.com", "b.a.com", "*.b.a.com"]
SPECS = ["/", "/a", "/a/", "/ab", "/a/b", "/a/b/", "/b"]
TEMPLATES = ["/a/{x}", "/{x}/b", "/a/{r*}", "/{x}/{y}", "/a/b/{r*}", "/{r*}"]
METHODS = [None, ["GET"], ["POST"]]

route_st = st.tuples(
    st.sampled_from(HOSTS),
    st.one_of(
        st.tuples(st.just("path"), st.sampled_from(SPECS + TEMPLATES)),
        st.tuples(st.just("prefix"), st.sampled_from(SPECS)),
        st.tuples(st.just("none"), st.just("")),
    ),
    st.sampled_from(METHODS),
)


def _host_rank(pattern: str | None, host: str) -> int | None:
    """0 for the exact host, then wildcards by length, longest first; None when it cannot match."""
    if pattern is None:
        return 1000
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return 100 - len(suffix) if host.endswith(suffix) and len(host) > len(suffix) else None
    return 0 if pattern == host else None


def _path_key(kind: str, spec: str, path: str) -> tuple[Any, ...] | None:
    """The rank of a path spec for ``path`` (smaller first), or None when it does not match."""
    if kind == "none":
        return (4,)
    if kind == "prefix":
        return (3, -len(spec)) if path.startswith(spec) else None
    if "{" not in spec:
        return (0,) if spec == path else None
    # a template: segment kinds compared left to right, literal (0) < param (1) < rest (2)
    pat, segs = spec[1:].split("/"), path[1:].split("/")
    kinds = []
    for i, p in enumerate(pat):
        if p.endswith("*}"):
            if len(segs) <= i:
                return None
            kinds.append(2)
            break
        if i >= len(segs) or (p.startswith("{") and not segs[i]) or (not p.startswith("{") and p != segs[i]):
            return None
        kinds.append(1 if p.startswith("{") else 0)
    else:
        if len(segs) != len(pat):
            return None
    return (1, tuple(kinds))


def _reference(
    routes: list[tuple[str | None, tuple[str, str], list[str] | None]], host: str, path: str, method: str
) -> int | None:
    best: tuple[Any, ...] | None = None
    for i, (h, (kind, spec), methods) in enumerate(routes):
        hr = _host_rank(h, host)
        pk = _path_key(kind, spec, path)
        if hr is None or pk is None or (methods is not None and method not in methods):
            continue
        key = (hr, pk, i)
        if best is None or key < best:
            best = key
    return None if best is None else best[-1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(route_st, max_size=25),
    st.lists(
        st.tuples(
            st.sampled_from(["a.com", "b.a.com", "c.b.a.com", "x.org"]),
            st.sampled_from(
                ["/", "/a", "/a/", "/ab", "/abc", "/a/b", "/a/b/", "/a/b/c", "/b", "/x/b", "//b"]
            ),
            st.sampled_from(["GET", "POST"]),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_router_agrees_with_a_brute_force_reference(
    routes: list[tuple[str | None, tuple[str, str], list[str] | None]], requests: list[tuple[str, str, str]]
) -> None:
    r: Router[int] = Router()
    for i, (h, (kind, spec), methods) in enumerate(routes):
        spec_arg: dict[str, Any] = {"path": {"path": spec}, "prefix": {"prefix": spec}, "none": {}}[kind]
        r.add(i, host=h, methods=methods, **spec_arg)
    for host, path, method in requests:
        m = r.match(req(path, host, method))
        assert (None if m is None else m.value) == _reference(routes, host, path, method), (
            host,
            path,
            method,
        )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([*TEMPLATES, "/a/b", "/a/{x}/c", "/{x}/b/{y}"]), st.sampled_from(METHODS)),
        max_size=12,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["/a/b", "/a/b/c", "/x/b", "/a/", "/a/x/c", "/a/b/"]),
            st.sampled_from(["GET", "POST"]),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_templates_agree_with_a_brute_force_reference(
    routes: list[tuple[str, list[str] | None]], requests: list[tuple[str, str]]
) -> None:
    r: Router[int] = Router()
    for i, (spec, methods) in enumerate(routes):
        r.add(i, path=spec, methods=methods)
    full: list[tuple[str | None, tuple[str, str], list[str] | None]] = [
        (None, ("path", spec), methods) for spec, methods in routes
    ]
    for path, method in requests:
        m = r.match(req(path, "h.org", method))
        assert (None if m is None else m.value) == _reference(full, "h.org", path, method), (path, method)
