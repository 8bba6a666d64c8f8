"""The gateway file's ``routes``: each route's match, its action (an upstream, a split, a fallback,
a redirect, a fixed answer, static files, a tunnel) with its policies, proxy options and
mirror, and the router a listener is served by."""

from __future__ import annotations

import os
from typing import Any

import pipework as pw

from .policies import LayoutFn, Policies, Step, chain
from .reader import kind_of, number, suggest
from .source import Map, Seq
from .upstreams import Upstreams

ROUTE = (
    "name",
    "match",
    "listeners",
    "upstream",
    "split",
    "fallback",
    "redirect",
    "respond",
    "static",
    "tunnel",
    "rewrite",
    "rewrite_prefix",
    "host",
    "request_headers",
    "response_headers",
    "timeouts",
    "retry",
    "mirror",
    "policies",
)
ACTIONS = ("upstream", "split", "fallback", "redirect", "respond", "static", "tunnel")
MATCH = ("host", "path", "prefix", "regex", "methods", "headers", "query", "cookies", "json")
TIMEOUTS = {
    "connect": "connect_timeout",
    "read": "read_timeout",
    "first_byte": "first_byte_timeout",
    "total": "timeout",
}


def _conditions(match: Map) -> dict[str, Any]:
    conds = {k: v for k, v in match.items() if k in MATCH}
    if isinstance(conds.get("methods"), Seq):
        conds["methods"] = list(conds["methods"])
    return conds


class Routes(Policies, Upstreams):
    def read_routes(self, doc: Map) -> None:
        items = self.seq(doc["routes"], doc.line_of("routes"), "routes") if "routes" in doc else None
        names: dict[str, int] = {}
        for i, spec in enumerate(items or ()):
            line = items.line_of(i) if items is not None else 1
            where = f"routes[{i}]"
            r = self.mapping(spec, line, where, ROUTE)
            if r is None:
                continue
            name = r.get("name", f"route{i}")
            if not isinstance(name, str):
                self.bad(r.line_of("name"), where, f"name must be a text, not {kind_of(name)}")
                continue
            if name in names:
                self.bad(
                    r.line_of("name"),
                    where,
                    f"route name {name!r} is used twice (first on line {names[name]})",
                )
            names[name] = r.line_of("name")
            where = f"routes[{i}] ({name})" if "name" in r else where
            action = self.action(r, where)
            if action is not None:
                self.routes.append((r, action, name))

    def action(self, r: Map, where: str) -> Any:
        given = [a for a in ACTIONS if a in r]
        if len(given) != 1:
            self.bad(
                r.line,
                where,
                f"give one of {', '.join(ACTIONS)}" + (f", not {' and '.join(given)}" if given else ""),
            )
            return None
        kind = given[0]
        value, line = r[kind], r.line_of(kind)
        self.check_match(r, where)
        policies: list[Step] | None = []
        if "policies" in r:
            policies = self.steps(r["policies"], r.line_of("policies"), f"{where}.policies")
        proxy_opts = self.proxy_options(r, where)
        if kind == "upstream":
            self.upstream_named(value, line, f"{where}.upstream")
        if "mirror" in r and kind in ("upstream", "split", "fallback"):
            mirror = self.mirror(r["mirror"], r.line_of("mirror"), f"{where}.mirror", r.get("name"))
            if mirror is None:
                return None
            proxy_opts = None if proxy_opts is None else {**proxy_opts, "mirror": mirror}
        if policies is None or proxy_opts is None:
            return None
        forward = {
            k: r[k]
            for k in ("rewrite", "rewrite_prefix", "host", "request_headers", "response_headers")
            if k in r
        }
        if kind in ("upstream", "split", "fallback"):
            if kind == "upstream":
                return self.forward(value, line, f"{where}.upstream", policies, proxy_opts, forward, r)
            if kind == "fallback":
                names = self.seq(value, line, f"{where}.fallback")
                if names is None:
                    return None
                acts = [
                    self.forward(
                        n, names.line_of(j), f"{where}.fallback[{j}]", policies, proxy_opts, forward, r
                    )
                    for j, n in enumerate(names)
                ]
                return None if any(a is None for a in acts) else self.attempt(line, where, pw.fallback, *acts)
            sm = self.mapping(value, line, f"{where}.split")
            if sm is None:
                return None
            pairs = []
            for n, w in sm.items():
                act = self.forward(n, sm.line_of(n), f"{where}.split.{n}", policies, proxy_opts, forward, r)
                if act is None:
                    return None
                pairs.append((act, w))
            return self.attempt(line, f"{where}.split", pw.split, pairs)
        extra = [
            k for k in ("timeouts", "retry", "mirror", *(forward if kind == "redirect" else ())) if k in r
        ]
        if extra:
            self.bad(
                r.line_of(extra[0]), where, f"{extra[0]!r} applies to routes to an upstream, not to {kind}"
            )
            return None
        if kind == "redirect":
            if isinstance(value, str):
                return self.attempt(line, f"{where}.redirect", pw.redirect, value)
            rm = self.mapping(value, line, f"{where}.redirect", ("location", "status"))
            if rm is None or not self.text(rm.get("location"), rm.line, f"{where}.redirect.location"):
                return None
            return self.attempt(
                rm.line, f"{where}.redirect", pw.redirect, rm["location"], rm.get("status", 302)
            )
        if kind == "respond":
            final = self.respond(value, line, f"{where}.respond")
        elif kind == "tunnel":
            final = self.tunnel(value, line, f"{where}.tunnel")
        else:
            final = self.static(value, line, f"{where}.static")
        if final is None:
            return None
        layout = self.layout(policies, final, line, where)
        if layout is None or not forward:
            return layout
        return self.call(pw.to, forward, r, where, layout)

    def proxy_options(self, r: Map, where: str) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if "timeouts" in r:
            tm = self.mapping(r["timeouts"], r.line_of("timeouts"), f"{where}.timeouts", TIMEOUTS)
            if tm is None:
                return None
            for k, v in tm.items():
                seconds = number(v, "float")
                if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                    self.bad(
                        tm.line_of(k),
                        f"{where}.timeouts.{k}",
                        f"must be seconds, or a duration such as 500ms, 30s, 5m; not {kind_of(v)}",
                    )
                    return None
                out[TIMEOUTS[k]] = float(seconds)
        if "retry" in r:
            v, line = r["retry"], r.line_of("retry")
            if isinstance(v, Map):
                args = self.options(pw.Retry, v, f"{where}.retry")
                if args is None:
                    return None
                out["retry"] = self.call(pw.Retry, args, v, f"{where}.retry")
                if out["retry"] is None:
                    return None
            elif isinstance(v, bool | int):
                out["retry"] = v
            else:
                self.bad(
                    line,
                    f"{where}.retry",
                    f"must be a number of retries, false, or a mapping of options, not {kind_of(v)}",
                )
                return None
        return out

    def mirror(self, value: Any, line: int, where: str, route: str | None) -> LayoutFn | None:
        """``mirror: NAME`` or ``mirror: {upstream: NAME, fraction: 0.1, ...}``: the step that copies
        the route's requests to that upstream (the options of ``mirror``; its name in the metrics
        is the route's by default)."""
        if isinstance(value, str):
            value = Map.at(line, upstream=value)
        m = self.mapping(value, line, where)
        if m is None:
            return None
        if "upstream" not in m:
            self.bad(m.line, where, "give the upstream that gets the copies (upstream: NAME)")
            return None
        up = self.upstream_named(m["upstream"], m.line_of("upstream"), f"{where}.upstream")
        rest = m.without("upstream")
        args = self.options(pw.Builder.mirror, rest, where, skip=2)  # type: ignore[attr-defined]
        if up is None or args is None:
            return None
        args.setdefault("name", route or "mirror")
        if self.call(pw.pipeline, {}, rest, where, lambda p: p.mirror(up, **args)) is None:
            return None
        return lambda p: p.mirror(up, **args)

    def upstream_named(self, name: Any, line: int, where: str) -> pw.Upstream | None:
        if isinstance(name, str) and name in self.upstreams:
            return self.upstreams[name]
        if not self.problems.has(line) and name not in self.upstream_names:  # else its mistakes are reported
            known = ", ".join(sorted(self.upstream_names)) or "none"
            self.bad(
                line,
                where,
                f"no upstream named {name!r}{suggest(str(name), self.upstream_names)} (upstreams: {known})",
            )
        return None

    def check_match(self, r: Map, where: str) -> None:
        """Report mistakes in the route's conditions, by filing it in a scratch router."""
        if "match" not in r:
            return
        match = self.mapping(r["match"], r.line_of("match"), f"{where}.match", MATCH)
        if match is not None:
            self.call(pw.Router().add, _conditions(match), match, f"{where}.match", None)

    def forward(
        self,
        name: Any,
        line: int,
        where: str,
        policies: list[Step],
        proxy_opts: dict[str, Any],
        forward: dict[str, Any],
        r: Map,
    ) -> Any:
        up = self.upstream_named(name, line, where)
        if up is None:
            return None
        mirror = proxy_opts.get("mirror")
        if not policies and mirror is None:
            return self.call(pw.to, {**forward, **proxy_opts}, r, where, up)
        opts = {k: v for k, v in proxy_opts.items() if k != "mirror"}
        final: LayoutFn = (
            (lambda p: p.proxy(up, **opts)) if mirror is None else (lambda p: mirror(p).proxy(up, **opts))
        )
        layout = self.layout(policies, final, line, where)
        if layout is None:
            return None
        return self.call(pw.to, forward, r, where, layout)

    def layout(self, policies: list[Step], final: LayoutFn, line: int, where: str) -> pw.Layout | None:
        return self.attempt(line, where, pw.pipeline, chain(policies, final))  # type: ignore[no-any-return]

    def respond(self, value: Any, line: int, where: str) -> LayoutFn | None:
        if isinstance(value, str):
            value = Map.at(line, body=value)
        m = self.mapping(value, line, where, ("status", "body", "headers", "content_type"))
        if m is None:
            return None
        status, body = m.get("status", 200), m.get("body", "")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            self.bad(
                m.line_of("status"),
                f"{where}.status",
                f"must be a status from 200 to 599, not {kind_of(status)}",
            )
            return None
        if not isinstance(body, str):
            self.bad(m.line_of("body"), f"{where}.body", f"must be a text, not {kind_of(body)}")
            return None
        headers = m.get("headers") or {}
        hm = self.mapping(headers, m.line_of("headers"), f"{where}.headers") if "headers" in m else headers
        if hm is None:
            return None
        fields = {str(k): str(v) for k, v in hm.items()}
        ctype = m.get("content_type")
        answer = self.call(
            pw.Response, {"status": status, "headers": fields, "content_type": ctype}, m, where, body
        )
        if answer is None:
            return None
        return lambda p: p.serve_http(lambda req: answer)

    def tunnel(self, value: Any, line: int, where: str) -> LayoutFn | None:
        """``tunnel``: CONNECT answered with a TCP tunnel (true, or the options of ``tunnel``)."""
        if value is True or value is None:
            value = Map.at(line)
        m = self.mapping(value, line, where)
        args = self.options(pw.Builder.tunnel, m, where, skip=1) if m is not None else None  # type: ignore[attr-defined]
        if args is None or m is None:
            return None
        if isinstance(args.get("allow"), Seq):
            args["allow"] = list(args["allow"])
        if self.call(pw.pipeline, {}, m, where, lambda p: p.tunnel(**args)) is None:
            return None
        return lambda p: p.tunnel(**args)

    def static(self, value: Any, line: int, where: str) -> LayoutFn | None:
        if isinstance(value, str):
            value = Map.at(line, root=value)
        m = self.mapping(value, line, where)
        if m is None:
            return None
        args = self.options(pw.Builder.serve_files, m, where, skip=1)  # type: ignore[attr-defined]
        if args is None:
            return None
        args["root"] = self.file(str(args["root"]))
        if not os.path.isdir(args["root"]):
            self.bad(m.line_of("root"), f"{where}.root", f"{args['root']} is not a directory")
            return None
        if isinstance(args.get("index"), list):
            args["index"] = tuple(args["index"])
        return lambda p: p.serve_files(**args)

    def router(self, listener: str, only: Any) -> pw.Router:
        router: pw.Router = pw.Router()
        for r, action, name in self.routes:
            if only is not None and name not in only:
                continue
            if r.get("listeners") is not None and listener not in [str(x) for x in r["listeners"]]:
                continue
            match = r.get("match") or Map()
            router.add(action, name=name, **_conditions(match))
        return router
