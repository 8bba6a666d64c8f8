"""A compiled request router: host, path, method, headers, query, cookies and JSON body fields.

Theory of operation: :meth:`Router.add` files each route in a table per host (``_Table``: a
dict of exact paths, a segment trie of templates, a dict of prefixes probed by their distinct
lengths, a list of regexes, a list of routes with no path). :meth:`Router.match` picks the host's
tables, walks their candidates in precedence order and returns the first whose other conditions
all hold. Everything is compiled in ``add``; a lookup is O(1) in the number of exact routes,
O(path depth) for templates, O(distinct prefix lengths) for prefixes, linear in the number of
regex routes (each is tried in turn) and in the routes sharing one path spec. The Host value's
tables are cached (``HOST_CACHE_SIZE``). A lookup builds no headers object, and no params dict or
:class:`Match` unless it matches; the path is split into segments (with a small work list) only
for hosts that have templates, a holder for the query and cookies is made only when some route
has such conditions, and they are parsed only when a candidate route asks.

Precedence — the order candidates are tried in:

1. host: the exact name, then wildcards longest first (``*.b.example.com`` before
   ``*.example.com``), then routes with no host;
2. within one host: the exact path; then templates, literal segments before params before
   ``{name*}`` at the first segment where they differ (so ``/users/me`` beats ``/users/{id}``,
   and ``/a/b/{r*}`` beats ``/a/{r*}``); then prefixes, longest first; then regexes in the order
   added; then routes with no path;
3. among routes with the same path spec (and host), the order they were added.

A route whose other conditions (methods, headers, query, cookies, json, when) fail falls through
to the next candidate, however less specific — a less specific path or a less specific host.

Compared with nginx: nginx picks a ``server`` by name first (exact, longest wildcard, regex,
default) and never leaves it, then a ``location``: ``=`` exact first, then the longest prefix,
then regexes in order win over that prefix unless it is ``^~``. Here prefixes always beat regexes
(as if every prefix were ``^~``), templates sit between exact and prefix, and conditions belong
to the route, so a failed one falls through (nginx has only ``if`` inside a location). Compared
with the Kubernetes Gateway API (HTTPRoute): the same order of hosts and of exact before the
longest prefix, and the same fall-through; but a Gateway prefix matches whole segments
(``/api`` matches ``/api/x``, not ``/apix``) where ours is character-wise as nginx's, and Gateway
ranks rules with the same path by method, then by the number of header and query matches, where
here the order added decides (add the most specific first).

Matching is on the raw path as received: no percent-decoding, no ``.``/``..`` or ``//``
normalization, case-sensitive (``/a%2Fb`` is one segment; params keep their escapes, decode
them with ``urllib.parse.unquote``). A router is not a security boundary for paths a client can
spell several ways: normalize before routing where that matters. Query values are matched
decoded (``parse_qsl``), header values as latin-1 text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .route import (
    LITERAL,
    NO_BODY,
    PROBE,
    REST,
    Match,
    Matcher,
    RequestFacts,
    Route,
    host_pattern,
    is_template,
    request_host,
)

if TYPE_CHECKING:
    from ..codec.http1 import RequestHead

__all__ = ["NO_BODY", "Match", "Matcher", "Route", "Router"]

V = TypeVar("V")


#: Host values remembered with their tables. A client chooses the Host header, so the cache is
#: bounded and simply emptied when full.
HOST_CACHE_SIZE = 4096

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2


class _Node:
    """A template trie node: children by literal segment, one param child, the routes that end
    here and those whose ``{name*}`` starts here."""

    __slots__ = ("ends", "lit", "param", "rest")

    def __init__(self) -> None:
        self.lit: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.ends: list[Route[Any]] = []
        self.rest: list[Route[Any]] = []


def _walk(
    root: _Node, segs: list[str], head: RequestHead, body: Any, facts: RequestFacts | None
) -> tuple[Route[Any], dict[str, str]] | None:
    """The first template route in precedence order that matches ``segs`` and accepts the request.

    Depth-first, literal child before param child before ``{rest*}`` (the template precedence),
    written as a loop: a branch point is stacked only where a node offers a second way on.
    """
    n = len(segs)
    vals: list[str] = []
    stack: list[tuple[_Node, int, int, int]] = []  # (node, segment, len(vals), stage to resume at)
    node, i, stage = root, 0, 0
    while True:
        if i == n:
            for r in node.ends:
                if r._plain or r.accepts(head, body, facts):
                    return r, dict(zip(r._names, vals, strict=True))
        else:
            seg = segs[i]
            if stage == 0:
                child = node.lit.get(seg)
                if child is not None:
                    if (seg and node.param is not None) or node.rest:
                        stack.append((node, i, len(vals), 1))
                    node, i = child, i + 1
                    continue
                stage = 1
            if stage == 1 and seg and node.param is not None:
                if node.rest:
                    stack.append((node, i, len(vals), 2))
                vals.append(seg)
                node, i, stage = node.param, i + 1, 0
                continue
            for r in node.rest:
                if r._plain or r.accepts(head, body, facts):
                    return r, dict(zip(r._names, [*vals, "/".join(segs[i:])], strict=True))
        if not stack:
            return None
        node, i, k, stage = stack.pop()
        del vals[k:]


class _Table:
    """The routes of one host (or of wildcard, or of any host), filed by path spec."""

    __slots__ = ("anypath", "exact", "lengths", "prefixes", "regex", "trie")

    def __init__(self) -> None:
        self.exact: dict[str, list[Route[Any]]] = {}
        self.trie: _Node | None = None
        self.prefixes: dict[str, list[Route[Any]]] = {}
        self.lengths: list[int] = []  # distinct prefix lengths, longest first
        self.regex: list[tuple[re.Pattern[str], Route[Any]]] = []
        self.anypath: list[Route[Any]] = []

    def add(self, route: Route[Any]) -> None:
        kind = route.kind
        if kind == "exact":
            assert route.path is not None
            self.exact.setdefault(route.path, []).append(route)
        elif kind == "prefix":
            assert route.prefix is not None
            p = route.prefix
            if p not in self.prefixes:
                n = len(p)
                if n not in self.lengths:
                    bisect.insort(self.lengths, n, key=lambda x: -x)
            self.prefixes.setdefault(p, []).append(route)
        elif kind == "regex":
            assert route.regex is not None
            self.regex.append((route.regex, route))
        elif kind == "any":
            self.anypath.append(route)
        else:
            segments = route._segments
            rest = segments[-1][0] == REST
            node = self.trie = self.trie or _Node()
            for k, text in segments[:-1] if rest else segments:
                if k == LITERAL:
                    node = node.lit.setdefault(text, _Node())
                else:
                    node.param = node.param or _Node()
                    node = node.param
            (node.rest if rest else node.ends).append(route)

    def find(
        self, path: str, head: RequestHead, body: Any, facts: RequestFacts | None
    ) -> tuple[Route[Any], dict[str, str]] | None:
        routes = self.exact.get(path)
        if routes is not None:
            for r in routes:
                if r._plain or r.accepts(head, body, facts):
                    return r, {}
        if self.trie is not None and path[:1] == "/":
            found = _walk(self.trie, path[1:].split("/"), head, body, facts)
            if found is not None:
                return found
        if self.lengths:
            n = len(path)
            for length in self.lengths:
                if length <= n:
                    routes = self.prefixes.get(path[:length])
                    if routes is not None:
                        for r in routes:
                            if r._plain or r.accepts(head, body, facts):
                                return r, {}
        for pattern, r in self.regex:
            m = pattern.fullmatch(path)
            if m is not None and (r._plain or r.accepts(head, body, facts)):
                return r, {k: v for k, v in m.groupdict().items() if v is not None}
        for r in self.anypath:
            if r._plain or r.accepts(head, body, facts):
                return r, {}
        return None

    def __bool__(self) -> bool:
        return bool(self.exact or self.trie or self.prefixes or self.regex or self.anypath)


class Router(Generic[V]):
    """Routes requests to values by host, path and other conditions (see the module docstring).

    ``add`` files a route and returns it; ``match(head, body)`` returns the :class:`Match` of the
    first route in precedence order whose conditions all hold, or None. Routes are compiled as
    they are added; a router may be added to between lookups.
    """

    __slots__ = ("_any", "_anys", "_cache", "_facts", "_hosts", "_json", "_routes", "_wild")

    def __init__(self) -> None:
        self._routes: list[Route[V]] = []
        self._hosts: dict[str, _Table] = {}
        self._wild: dict[str, _Table] = {}  # "*.example.com" under "example.com"
        self._any = _Table()
        self._anys: tuple[_Table, ...] = ()  # the tables when no route names a host
        self._cache: dict[bytes | None, tuple[_Table, ...]] = {}
        self._facts = False
        self._json = False

    def add(
        self,
        value: V,
        *,
        host: str | Sequence[str] | None = None,
        path: str | None = None,
        prefix: str | None = None,
        regex: str | re.Pattern[str] | None = None,
        methods: str | Sequence[str] | None = None,
        headers: Mapping[str, Matcher] | None = None,
        query: Mapping[str, Matcher] | None = None,
        cookies: Mapping[str, Matcher] | None = None,
        json: Mapping[str, object] | None = None,
        when: Callable[[RequestHead], bool] | None = None,
        name: str | None = None,
    ) -> Route[V]:
        """Add a route to ``value`` and return it.

        ``host``: names (``api.example.com``), wildcards (``*.example.com``: one or more labels in
        front, not ``example.com`` itself) or a list of them, any case; ``"*"`` or None for any
        host. At most one of ``path`` (exact, or a template: ``/users/{id}``, ``/files/{rest*}``
        for the rest of the path after that slash, which may be empty), ``prefix`` (character-wise
        as nginx's ``location``: ``/api/`` matches ``/api/x``, not ``/api``) and ``regex``
        (``fullmatch`` on the path, named groups become params); none matches any path.
        ``methods``: the request method must be one of them (compared upper-case; HEAD is not
        GET). ``headers`` (names any case), ``query`` and ``cookies`` map names to matchers;
        ``json`` maps dotted paths (``"user.tier"``, ``"items.0.id"``) into the parsed body to
        matchers (see :func:`~.route_pattern.compile_matcher`); ``when(head)`` is a last
        condition. ``name`` labels the route in the metrics and the access log (default: its
        host and path, see :func:`~.route.route_name`). Raises ``ValueError``/``TypeError`` for
        arguments it cannot route by.
        """
        specs = [n for n, v in (("path", path), ("prefix", prefix), ("regex", regex)) if v is not None]
        if len(specs) > 1:
            raise ValueError(f"route to {value!r}: give at most one of path, prefix and regex, not {specs}")
        for what, p in (("path", path), ("prefix", prefix)):
            if p is None:
                continue
            if not isinstance(p, str):
                raise TypeError(f"{what} must be a str, not {p!r}")
            if not p.startswith("/"):
                raise ValueError(f"{what} {p!r} must start with '/'")
            if "?" in p or "#" in p:
                raise ValueError(f"{what} {p!r}: the path has no '?' or '#' (match the query with query=)")
        if prefix is not None and is_template(prefix):
            raise ValueError(f"prefix {prefix!r}: a prefix has no {{params}} (use path= or regex=)")
        compiled: re.Pattern[str] | None = None
        if regex is not None:
            if isinstance(regex, re.Pattern):
                if not isinstance(regex.pattern, str):
                    raise TypeError("regex must be compiled from a str, not bytes")
                compiled = regex
            elif isinstance(regex, str):
                try:
                    compiled = re.compile(regex)
                except re.error as e:
                    raise ValueError(f"regex {regex!r}: {e}") from None
            else:
                raise TypeError(f"regex must be a str or a compiled re.Pattern, not {regex!r}")
        if when is not None and not callable(when):
            raise TypeError(f"when must be a function of the request head, not {when!r}")
        hosts = _hosts(host)
        route = Route(
            value, len(self._routes), hosts, path, prefix, compiled, _methods(methods),
            headers, query, cookies, json, when, name,
        )  # fmt: skip
        for h in hosts or ("*",):
            if h == "*":
                table = self._any
            elif h.startswith("*."):
                table = self._wild.setdefault(h[2:], _Table())
            else:
                table = self._hosts.setdefault(h, _Table())
            table.add(route)
        self._routes.append(route)
        self._anys = (self._any,)
        self._cache.clear()
        self._facts = self._facts or route._facts
        self._json = self._json or bool(route._json)
        return route

    def match(self, head: RequestHead, body: Any = NO_BODY) -> Match[V] | None:
        """The first route in precedence order whose conditions all hold, or None.

        ``body`` is the request body already parsed as JSON (the caller reads, bounds and parses
        it), or :data:`NO_BODY` when it was not read: routes with ``json`` conditions then do
        not match (and routes after them may).
        """
        found = self._find(head, body)
        return None if found is None else Match(found[0], found[1])

    def needs_body(self, head: RequestHead) -> bool:
        """Whether the answer for ``head`` may depend on its body: the first route whose conditions
        other than ``json`` hold has ``json`` conditions. If so, read and parse the body and call
        ``match(head, body)``; if not, ``match(head)`` is the answer. ``when`` functions run in
        both calls."""
        if not self._json:
            return False
        found = self._find(head, PROBE)
        return found is not None and bool(found[0]._json)

    @property
    def has_json(self) -> bool:
        """Whether any route has ``json`` conditions (if not, ``needs_body`` is always False)."""
        return self._json

    @property
    def routes(self) -> tuple[Route[V], ...]:
        """Every route, in the order added."""
        return tuple(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def __iter__(self) -> Iterator[Route[V]]:
        return iter(self._routes)

    def __repr__(self) -> str:
        return f"<Router {len(self._routes)} routes>"

    def _find(self, head: RequestHead, body: Any) -> tuple[Route[V], dict[str, str]] | None:
        path = head.path
        tables = self._anys
        if path[:1] != "/" and "://" in path:
            # absolute form: its authority is the host, the Host header is ignored (RFC 9112 §3.2.2)
            authority, slash, rest = path[path.index("://") + 3 :].partition("/")
            path = slash + rest if slash else "/"
            if self._hosts or self._wild:
                tables = self._tables(request_host(authority.encode("latin-1")))
        elif self._hosts or self._wild:
            raw = head.header(b"host")
            cached = self._cache.get(raw)
            if cached is None:
                if len(self._cache) >= HOST_CACHE_SIZE:
                    self._cache.clear()
                cached = self._cache[raw] = self._tables(None if raw is None else request_host(raw))
            tables = cached
        facts = RequestFacts(head) if self._facts else None
        for table in tables:
            found = table.find(path, head, body, facts)
            if found is not None:
                return found
        return None

    def _tables(self, host: str | None) -> tuple[_Table, ...]:
        """The tables a request for ``host`` tries, in precedence order."""
        out: list[_Table] = []
        if host is not None:
            t = self._hosts.get(host)
            if t is not None:
                out.append(t)
            if self._wild:
                i = host.find(".")
                while i >= 0:
                    t = self._wild.get(host[i + 1 :])
                    if t is not None:
                        out.append(t)
                    i = host.find(".", i + 1)
        if self._any:
            out.append(self._any)
        return tuple(out)


def _hosts(host: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if host is None:
        return None
    names = [host] if isinstance(host, str) else host
    if not isinstance(names, Sequence) or not names:
        raise ValueError(f"host must be a name or a non-empty list of names, not {host!r}")
    out: dict[str, None] = {}
    for name in names:
        bare, wild = host_pattern(name)
        out["*." + bare if wild and bare else "*" if wild else bare] = None
    return tuple(out)


def _methods(methods: str | Sequence[str] | None) -> frozenset[str] | None:
    if methods is None:
        return None
    names = [methods] if isinstance(methods, str) else methods
    if not isinstance(names, Sequence) or not names:
        raise ValueError(f"methods must be a method or a non-empty list of methods, not {methods!r}")
    for m in names:
        if not isinstance(m, str) or not _TOKEN.fullmatch(m):
            raise ValueError(f"methods: {m!r} is not a method name (give a list: ['GET', 'HEAD'])")
    return frozenset(m.upper() for m in names)
