"""A route of :mod:`.router` and its parts: host names, path templates, matchers, cookies, JSON paths.

Each part is parsed and checked once, when a route is made (bad input raises ``ValueError`` or
``TypeError`` there); a :class:`Route` keeps its conditions as given, for introspection, and as
small compiled tests, which are what runs per request (:meth:`Route.accepts`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

if TYPE_CHECKING:
    from ..codec.http1 import RequestHead

V = TypeVar("V")

#: A condition on one value: a ``str`` (equal), ``True`` (present), ``False`` (absent), a
#: compiled pattern (``fullmatch``) or a function of the value returning a bool.
Matcher = str | bool | re.Pattern[str] | Callable[[str], bool]

#: A compiled matcher: takes the value, or :data:`ABSENT` (``None`` for headers, query, cookies).
Test = Callable[[Any], bool]


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: what :func:`json_get` returns for a key the body does not have
ABSENT: Final = _Sentinel("ABSENT")

# --- hosts -----------------------------------------------------------------------------------

_HOST_CHARS = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\]")


def host_pattern(name: object) -> tuple[str, bool]:
    """``(name, wildcard)`` for a route's host: ``"*.Example.com."`` gives ``("example.com", True)``.

    ``"*"`` gives ``("", True)``: any host. Raises ``ValueError`` for a port, an empty name or a
    ``*`` other than a whole first label.
    """
    if not isinstance(name, str):
        raise TypeError(f"host must be a str or a list of str, not {name!r}")
    h = name.strip().lower().rstrip(".")
    if h == "*":
        return "", True
    wild = h.startswith("*.")
    bare = h[2:] if wild else h
    if not _HOST_CHARS.fullmatch(bare):
        raise ValueError(
            f"host {name!r}: write a name (api.example.com), a wildcard (*.example.com) or "
            "an IP address, without a port or scheme"
        )
    return bare, wild


def request_host(raw: bytes) -> str:
    """A Host value (or absolute-form authority) as routes see it: no userinfo, no port, lower case,
    no trailing dot."""
    h = raw.decode("latin-1").strip().lower()
    at = h.rfind("@")
    if at >= 0:
        h = h[at + 1 :]
    if h.startswith("["):
        return h[: h.find("]") + 1]
    return h.partition(":")[0].rstrip(".")


# --- path templates --------------------------------------------------------------------------

LITERAL, PARAM, REST = 0, 1, 2
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_template(path: str) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
    """The segments of a template as ``(kind, text)`` after the leading ``/``, and its param names.

    ``/users/{id}/posts`` gives ``((LITERAL, "users"), (PARAM, "id"), (LITERAL, "posts"))``. A
    ``{name*}`` (REST) must be the last segment. Raises ``ValueError`` naming what is wrong.
    """
    segments: list[tuple[int, str]] = []
    names: list[str] = []
    parts = path[1:].split("/")
    for i, seg in enumerate(parts):
        if "{" not in seg and "}" not in seg:
            segments.append((LITERAL, seg))
            continue
        if not (seg.startswith("{") and seg.endswith("}")) or seg.count("{") != 1 or seg.count("}") != 1:
            raise ValueError(
                f"path {path!r}: segment {seg!r}: a param is a whole segment, {{name}} or {{name*}} "
                "(use regex= for anything else)"
            )
        name = seg[1:-1]
        kind = PARAM
        if name.endswith("*"):
            name, kind = name[:-1], REST
            if i != len(parts) - 1:
                raise ValueError(f"path {path!r}: {seg} takes the rest of the path: it must come last")
        if not _NAME.fullmatch(name):
            raise ValueError(f"path {path!r}: {seg}: a param name is an identifier")
        if name in names:
            raise ValueError(f"path {path!r}: param {name!r} appears twice")
        names.append(name)
        segments.append((kind, name))
    return tuple(segments), tuple(names)


def is_template(path: str) -> bool:
    return "{" in path or "}" in path


# --- matchers --------------------------------------------------------------------------------


def compile_matcher(what: str, m: object, *, json: bool = False) -> Test:
    """The test for matcher ``m`` (see :data:`Matcher`); ``what`` names it in errors.

    For headers, query and cookies an absent value is ``None``; for JSON it is :data:`ABSENT`, a
    ``str`` or pattern matches only a JSON string, a function gets the JSON value as parsed (any
    type), and any other matcher (a number, ``None``, a list, a dict) matches an equal value, a
    JSON ``true``/``false`` only a bool (so ``1`` does not match ``true``).
    """
    absent: object = ABSENT if json else None
    if isinstance(m, bool):
        if m:
            return lambda v: v is not absent
        return lambda v: v is absent
    if isinstance(m, str):
        return lambda v: v == m
    if isinstance(m, re.Pattern):
        if not isinstance(m.pattern, str):
            raise TypeError(f"{what}: the pattern must be compiled from a str, not bytes")
        fullmatch = m.fullmatch
        return lambda v: isinstance(v, str) and fullmatch(v) is not None
    if callable(m):
        f: Callable[[Any], object] = m
        return lambda v: v is not absent and bool(f(v))
    if json and (m is None or isinstance(m, int | float | list | dict)):
        is_bool = False  # bools were handled above
        return lambda v: v is not absent and v == m and isinstance(v, bool) == is_bool
    raise TypeError(
        f"{what}: a matcher is a str, True, False, a compiled re.Pattern or a function, not {m!r}"
        + (" (or, for json, a number, None, a list or a dict)" if json else "")
    )


def compile_matchers(
    kind: str, conds: Mapping[str, object] | None, *, lower: bool = False
) -> tuple[tuple[str, Test], ...]:
    """``(name, test)`` pairs for a ``headers``/``query``/``cookies`` mapping."""
    if conds is None:
        return ()
    if not isinstance(conds, Mapping):
        raise TypeError(f"{kind} must be a mapping of name to matcher, not {conds!r}")
    out: list[tuple[str, Test]] = []
    for name, m in conds.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{kind}: a name is a non-empty str, not {name!r}")
        out.append((name.lower() if lower else name, compile_matcher(f"{kind}[{name!r}]", m)))
    return tuple(out)


# --- request values --------------------------------------------------------------------------


def header_value(raw: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The value of header ``name`` (lower-case): its field lines joined by ", " as RFC 9110
    §5.3 allows, or None."""
    found: bytes | None = None
    n = len(name)
    for k, v in raw:
        if len(k) == n and k.lower() == name:
            found = v if found is None else found + b", " + v
    return None if found is None else found.decode("latin-1")


def parse_cookies(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's cookies (RFC 6265 §5.4: every Cookie line, pairs split on ";"); the first of
    a repeated name wins. Values are kept as sent (quotes and percent-escapes included)."""
    out: dict[str, str] = {}
    for k, v in raw:
        if len(k) == 6 and k.lower() == b"cookie":
            for pair in v.decode("latin-1").split(";"):
                name, eq, value = pair.partition("=")
                name = name.strip()
                if eq and name and name not in out:
                    out[name] = value.strip()
    return out


def cookie_value(raw: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of one cookie, as :func:`parse_cookies` would give it (but bytes), without
    reading the others into a dict: what a balancer's affinity or a rate limit's key needs."""
    for k, v in raw:
        if len(k) == 6 and k.lower() == b"cookie":
            for pair in v.split(b";"):
                n, eq, value = pair.partition(b"=")
                if eq and n.strip() == name:
                    return value.strip()
    return None


# --- JSON paths ------------------------------------------------------------------------------


def json_path(key: object) -> tuple[str, ...]:
    """The steps of a dotted JSON path: ``"items.0.id"`` gives ``("items", "0", "id")``."""
    if not isinstance(key, str):
        raise TypeError(f"json: a key is a dotted path str, not {key!r}")
    steps = tuple(key.split("."))
    if not all(steps):
        raise ValueError(f"json: key {key!r}: a dotted path has no empty steps")
    return steps


def json_get(body: object, steps: tuple[str, ...]) -> Any:
    """The value at ``steps`` in ``body``, or :data:`ABSENT`. A step indexes a list when it is a
    non-negative number, and is a key in an object."""
    v: Any = body
    for step in steps:
        if isinstance(v, dict):
            v = v.get(step, ABSENT)
            if v is ABSENT:
                return ABSENT
        elif isinstance(v, list) and step.isascii() and step.isdigit() and int(step) < len(v):
            v = v[int(step)]
        else:
            return ABSENT
    return v


#: ``match``'s ``body`` when the body was not read: routes with ``json`` conditions do not match
NO_BODY: Final = _Sentinel("NO_BODY")
PROBE: Final = _Sentinel("PROBE")  # Router.needs_body's body: json conditions count as holding


class Route(Generic[V]):
    """One route: the value it routes to and its conditions, as given (for introspection).

    ``host`` is a tuple of names as normalized (``"*.example.com"`` for wildcards) or None;
    ``kind`` is ``"exact"``, ``"template"``, ``"prefix"``, ``"regex"`` or ``"any"`` (no path);
    ``index`` is its place in the order added. The ``_`` fields are the compiled conditions, which
    the router reads.
    """

    __slots__ = (
        "_cookies",
        "_facts",
        "_headers",
        "_json",
        "_names",
        "_plain",
        "_query",
        "_segments",
        "cookies",
        "headers",
        "host",
        "index",
        "json",
        "kind",
        "methods",
        "name",
        "path",
        "prefix",
        "query",
        "regex",
        "value",
        "when",
    )

    def __init__(
        self,
        value: V,
        index: int,
        host: tuple[str, ...] | None,
        path: str | None,
        prefix: str | None,
        regex: re.Pattern[str] | None,
        methods: frozenset[str] | None,
        headers: Mapping[str, Matcher] | None,
        query: Mapping[str, Matcher] | None,
        cookies: Mapping[str, Matcher] | None,
        json: Mapping[str, object] | None,
        when: Callable[[RequestHead], bool] | None,
        name: str | None = None,
    ) -> None:
        self.value = value
        self.index = index
        self.host = host
        self.path = path
        self.prefix = prefix
        self.regex = regex
        self.methods = methods
        self.when = when
        self.kind = (
            "prefix" if prefix is not None else "regex" if regex is not None
            else "any" if path is None else "template" if is_template(path) else "exact"
        )  # fmt: skip
        self._segments: tuple[tuple[int, str], ...] = ()
        self._names: tuple[str, ...] = ()
        if self.kind == "template":
            assert path is not None
            self._segments, self._names = parse_template(path)
        self._headers = tuple(
            (n.encode("latin-1"), t) for n, t in compile_matchers("headers", headers, lower=True)
        )
        self._query = compile_matchers("query", query)
        self._cookies = compile_matchers("cookies", cookies)
        self._json: tuple[tuple[tuple[str, ...], Test], ...] = ()
        if json is not None:
            if not isinstance(json, Mapping):
                raise TypeError(f"json must be a mapping of dotted path to matcher, not {json!r}")
            self._json = tuple(
                (json_path(k), compile_matcher(f"json[{k!r}]", m, json=True)) for k, m in json.items()
            )
        # copies, kept as given for introspection (the mappings are checked above)
        self.headers = dict(headers) if headers is not None else None
        self.query = dict(query) if query is not None else None
        self.cookies = dict(cookies) if cookies is not None else None
        self.json = dict(json) if json is not None else None
        self._facts = bool(self._query or self._cookies)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty str, not {name!r}")
        #: what the metrics and the access log call it: given, or made of its host and path
        self.name = name or route_name(host, path, prefix, regex, index)
        self._plain = not (methods or self._headers or self._facts or self._json or when)

    def accepts(self, head: RequestHead, body: Any, facts: RequestFacts | None) -> bool:
        """Whether the conditions other than host and path hold (``facts`` is given when
        ``_facts``)."""
        if self.methods is not None and head.method not in self.methods:
            return False
        if self._headers:
            raw = head.raw_headers
            for name, test in self._headers:
                if not test(header_value(raw, name)):
                    return False
        if self._facts:
            assert facts is not None
            if self._query:
                q = facts.query()
                for qname, test in self._query:
                    if not test(q.get(qname)):
                        return False
            if self._cookies:
                c = facts.cookies()
                for cname, test in self._cookies:
                    if not test(c.get(cname)):
                        return False
        if self.when is not None and not self.when(head):
            return False
        if self._json:
            if body is PROBE:
                return True
            if not isinstance(body, dict):
                return False
            for steps, test in self._json:
                if not test(json_get(body, steps)):
                    return False
        return True

    def __repr__(self) -> str:
        parts = [f"#{self.index}"]
        for name in (
            "host",
            "path",
            "prefix",
            "regex",
            "methods",
            "headers",
            "query",
            "cookies",
            "json",
            "when",
        ):
            v: Any = getattr(self, name)
            if v is None:
                continue
            if name == "host":
                v = v[0] if len(v) == 1 else list(v)
            elif name == "regex":
                v = v.pattern
            elif name == "methods":
                v = ",".join(sorted(v))
                parts.append(f"methods={v}")
                continue
            elif name == "when":
                v = getattr(v, "__qualname__", v)
                parts.append(f"when={v}")
                continue
            parts.append(f"{name}={v!r}")
        return f"<Route {' '.join(parts)} -> {self.value!r}>"


def route_name(
    host: tuple[str, ...] | None,
    path: str | None,
    prefix: str | None,
    regex: re.Pattern[str] | None,
    index: int,
) -> str:
    """A route's name when it is not given one: its hosts (joined by ``,``) then its path as
    written (``/users/{id}``), its prefix followed by ``*`` (``/api/*``) or ``~`` and its regex;
    ``#index`` for a route with neither (any host, any path)."""
    where = ",".join(host) if host else ""
    if path is not None:
        where += path
    elif prefix is not None:
        where += prefix + "*"
    elif regex is not None:
        where += "~" + regex.pattern
    return where or f"#{index}"


class Match(Generic[V]):
    """The result of a lookup: the route's ``value``, the path ``params`` and the ``route``."""

    __slots__ = ("params", "route", "value")

    def __init__(self, route: Route[V], params: dict[str, str]) -> None:
        self.value = route.value
        self.params = params
        self.route = route

    def __repr__(self) -> str:
        return f"<Match {self.value!r} params={self.params!r}>"


class RequestFacts:
    """Query and cookies of one request, parsed on first use and shared by its candidates."""

    __slots__ = ("_cookies", "_query", "head")

    def __init__(self, head: RequestHead) -> None:
        self.head = head
        self._query: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None

    def query(self) -> dict[str, str]:
        q = self._query
        if q is None:
            q = self._query = (
                {k: v[0] for k, v in self.head.query_params().items()} if self.head.query else {}
            )
        return q

    def cookies(self) -> dict[str, str]:
        c = self._cookies
        if c is None:
            c = self._cookies = parse_cookies(self.head.raw_headers)
        return c
