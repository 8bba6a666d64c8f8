"""Request keys: what a request is hashed or counted by, written as a short expression or a function.

``key_function("header:x-user")`` returns ``fn(head, ctx) -> bytes | None`` (None: the request
has no such key). Used by consistent-hash balancing (``Upstream(hash_key=...)``,
``pipework reverse-proxy --hash-key``), ``rate_limit`` and any policy keyed per request.

``claim:NAME`` reads a claim of the JWT that ``jwt_auth`` verified before (``ctx.vars.claims``;
``claim:org.id`` for a nested one). ``route`` is ``ctx.vars.route`` when the script named the
request's route (``handle_message_start``, or a step in the route's own layout), else the path;
a quota per route is simplest as a ``rate_limit`` step in each route's layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..core.callback import adapt
from ..lb.route import cookie_value

KeyFunction = Callable[[Any, Any], "bytes | None"]

#: the expressions key_function understands, for error messages and --help
EXPRESSIONS = ("header:NAME", "cookie:NAME", "query:NAME", "claim:NAME", "path", "uri", "host", "ip", "route")


def _header(name: bytes) -> KeyFunction:
    def key(head: Any, ctx: Any) -> bytes | None:
        return head.header(name)  # type: ignore[no-any-return]

    return key


def _cookie(name: bytes) -> KeyFunction:
    def key(head: Any, ctx: Any) -> bytes | None:
        return cookie_value(head.raw_headers, name)

    return key


def _query(name: str) -> KeyFunction:
    def key(head: Any, ctx: Any) -> bytes | None:
        values = head.query_params().get(name)
        return values[0].encode() if values else None

    return key


def _path(head: Any, ctx: Any) -> bytes | None:
    return head.path.encode("latin-1")  # type: ignore[no-any-return]


def _uri(head: Any, ctx: Any) -> bytes | None:
    return head.raw_target  # type: ignore[no-any-return]


def _host(head: Any, ctx: Any) -> bytes | None:
    h = head.header(b"host")
    return h.lower() if h is not None else None


def _ip(head: Any, ctx: Any) -> bytes | None:
    addr = ctx.inbound.remote_address
    return addr.encode() if addr else None


def _claim(name: str) -> KeyFunction:
    """A claim of the request's JWT (``ctx.vars.claims``, set by ``jwt_auth`` earlier in the
    layout); ``claim:org.id`` walks into objects. Strings as they are, other values as JSON."""
    path = name.split(".")

    def key(head: Any, ctx: Any) -> bytes | None:
        value = getattr(ctx.vars, "claims", None)
        for part in path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        if value is None:
            return None
        if isinstance(value, str):
            return value.encode()
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()

    return key


def _route(head: Any, ctx: Any) -> bytes | None:
    """``ctx.vars.route`` when a script or filter named the request's route, else the path."""
    route = getattr(ctx.vars, "route", None)
    if route is None:
        return head.path.encode("latin-1")  # type: ignore[no-any-return]
    return route if isinstance(route, bytes) else str(route).encode()


_PLAIN: dict[str, KeyFunction] = {"path": _path, "uri": _uri, "host": _host, "ip": _ip, "route": _route}
_NAMED: dict[str, Callable[[str], KeyFunction]] = {
    "header": lambda n: _header(n.lower().encode()),
    "cookie": lambda n: _cookie(n.encode()),
    "query": _query,
    "claim": _claim,
}


def key_function(spec: str | Callable[..., Any], what: str = "key") -> KeyFunction:
    """``spec`` (an expression or a function of the head, and optionally the context) as
    ``fn(head, ctx) -> bytes | None``; ValueError naming ``what`` for an unknown expression."""
    if callable(spec):
        cb = adapt(spec, 1, what)
        if cb.is_async:
            raise TypeError(f"{what}: the key function must not be async")
        call = cb.call

        def key(head: Any, ctx: Any) -> bytes | None:
            v = call(head, ctx)
            if v is None or isinstance(v, bytes):
                return v
            return str(v).encode()

        return key
    if not isinstance(spec, str):
        raise TypeError(f"{what}: expected an expression such as 'header:x-user' or a function, not {spec!r}")
    kind, colon, name = spec.partition(":")
    kind = kind.strip().lower()
    if not colon and kind in _PLAIN:
        return _PLAIN[kind]
    if colon and kind in _NAMED and name.strip():
        return _NAMED[kind](name.strip())
    raise ValueError(f"{what}: {spec!r} is not a key; write one of {', '.join(EXPRESSIONS)}")
