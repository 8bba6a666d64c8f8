"""``route``: send each request where a :class:`~pipework.lb.router.Router` says, with rewrites,
redirects, header changes and traffic splits.

Theory of operation: ``route(router)`` sits under ``demux_http`` (one sub-pipeline per request).
At the request head it asks the router for a match — first holding the body, up to
``max_body`` bytes, when a route that could match has JSON conditions — and acts on the matched
value:

- a layout (or a function making one): the request goes through a new pipeline of it;
- an :class:`~pipework.filters.upstream.Upstream`, an address or a list of addresses: it is
  proxied there;
- :func:`to` (``pw.to``): either of those, after rewriting the path and the Host field and
  changing request fields; the response's fields are changed on the way back;
- :func:`redirect` (``pw.redirect``): a 301/302/307/308 answer;
- :func:`split` (``pw.split``): one of several actions, by weight (canary, blue/green) or by the
  value of a header or cookie; :func:`fallback`: the first action whose upstream has a healthy
  target (routing by upstream state).

No match, and no ``default``: 404. The route's path parameters are in ``ctx.vars.route_params``
(and fill ``{name}`` in rewrites and redirects); its name — ``pw.to(name=)``, else the
router's ``add(name=)``, else made of its host and path; ``"default"`` for the default — is in
``ctx.vars.route``, where ``demux_http`` reads it for the metrics and the access log.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Data, Event, Filter, Layout, MessageEnd, MessageStart, StreamEnd, register
from ..core.builder import as_layout
from ..core.pipeline import Pipeline
from ..lb.hashing import hash_key
from ..lb.router import NO_BODY, Router
from .http import Check, Refusal, direct_checks
from .keys import key_function
from .upstream import Upstream

#: body bytes held to match JSON conditions; a longer body gets 413
DEFAULT_MAX_BODY = 64 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class HeaderOps:
    """Field changes: ``{"set": {name: value}, "add": {name: value}, "remove": [names]}``."""

    __slots__ = ("add", "drop", "set")

    def __init__(self, spec: Mapping[str, Any] | None, what: str) -> None:
        spec = dict(spec or {})
        unknown = set(spec) - {"set", "add", "remove"}
        if unknown:
            raise ValueError(f"{what}: unknown change {sorted(unknown)[0]!r}; use set, add and remove")
        self.set = [(k.lower().encode(), _value(v, what)) for k, v in dict(spec.get("set", {})).items()]
        self.add = [(k.lower().encode(), _value(v, what)) for k, v in dict(spec.get("add", {})).items()]
        remove = spec.get("remove", [])
        if isinstance(remove, str):
            remove = [remove]
        self.drop = frozenset(k.lower().encode() for k in remove) | {k for k, _ in self.set}

    def __bool__(self) -> bool:
        return bool(self.set or self.add or self.drop)

    def apply(self, fields: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        drop = self.drop
        out = [(k, v) for k, v in fields if k.lower() not in drop] if drop else list(fields)
        out += self.set
        out += self.add
        return out


def _value(v: Any, what: str) -> bytes:
    b = v.encode("latin-1") if isinstance(v, str) else v
    if not isinstance(b, bytes) or any(c in b for c in b"\r\n\0"):
        raise ValueError(f"{what}: {v!r} is not a field value")
    return b


class Forward:
    """``pw.to(target, ...)``: a layout or an upstream, with request and response changes."""

    __slots__ = (
        "cache",
        "checks",
        "host",
        "layout",
        "name",
        "proxy",
        "request_headers",
        "response_headers",
        "rest",
        "rewrite",
        "rewrite_prefix",
        "upstream",
    )

    def __init__(
        self,
        target: Any,
        *,
        rewrite: str | Callable[[RequestHead, dict[str, str]], str] | None = None,
        rewrite_prefix: str | None = None,
        host: str | None = None,
        request_headers: Mapping[str, Any] | None = None,
        response_headers: Mapping[str, Any] | None = None,
        name: str | None = None,
        **proxy_options: Any,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"to(): name must be a non-empty str, not {name!r}")
        #: the route's name for the metrics and the access log, over the matched route's
        self.name = name
        self.upstream: Upstream | None = None
        if isinstance(target, Layout) or (callable(target) and not isinstance(target, Upstream)):
            if proxy_options:
                raise TypeError(f"to(): {sorted(proxy_options)[0]} is a proxy option; the target is a layout")
            self.layout = as_layout(target)
        else:
            self.upstream = target if isinstance(target, Upstream) else Upstream(target)
            ups = self.upstream
            self.layout = as_layout(lambda p: p.proxy(ups, **proxy_options))
        if rewrite is not None and rewrite_prefix is not None:
            raise ValueError("to(): give rewrite or rewrite_prefix, not both")
        if isinstance(rewrite, str) and not rewrite.startswith("/"):
            raise ValueError(f"to(): rewrite {rewrite!r} must start with /")
        if rewrite_prefix is not None and not rewrite_prefix.startswith("/"):
            raise ValueError(f"to(): rewrite_prefix {rewrite_prefix!r} must start with /")
        #: the proxy's settings when the layout is a proxy, alone or after steps that decide from
        #: the request head (``checks``, run in their place): demux_http's direct path
        ts = self.layout.templates
        self.proxy: Any = None
        self.cache: Any = None  # or a cache_http's settings, whose fresh hits it answers
        self.rest: Layout | None = None  # then the cache step alone, for its misses (checks done)
        self.checks: tuple[Check, ...] = ()
        last = ts[-1].cfg if ts else None
        cache = getattr(last, "answers_hits", False)
        checks = direct_checks(ts[:-1]) if cache or getattr(last, "exchange", None) is not None else None
        if checks is not None:
            self.checks = checks
            if cache:
                self.cache, self.rest = last, Layout(self.layout.name, list(ts[-1:]))
            else:
                self.proxy = last
        self.rewrite = rewrite
        self.rewrite_prefix = rewrite_prefix
        self.host = _value(host, "to(): host") if host is not None else None
        self.request_headers = HeaderOps(request_headers, "to(): request_headers") or None
        self.response_headers = HeaderOps(response_headers, "to(): response_headers") or None

    def prepare(self, head: RequestHead, params: dict[str, str], prefix: str | None) -> None:
        """Rewrite ``head`` in place for the target."""
        rw = self.rewrite
        if rw is not None or self.rewrite_prefix is not None:
            path, query = head.path, head.query
            if rw is None:
                assert self.rewrite_prefix is not None
                new = (
                    self.rewrite_prefix + path[len(prefix) :] if prefix and path.startswith(prefix) else path
                )
            elif callable(rw):
                new = rw(head, params)
            else:
                new = _fill(rw, params, head)
            head.target = f"{new}?{query}" if query else new
        if self.host is not None or self.request_headers is not None:
            fields = head.raw_headers
            if self.host is not None:
                fields = [(k, v) for k, v in fields if k.lower() != b"host"]
                fields.insert(0, (b"host", self.host))
            if self.request_headers is not None:
                fields = self.request_headers.apply(fields)
            head.replace_fields(fields)


def _fill(template: str, params: dict[str, str], head: RequestHead) -> str:
    """``{name}`` filled from the route's params, ``{path}``, ``{query}``, ``{uri}`` (the path and
    the query as received), ``{host}`` (the Host field) and ``{hostname}`` (without its port)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in params:
            return params[name]
        if name == "path":
            return head.path
        if name == "query":
            return head.query
        if name == "uri":
            return head.target
        if name == "host" or name == "hostname":
            h = (head.header(b"host") or b"").decode("latin-1")
            if name == "hostname" and h.rpartition(":")[2].isdigit():
                h = h.rpartition(":")[0]  # the port off, for a redirect to another one
            return h
        return m.group(0)

    return _PLACEHOLDER.sub(one, template)


class Redirect:
    """``pw.redirect(location, status)``: answer with a redirect instead of forwarding."""

    __slots__ = ("location", "status")

    def __init__(
        self, location: str | Callable[[RequestHead, dict[str, str]], str], status: int = 302
    ) -> None:
        if status not in REDIRECT_STATUSES:
            raise ValueError(f"redirect(): status {status} is not one of {REDIRECT_STATUSES}")
        if isinstance(location, str):
            _value(location, "redirect()")
        elif not callable(location):
            raise TypeError(f"redirect(): location is a str or a function, not {type(location).__name__}")
        self.location = location
        self.status = status

    def response(self, head: RequestHead, params: dict[str, str]) -> tuple[ResponseHead, bytes]:
        loc = self.location
        where = loc(head, params) if callable(loc) else _fill(loc, params, head)
        body = f"{self.status} redirect to {where}\n".encode("latin-1", "replace")
        fields = [(b"location", _value(where, "redirect()")), (b"content-type", b"text/plain")]
        return ResponseHead(self.status, "", "1.1", fields), body


class Split:
    """``pw.split(...)``: one of several actions per request (see :func:`split`)."""

    __slots__ = ("actions", "by", "cumulative", "default", "mapping", "rng", "total")

    def __init__(
        self,
        weights: Mapping[Any, float] | Iterable[tuple[Any, float]] | None,
        by: str | Callable[..., Any] | None,
        mapping: Mapping[str, Any] | None,
        default: Any,
    ) -> None:
        self.rng = random.Random()
        self.by = key_function(by, "split(): by") if by is not None else None
        self.mapping: dict[bytes, Any] | None = None
        self.default = default
        self.actions: list[Any] = []
        self.cumulative: list[float] = []
        self.total = 0.0
        if mapping is not None:
            if self.by is None:
                raise ValueError("split(): a mapping of values needs by='header:NAME' or 'cookie:NAME'")
            self.mapping = {k.encode(): v for k, v in mapping.items()}
            return
        if weights is None:
            raise TypeError("split(): give weights, or by= with a mapping of values")
        pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        for action, w in pairs:
            if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                raise ValueError(f"split(): weight {w!r} must be a number >= 0")
            self.total += w
            self.actions.append(action)
            self.cumulative.append(self.total)
        if not self.total > 0:
            raise ValueError("split(): the weights add up to 0")

    def choose(self, head: RequestHead, ctx: Any) -> Any:
        if self.mapping is not None:
            assert self.by is not None
            key = self.by(head, ctx)
            return self.mapping.get(key, self.default) if key is not None else self.default
        if self.by is not None:  # sticky: the same key, the same action
            key = self.by(head, ctx)
            x = (hash_key(key) % 1_000_003) / 1_000_003 * self.total if key is not None else None
        else:
            x = None
        if x is None:
            x = self.rng.random() * self.total
        for action, edge in zip(self.actions, self.cumulative, strict=True):
            if x < edge:
                return action
        return self.actions[-1]


class Fallback:
    """``pw.fallback(a, b, ...)``: the first action whose upstream has a target that may take
    requests (an action without an upstream always may)."""

    __slots__ = ("actions",)

    def __init__(self, actions: tuple[Any, ...]) -> None:
        if not actions:
            raise TypeError("fallback() needs at least one action")
        self.actions = actions

    def choose(self, head: RequestHead, ctx: Any) -> Any:
        for a in self.actions:
            ups = a if isinstance(a, Upstream) else getattr(a, "upstream", None)
            if ups is None or ups.available:
                return a
        return self.actions[-1]


class _RouteCfg:
    __slots__ = ("actions", "default", "max_body", "router")

    def __init__(self, router: Router[Any], default: Any, max_body: int) -> None:
        if not isinstance(router, Router):
            raise TypeError(f"route(): expected a pw.Router, not {type(router).__name__}")
        self.router = router
        self.default = default
        self.max_body = max_body
        self.actions: dict[int, tuple[Any, Any]] = {}  # id(value) -> (value, action)

    def action(self, value: Any) -> Any:
        """A router value as an action: layouts, redirects, splits as they are; upstreams and
        addresses as a Forward (made once per value)."""
        got = self.actions.get(id(value))
        if got is not None and got[0] is value:
            return got[1]
        if isinstance(value, Forward | Redirect | Split | Fallback | Layout):
            action = value
        elif isinstance(value, Upstream | str | list | tuple):
            action = Forward(value)
        elif callable(value):
            action = as_layout(value)
        else:
            raise TypeError(f"route(): cannot route to {value!r}")
        self.actions[id(value)] = (value, action)
        return action

    def resolve(self, value: Any, head: RequestHead, ctx: Any) -> Any:
        """The action ``value`` comes to for this request, splits and fallbacks chosen; None
        when a split has nothing for it."""
        action = self.action(value)
        while isinstance(action, Split | Fallback):
            chosen = action.choose(head, ctx)
            if chosen is None:
                return None
            action = self.action(chosen)
        return action

    def direct(self, head: RequestHead, ctx: Any) -> Any:
        """``demux_http``'s direct path: the proxy settings of the upstream this request is
        routed to, its head rewritten; for a route to a cache, its fresh hit (bytes) or else the
        route's layout (the head rewritten, the route's checks run); None (the sub-pipeline
        takes it) for anything else."""
        router = self.router
        if router.has_json and router.needs_body(head):
            return None
        m = router.match(head)
        if m is None:
            return None
        action = self.resolve(m.value, head, ctx)
        if not isinstance(action, Forward) or action.response_headers is not None:
            return None
        if action.proxy is None and action.cache is None:
            return None
        v = ctx.vars
        v.route = action.name or m.route.name
        v.route_params = m.params
        action.prepare(head, m.params, m.route.prefix)
        for check in action.checks:
            answer = check(head, ctx)
            if answer is not None:
                return Refusal(answer)
        if action.proxy is not None:
            return action.proxy
        hit = action.cache.direct(head, ctx)
        return action.rest if hit is None else hit


class Route(Filter):
    """See the module docstring."""

    __slots__ = ("forward", "held", "size", "sub")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.sub: Pipeline | None = None
        self.held: list[Event] | None = None  # the request, held while its body is read for JSON
        self.size = 0
        self.forward: Forward | None = None

    def process(self, evt: Event) -> None:
        sub = self.sub
        if sub is not None:
            sub.input(evt)
            return
        held = self.held
        t = type(evt)
        if held is None:
            if t is not MessageStart:
                return  # nothing routed yet: a stray event has nowhere to go
            head = evt.head  # type: ignore[attr-defined]
            if self.cfg.router.needs_body(head):
                self.held = [evt]
                return
            self._dispatch(head, NO_BODY, [evt])
            return
        held.append(evt)
        if t is Data:
            self.size += len(evt.data)  # type: ignore[attr-defined]
            if self.size > self.cfg.max_body:
                self.held = None
                self._answer(413, f"request body over {self.cfg.max_body} bytes\n")
        elif t is MessageEnd:
            raw = b"".join(e.data for e in held if type(e) is Data)
            try:
                body = json.loads(raw) if raw else NO_BODY
            except ValueError:
                body = NO_BODY  # not JSON: routes with JSON conditions do not match
            self.held = None
            self._dispatch(held[0].head, body, held)  # type: ignore[attr-defined]
        elif t is StreamEnd:
            self.held = None

    def _dispatch(self, head: RequestHead, body: Any, events: list[Event]) -> None:
        cfg: _RouteCfg = self.cfg
        ctx = self.pipeline.context
        m = cfg.router.match(head, body)
        v = ctx.vars
        if m is None:
            value, params, prefix, v.route = cfg.default, {}, None, "default"
            if value is None:
                v.route = None
                self._answer(404, "no route\n")
                return
        else:
            value, params, prefix, v.route = m.value, m.params, m.route.prefix, m.route.name
        v.route_params = params
        action = cfg.resolve(value, head, ctx)
        if action is None:
            self._answer(404, "no route\n")
            return
        if isinstance(action, Forward) and action.name is not None:
            v.route = action.name
        if isinstance(action, Redirect):
            rhead, rbody = action.response(head, params)
            self._out(MessageStart(rhead))
            self._out(Data(rbody))
            self._out(MessageEnd())
            return
        out = self._out
        if isinstance(action, Forward):
            action.prepare(head, params, prefix)
            if action.response_headers is not None:
                self.forward = action
                out = self._out_changed
            layout = action.layout
        else:
            layout = action
        sub = self.sub = layout.spawn(ctx, out)
        sub.start()
        for e in events:
            sub.input(e)

    def _out_changed(self, evt: Event) -> None:
        if type(evt) is MessageStart and self.forward is not None:
            rh = evt.head
            if isinstance(rh, ResponseHead) and self.forward.response_headers is not None:
                rh.raw_headers = self.forward.response_headers.apply(rh.raw_headers)
        self._out(evt)

    def _answer(self, status: int, text: str) -> None:
        self._out(MessageStart(ResponseHead(status, "", "1.1", [(b"content-type", b"text/plain")])))
        self._out(Data(text.encode()))
        self._out(MessageEnd())

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()


def route(
    self: Builder, router: Router[Any], *, default: Any = None, max_body: int = DEFAULT_MAX_BODY
) -> Builder:
    """Route each request by ``router`` (a :class:`pipework.Router`); see the module docstring.
    ``default``: the action when no route matches (404 without it). ``max_body``: the most body
    bytes held to match JSON conditions (413 past it). Use it under ``demux_http``."""
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 0:
        raise ValueError(f"route(): max_body must be a number of bytes >= 0, not {max_body!r}")
    return self.add("route", Route, _RouteCfg(router, default, max_body))


def to(target: Any, **options: Any) -> Forward:
    """An action for a route: ``target`` (a layout, an :class:`~pipework.Upstream`, an address
    or a list of them), after these changes: ``rewrite`` (a new path: a template filled with the
    route's ``{params}``, ``{path}``, ``{query}``, ``{uri}``, ``{host}``, ``{hostname}`` (the host
    without its port), or a function of the head and the params; the query is kept),
    ``rewrite_prefix`` (replaces the route's matched prefix), ``host`` (the Host field),
    ``request_headers`` and ``response_headers`` (``{"set": {...}, "add": {...},
    "remove": [...]}``), ``name`` (the route's name in the metrics and the access log, over the
    matched route's own). Other options go to ``proxy()`` (timeouts, retry)."""
    return Forward(target, **options)


def redirect(location: str | Callable[[RequestHead, dict[str, str]], str], status: int = 302) -> Redirect:
    """An action for a route: answer ``status`` (301, 302, 303, 307 or 308) with ``Location``,
    a template as for ``to(rewrite=...)`` (``"https://{host}{uri}"``) or a function."""
    return Redirect(location, status)


def split(
    weights: Mapping[Any, float] | Iterable[tuple[Any, float]] | None = None,
    *,
    by: str | Callable[..., Any] | None = None,
    values: Mapping[str, Any] | None = None,
    default: Any = None,
) -> Split:
    """An action for a route that picks another action per request: by ``weights``
    (``{stable: 90, canary: 10}`` or pairs), at random or, with ``by`` (a key such as
    ``"cookie:user"``), the same way for the same key; or by the value of ``by`` in ``values``
    (``split(by="header:x-version", values={"2": v2}, default=v1)``)."""
    return Split(weights, by, values, default)


def fallback(*actions: Any) -> Fallback:
    """An action for a route: the first of ``actions`` whose upstream has a target that may
    take requests (blue/green failover, or a backup pool)."""
    return Fallback(actions)


register(route=route)
