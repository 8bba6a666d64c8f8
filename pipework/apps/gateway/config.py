"""The gateway file's sections checked and turned into pipework objects with the public script API.

Theory of operation: :func:`declare` reads the file (:mod:`.source`), then walks its sections in
order — ``upstreams``, ``policies``, ``routes``, ``listeners``, ``admin`` — making the
:class:`pipework.Upstream`, :class:`pipework.Router` and layouts a script would make by hand. Each
mistake is added to a :class:`~.source.Problems` list with its line and the walk goes on, so one
run reports them all; the listeners are declared only when the list is empty, and otherwise a
:class:`pipework.ScriptError` carries every line. A reload goes through the same function, so a
bad file is refused as a whole and the running configuration keeps serving.

Options are checked against the signatures of the functions they are passed to (an unknown
option is named, with the closest known one), and the functions' own checks (``ValueError`` for
a bad value) are reported at the option's line. Durations may be written with a unit
(``500ms``, ``30s``, ``5m``, ``1h``, ``1d``) and sizes with one (``64k``, ``10m``, ``1g``: powers of
1024, as nginx reads them) wherever the option is a number. Relative file names are taken from
the directory of the gateway file.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import pipework as pw

from .source import Map, Problems, Seq, parse

__all__ = ["declare", "load"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_SIZE = re.compile(r"(\d+)\s*([kKmMgG])[bB]?")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_BYTES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

TOP = ("listeners", "upstreams", "routes", "policies", "caches", "admin")
LISTENER = (
    "address",
    "name",
    "tls",
    "limit_connections",
    "access_log",
    "policies",
    "routes",
    "max_body",
    "max_header_bytes",
    "max_headers",
    "max_uri",
    "header_timeout",
    "idle_timeout",
    "read_timeout",
    "max_connections",
)
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
ACCESS_LOGS = ("combined", "json", "off")


class _Policy:
    """A kind of policy: the builder method it calls, whether the steps after it go in its
    ``.to()``, and which of its options name files."""

    def __init__(self, method: str, wraps: bool = False, files: tuple[str, ...] = ()) -> None:
        self.method = method
        self.wraps = wraps
        self.files = files


POLICIES = {
    "request_id": _Policy("request_id"),
    "allow_ips": _Policy("allow_ips", files=("allow", "deny", "trusted_proxies")),
    "basic_auth": _Policy("basic_auth", files=("users",)),
    "api_key": _Policy("api_key"),
    "jwt_auth": _Policy("jwt_auth", files=("keys",)),
    "forward_auth": _Policy("forward_auth"),
    "authorize": _Policy("authorize"),
    "rate_limit": _Policy("rate_limit"),
    "maintenance": _Policy("maintenance", files=("switch", "page")),
    "decompress_request": _Policy("decompress_request"),
    "cors": _Policy("cors", wraps=True),
    "headers": _Policy("headers", wraps=True),
    "compress": _Policy("compress_http", wraps=True),
    "error_pages": _Policy("error_pages", wraps=True, files=("pages",)),
    "cache": _Policy("cache_http", wraps=True),
}

Step = tuple[_Policy, dict[str, Any]]  # a policy ready to apply: its kind and its arguments
LayoutFn = Callable[[pw.Builder], Any]


def _kind(value: Any) -> str:
    if isinstance(value, Map):
        return "a mapping"
    if isinstance(value, Seq):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return f"{type(value).__name__} {value!r}"


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class Gateway:
    """One reading of a gateway file; see the module docstring."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.base = os.path.dirname(os.path.abspath(path))
        self.problems = Problems(path)
        self.doc = parse(text, self.problems)
        self.upstreams: dict[str, pw.Upstream] = {}
        self.caches: dict[str, pw.HttpCache] = {}
        self.cache_names: set[str] = set()  # every cache, those with mistakes too
        self.named: dict[str, list[Step]] = {}
        self.upstream_names: set[str] = set()  # every upstream, those with mistakes too
        self.policy_names: set[str] = set()  # every named policy, those with mistakes too
        self.routes: list[tuple[Map, Any, str]] = []  # (route, its action, its name)

    # -- helpers -------------------------------------------------------------------------------
    def bad(self, line: int, where: str, reason: str) -> None:
        self.problems.add(line, where, reason)

    def mapping(self, value: Any, line: int, where: str, keys: Iterable[str] | None = None) -> Map | None:
        """``value`` when it is a mapping whose keys are all in ``keys`` (unknown ones reported)."""
        if not isinstance(value, Map):
            self.bad(line, where, f"must be a mapping (name: value lines), not {_kind(value)}")
            return None
        if keys is not None:
            known = tuple(keys)
            for k in value:
                if k not in known:
                    self.bad(
                        value.line_of(k),
                        where,
                        f"unknown key {k!r}{_suggest(k, known)} (known: {', '.join(known)})",
                    )
        return value

    def seq(self, value: Any, line: int, where: str) -> Seq | None:
        if isinstance(value, Seq):
            return value
        self.bad(line, where, f"must be a list (lines starting with '- '), not {_kind(value)}")
        return None

    def text(self, value: Any, line: int, where: str) -> str | None:
        if isinstance(value, str) and value:
            return value
        self.bad(line, where, f"must be a text, not {_kind(value)}")
        return None

    def file(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.base, name)

    def attempt(self, line: int, where: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, its error reported at ``line`` instead of raised."""
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, OSError, KeyError) as exc:
            reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, OSError) and exc.filename:
                reason = f"{exc.filename}: {exc.strerror}"
            self.bad(line, where, reason)
        return None

    def options(self, fn: Callable[..., Any], value: Map, where: str, skip: int = 0) -> dict[str, Any] | None:
        """``value`` as keyword arguments of ``fn``: names checked against its signature, numbers
        with units converted where ``fn`` takes a number."""
        params = list(inspect.signature(fn).parameters.values())[skip:]
        named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        out: dict[str, Any] = {}
        ok = True
        for k, v in value.items():
            p = named.get(k)
            if p is None and not takes_any:
                self.bad(
                    value.line_of(k),
                    where,
                    f"unknown option {k!r}{_suggest(k, named)} (options: {', '.join(named)})",
                )
                ok = False
                continue
            out[k] = _number(v, str(p.annotation) if p is not None else "float | int")
        if not ok:
            return None
        missing = [
            p.name
            for p in params
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in out
        ]
        if missing:
            self.bad(value.line, where, f"{missing[0]!r} is required")
            return None
        return out

    def line_for(self, value: Map, reason: str) -> int:
        """The line of the option an error message names (of the item, for ``rule N``), else the
        mapping's."""
        for k in value:
            if isinstance(k, str) and re.search(rf"\b{re.escape(k)}\b", reason):
                return value.line_of(k)
        item = re.search(r"\brule (\d+)\b", reason)
        rules = value.get("rules")
        if item is not None and isinstance(rules, Seq):
            return rules.line_of(int(item.group(1)) - 1)
        return value.line

    def call(self, fn: Callable[..., Any], args: dict[str, Any], value: Map, where: str, *pos: Any) -> Any:
        try:
            return fn(*pos, **args)
        except (ValueError, TypeError, OSError) as exc:
            reason = (
                f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else str(exc)
            )
            self.bad(self.line_for(value, reason), where, reason)
        return None

    # -- sections ------------------------------------------------------------------------------
    def check_top(self) -> Map | None:
        if self.doc is None and not self.problems:
            self.bad(1, "", "the file is empty: it needs at least 'listeners' and 'routes'")
            return None
        if self.problems:
            return None
        doc = self.mapping(self.doc, 1, "the file", TOP)
        if doc is None:
            return None
        for required in ("listeners", "routes"):
            if required not in doc:
                self.bad(1, "the file", f"{required!r} is missing")
        return doc

    def read_upstreams(self, doc: Map) -> None:
        section = doc.get("upstreams")
        if section is None:
            return
        ups = self.mapping(section, doc.line_of("upstreams"), "upstreams")
        self.upstream_names = {str(n) for n in ups or ()}
        for name, spec in (ups or {}).items():
            where = f"upstreams.{name}"
            line = ups.line_of(name) if ups is not None else 1
            up = self.upstream(spec, line, where, str(name))
            if up is not None:
                self.upstreams[str(name)] = up

    def upstream(self, spec: Any, line: int, where: str, name: str) -> pw.Upstream | None:
        if isinstance(spec, Seq):  # a bare list of targets
            spec_map = Map(targets=spec)
            spec_map.line, spec_map.lines = line, {"targets": line}
            spec = spec_map
        m = self.mapping(spec, line, where)
        if m is None:
            return None
        args = Map((k, v) for k, v in m.items() if k not in ("targets", "dns", "health_check", "outlier"))
        args.line, args.lines = m.line, m.lines
        opts = self.options(pw.Upstream, args, where, skip=1)
        if opts is None:
            return None
        opts.setdefault("name", name)
        if "health_check" in m:
            hc = m["health_check"]
            hc_line = m.line_of("health_check")
            if isinstance(hc, str):
                opts["health_check"] = self.attempt(hc_line, f"{where}.health_check", pw.HealthCheck, hc)
            else:
                hm = self.mapping(hc, hc_line, f"{where}.health_check")
                hargs = self.options(pw.HealthCheck, hm, f"{where}.health_check") if hm is not None else None
                if hargs is None or hm is None:
                    return None
                opts["health_check"] = self.call(pw.HealthCheck, hargs, hm, f"{where}.health_check")
            if opts["health_check"] is None:
                return None
        if "outlier" in m:
            o = m["outlier"]
            if isinstance(o, bool):
                opts["outlier"] = o
            else:
                om = self.mapping(o, m.line_of("outlier"), f"{where}.outlier")
                oargs = self.options(pw.OutlierDetection, om, f"{where}.outlier") if om is not None else None
                if oargs is None or om is None:
                    return None
                opts["outlier"] = self.call(pw.OutlierDetection, oargs, om, f"{where}.outlier")
        for tls_file in ("ca", "certificate"):
            if isinstance(opts.get(tls_file), str):
                opts[tls_file] = self.file(opts[tls_file])
        has_targets, has_dns = "targets" in m, "dns" in m
        if has_targets == has_dns:
            self.bad(
                line,
                where,
                "give 'targets' (a list of addresses) or 'dns' (a name to resolve), one of them",
            )
            return None
        if has_dns:
            dm = self.mapping(
                m["dns"], m.line_of("dns"), f"{where}.dns", ("name", "port", "record", "interval", "servers")
            )
            if dm is None or not self.text(dm.get("name"), dm.line, f"{where}.dns.name"):
                return None
            dns = {k: _number(v, "float") for k, v in dm.items()}
            return self.call(pw.Upstream.from_dns, {**dns, **opts}, dm, where)  # type: ignore[no-any-return]
        targets = self.targets(m["targets"], m.line_of("targets"), f"{where}.targets")
        if targets is None:
            return None
        return self.call(pw.Upstream, opts, m, where, targets)  # type: ignore[no-any-return]

    def targets(self, value: Any, line: int, where: str) -> Any:
        if isinstance(value, str):
            return [value]
        items = self.seq(value, line, where)
        if items is None:
            return None
        if not items:
            self.bad(line, where, "the list is empty: give at least one address")
            return None
        out: list[Any] = []
        for i, t in enumerate(items):
            if isinstance(t, str):
                out.append(t)
                continue
            tm = self.mapping(t, items.line_of(i), f"{where}[{i}]", ("address", "weight"))
            if tm is None:
                return None
            if not self.text(tm.get("address"), tm.line, f"{where}[{i}].address"):
                return None
            out.append((tm["address"], tm.get("weight", 1)))
        return out

    def read_caches(self, doc: Map) -> None:
        """``caches``: named ``pw.HttpCache`` stores, shared by the ``cache`` policies naming them."""
        if "caches" not in doc:
            return
        section = self.mapping(doc["caches"], doc.line_of("caches"), "caches")
        self.cache_names = {str(n) for n in section or ()}
        for name, spec in (section or {}).items():
            where, line = f"caches.{name}", section.line_of(name) if section is not None else 1
            if spec is None:
                spec = Map()
                spec.line, spec.lines = line, {}
            m = self.mapping(spec, line, where)
            args = self.options(pw.HttpCache, m, where) if m is not None else None
            if args is None or m is None:
                continue
            args.setdefault("name", str(name))
            made = self.call(pw.HttpCache, args, m, where)
            if made is not None:
                self.caches[str(name)] = made

    def read_policies(self, doc: Map) -> None:
        section = doc.get("policies")
        if section is None:
            return
        pols = self.mapping(section, doc.line_of("policies"), "policies")
        for name in pols or {}:
            if name in POLICIES:
                line = pols.line_of(name) if pols is not None else 1
                self.bad(
                    line,
                    f"policies.{name}",
                    f"{name!r} is a kind of policy; give the named policy another name",
                )
                continue
        self.policy_names = {str(n) for n in pols or () if n not in POLICIES}
        for name, spec in (pols or {}).items():
            if name in POLICIES or pols is None:
                continue
            line = pols.line_of(name)
            items = spec if isinstance(spec, Seq) else _one(spec, line)
            steps = self.steps(items, line, f"policies.{name}", allow_names=False)
            if steps is not None:
                self.named[str(name)] = steps

    def steps(self, value: Any, line: int, where: str, allow_names: bool = True) -> list[Step] | None:
        """A list of policies: names of ``policies`` entries or ``{kind: options}`` items."""
        items = self.seq(value, line, where)
        if items is None:
            return None
        out: list[Step] = []
        ok = True
        for i, item in enumerate(items):
            at, iline = f"{where}[{i}]", items.line_of(i)
            if isinstance(item, str):
                if allow_names and item in self.named:
                    out += self.named[item]
                    continue
                if allow_names and item in self.policy_names:  # its own mistakes are reported
                    ok = False
                    continue
                if item in POLICIES:
                    step = self.step(item, None, iline, at)
                    ok = ok and step is not None
                    if step is not None:
                        out.append(step)
                    continue
                names = sorted(self.policy_names) if allow_names else []
                self.bad(
                    iline,
                    at,
                    f"{item!r} is not a named policy nor a kind of policy"
                    f"{_suggest(item, [*names, *POLICIES])}",
                )
                ok = False
                continue
            if not isinstance(item, Map) or len(item) != 1:
                self.bad(
                    iline,
                    at,
                    "a policy is a name, or one 'kind: options' pair such as 'rate_limit: {limit: 10}'",
                )
                ok = False
                continue
            ((kind, opts),) = item.items()
            if kind not in POLICIES:
                self.bad(
                    item.line_of(kind),
                    at,
                    f"unknown kind of policy {kind!r}{_suggest(kind, POLICIES)} "
                    f"(kinds: {', '.join(POLICIES)})",
                )
                ok = False
                continue
            step = self.step(kind, opts, item.line_of(kind), f"{at}.{kind}")
            ok = ok and step is not None
            if step is not None:
                out.append(step)
        return out if ok else None

    def step(self, kind: str, value: Any, line: int, where: str) -> Step | None:
        policy = POLICIES[kind]
        method = getattr(pw.Builder, policy.method, None)
        if method is None:
            self.bad(line, where, f"the {kind} policy is not available in this version of pipework")
            return None
        if value is None:
            value = Map()
            value.line, value.lines = line, {}
        m = self.mapping(value, line, where)
        if m is None:
            return None
        args = self.options(method, m, where, skip=1)
        if args is None:
            return None
        for k in policy.files:
            v = args.get(k)
            if isinstance(v, str) and not (
                k in ("allow", "deny", "trusted_proxies") and not _looks_like_file(v)
            ):
                args[k] = self.file(v)
            elif isinstance(v, Map) and k == "pages":
                args[k] = {code: self.file(p) if isinstance(p, str) else p for code, p in v.items()}
        if kind == "cache" and isinstance(args.get("cache"), str):
            name = args["cache"]
            if name not in self.caches:
                if name not in self.cache_names:
                    known = ", ".join(sorted(self.cache_names)) or "none"
                    self.bad(
                        m.line_of("cache"),
                        where,
                        f"no cache named {name!r}{_suggest(name, self.cache_names)} (caches: {known})",
                    )
                return None
            args["cache"] = self.caches[name]
        if (
            kind == "forward_auth"
            and isinstance(args.get("service"), str)
            and args["service"] in self.upstreams
        ):
            args["service"] = self.upstreams[args["service"]]
        # the method's own checks run now, on a throwaway pipeline, so that a bad value is reported
        # at its line rather than when the route's layout is made
        probe = (
            (lambda p: getattr(p, policy.method)(**args).to(lambda q: q))
            if policy.wraps
            else (lambda p: getattr(p, policy.method)(**args))
        )
        if self.call(pw.pipeline, {}, m, where, probe) is None:
            return None
        return policy, args

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
                self.bad(r.line_of("name"), where, f"name must be a text, not {_kind(name)}")
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
        extra = [k for k in ("timeouts", "retry", *(forward if kind == "redirect" else ())) if k in r]
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
                seconds = _number(v, "float")
                if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                    self.bad(
                        tm.line_of(k),
                        f"{where}.timeouts.{k}",
                        f"must be seconds, or a duration such as 500ms, 30s, 5m; not {_kind(v)}",
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
                    f"must be a number of retries, false, or a mapping of options, not {_kind(v)}",
                )
                return None
        return out

    def upstream_named(self, name: Any, line: int, where: str) -> pw.Upstream | None:
        if isinstance(name, str) and name in self.upstreams:
            return self.upstreams[name]
        if not self.problems.has(line) and name not in self.upstream_names:  # else its mistakes are reported
            known = ", ".join(sorted(self.upstream_names)) or "none"
            self.bad(
                line,
                where,
                f"no upstream named {name!r}{_suggest(str(name), self.upstream_names)} (upstreams: {known})",
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
        if not policies:
            return self.call(pw.to, {**forward, **proxy_opts}, r, where, up)
        layout = self.layout(policies, lambda p: p.proxy(up, **proxy_opts), line, where)
        if layout is None:
            return None
        return self.call(pw.to, forward, r, where, layout)

    def layout(self, policies: list[Step], final: LayoutFn, line: int, where: str) -> pw.Layout | None:
        return self.attempt(line, where, pw.pipeline, chain(policies, final))  # type: ignore[no-any-return]

    def respond(self, value: Any, line: int, where: str) -> LayoutFn | None:
        if isinstance(value, str):
            value = Map(body=value)
            value.line, value.lines = line, {"body": line}
        m = self.mapping(value, line, where, ("status", "body", "headers", "content_type"))
        if m is None:
            return None
        status, body = m.get("status", 200), m.get("body", "")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            self.bad(
                m.line_of("status"),
                f"{where}.status",
                f"must be a status from 200 to 599, not {_kind(status)}",
            )
            return None
        if not isinstance(body, str):
            self.bad(m.line_of("body"), f"{where}.body", f"must be a text, not {_kind(body)}")
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
            value = Map()
            value.line, value.lines = line, {}
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
            value = Map(root=value)
            value.line, value.lines = line, {"root": line}
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

    def read_listeners(self, doc: Map) -> list[tuple[Map, Any, str]]:
        items = (
            self.seq(doc["listeners"], doc.line_of("listeners"), "listeners") if "listeners" in doc else None
        )
        out: list[tuple[Map, Any, str]] = []
        names: set[str] = set()
        route_names = {name for _, _, name in self.routes}
        for i, spec in enumerate(items or ()):
            line = items.line_of(i) if items is not None else 1
            where = f"listeners[{i}]"
            if isinstance(spec, int | str) and not isinstance(spec, bool):
                spec_map = Map(address=spec)
                spec_map.line, spec_map.lines = line, {"address": line}
                spec = spec_map
            m = self.mapping(spec, line, where, LISTENER)
            if m is None:
                continue
            if "address" not in m:
                self.bad(m.line, where, "'address' is missing (a port, or host:port)")
                continue
            if m.get("access_log", "combined") not in ACCESS_LOGS:
                self.bad(
                    m.line_of("access_log"),
                    f"{where}.access_log",
                    f"must be one of {', '.join(ACCESS_LOGS)}, not {_kind(m['access_log'])}",
                )
            addr = m["address"]
            if self.attempt(m.line_of("address"), f"{where}.address", pw.parse_address, addr) is None:
                continue
            name = m.get("name", str(addr))
            names.add(str(name))
            for rname in m.get("routes") or ():
                if rname not in route_names:
                    self.bad(
                        m.line_of("routes"),
                        f"{where}.routes",
                        f"no route named {rname!r}{_suggest(str(rname), route_names)}",
                    )
            out.append((m, name, where))
        for r, _, rname in self.routes:
            for ln in r.get("listeners") or ():
                if str(ln) not in names:
                    self.bad(
                        r.line_of("listeners"),
                        f"route {rname}",
                        f"no listener named {ln!r}"
                        f"{_suggest(str(ln), names)} (listeners: {', '.join(sorted(names))})",
                    )
        return out

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

    def declare_listener(self, m: Map, name: str, where: str) -> None:
        policies: list[Step] = []
        if "policies" in m:
            found = self.steps(m["policies"], m.line_of("policies"), f"{where}.policies")
            if found is None:
                return
            policies = found
        router = self.router(str(name), m.get("routes"))
        limits = {
            k: _number(m[k], "int")
            for k in ("max_body", "max_header_bytes", "max_headers", "max_uri")
            if k in m
        }
        log = m.get("access_log", "combined")
        demux = {"access_log": None if log == "off" else log, **limits}
        if "header_timeout" in m:
            demux["header_timeout"] = _number(m["header_timeout"], "float")
        inner = chain(policies, lambda p: p.route(router))
        front: LayoutFn = lambda p: p.demux_http(**demux).to(inner)  # noqa: E731
        if "tls" in m:
            http = self.call(pw.pipeline, {}, m, where, front)
            tls = self.tls(m["tls"], m.line_of("tls"), f"{where}.tls", http) if http is not None else None
            if tls is None:
                return
            front = tls
        if "limit_connections" in m:
            limit = self.connection_limit(m["limit_connections"], m.line_of("limit_connections"), where)
            if limit is None:
                return
            served = front
            front = lambda p: served(p.limit_connections(**limit))  # noqa: E731
        layout = self.call(pw.pipeline, {}, m, where, front)
        if layout is None:
            return
        opts = {
            k: _number(m[k], "float") for k in ("idle_timeout", "read_timeout", "max_connections") if k in m
        }
        self.call(pw.listen, opts, m, where, m["address"], layout)

    def connection_limit(self, value: Any, line: int, where: str) -> dict[str, Any] | None:
        """``limit_connections``: a number of connections per client address, or the options of
        ``limit_connections`` (``per_ip``, ``status``)."""
        where = f"{where}.limit_connections"
        if isinstance(value, int) and not isinstance(value, bool):
            value = Map(per_ip=value)
            value.line, value.lines = line, {"per_ip": line}
        m = self.mapping(value, line, where)
        if m is None:
            return None
        args = self.options(pw.Builder.limit_connections, m, where, skip=1)  # type: ignore[attr-defined]
        if (
            args is None
            or self.call(pw.pipeline, {}, m, where, lambda p: p.limit_connections(**args)) is None
        ):
            return None
        return args

    def tls(self, value: Any, line: int, where: str, http: pw.Layout) -> LayoutFn | None:
        m = self.mapping(value, line, where)
        if m is None:
            return None
        rest = Map((k, v) for k, v in m.items() if k not in ("cert", "key", "passphrase"))
        rest.line, rest.lines = m.line, m.lines
        args = self.options(pw.Builder.accept_tls, rest, where, skip=1)  # type: ignore[attr-defined]
        if args is None:
            return None
        if "cert" in m or "key" in m:
            if not (
                self.text(m.get("cert"), m.line, f"{where}.cert")
                and self.text(m.get("key"), m.line, f"{where}.key")
            ):
                return None
            args["certificate"] = {"cert": self.file(m["cert"]), "key": self.file(m["key"])}
            if "passphrase" in m:
                args["certificate"]["passphrase"] = m["passphrase"]
        for i, c in enumerate(args.get("certificates") or ()):
            if not isinstance(c, Map):
                self.bad(line, f"{where}.certificates[{i}]", "must be a mapping with cert and key")
                return None
            args["certificates"][i] = {k: self.file(v) if k in ("cert", "key") else v for k, v in c.items()}
        if isinstance(args.get("client_ca"), str):
            args["client_ca"] = self.file(args["client_ca"])
        args.setdefault("alpn", ["http/1.1"])
        if self.call(pw.pipeline, {}, m, where, lambda p: p.accept_tls(**args).to(http)) is None:
            return None
        return lambda p: p.accept_tls(**args).to(http)

    def declare_admin(self, doc: Map) -> None:
        if "admin" not in doc:
            return
        m = self.mapping(doc["admin"], doc.line_of("admin"), "admin", ("address",))
        if m is None or "address" not in m:
            if m is not None:
                self.bad(m.line, "admin", "'address' is missing (e.g. 127.0.0.1:9901)")
            return
        admin: pw.Router = pw.Router()
        admin.add(pw.pipeline(lambda p: p.serve_metrics()), path="/metrics")
        purge = pw.pipeline(lambda p: p.serve_cache_admin())  # every cache of the process
        admin.add(purge, prefix="/cache/")
        admin.add(purge, methods=["PURGE"])
        layout = pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(admin)))
        self.call(pw.listen, {}, m, "admin", m["address"], layout)

    def run(self) -> None:
        doc = self.check_top()
        if doc is None:
            return
        self.read_upstreams(doc)
        self.read_caches(doc)
        self.read_policies(doc)
        self.read_routes(doc)
        listeners = self.read_listeners(doc)
        if self.problems:
            return
        for m, name, where in listeners:
            self.declare_listener(m, name, where)
        self.declare_admin(doc)


def _conditions(match: Map) -> dict[str, Any]:
    conds = {k: v for k, v in match.items() if k in MATCH}
    if isinstance(conds.get("methods"), Seq):
        conds["methods"] = list(conds["methods"])
    return conds


def _one(spec: Any, line: int) -> Seq:
    out = Seq([spec])
    out.line, out.lines = line, [line]
    return out


def _looks_like_file(value: str) -> bool:
    return not re.fullmatch(r"[0-9a-fA-F:.]+(/\d+)?", value)


def _number(value: Any, annotation: str) -> Any:
    """``value`` with a unit turned into seconds or bytes, when the option takes a number."""
    if not isinstance(value, str) or not ("float" in annotation or "int" in annotation):
        return value
    m = _DURATION.fullmatch(value.strip())
    if m is not None and "float" in annotation:
        return float(m.group(1)) * _SECONDS[m.group(2)]
    m = _SIZE.fullmatch(value.strip())
    if m is not None:
        return int(m.group(1)) * _BYTES[m.group(2).lower()]
    return value


def chain(steps: list[Step], final: LayoutFn) -> LayoutFn:
    """A layout function applying ``steps`` in order, then ``final``; a policy that wraps (its
    ``.to()``) takes what comes after it as its sub-pipeline."""

    def build(p: pw.Builder, i: int = 0) -> Any:
        while i < len(steps):
            policy, args = steps[i]
            p = getattr(p, policy.method)(**args)
            i += 1
            if policy.wraps:
                return p.to(lambda q, rest=i: build(q, rest))
        return final(p)

    return build


def load(path: str) -> Gateway:
    """Read and check the gateway file at ``path``, declaring its listeners into the program
    being loaded when it has no mistake; raise :class:`pipework.ScriptError` listing them."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise pw.ScriptError(f"{path}: cannot read the gateway file: {exc.strerror}", path) from None
    except UnicodeDecodeError:
        raise pw.ScriptError(f"{path}: not a text file (UTF-8)", path) from None
    gw = Gateway(path, text)
    gw.run()
    if gw.problems:
        lines = gw.problems.lines()
        first = gw.problems.found[0][0] if gw.problems.found else 0
        raise pw.ScriptError("\n".join(lines), path, first)
    return gw


def declare(path: str) -> None:
    """Declare what the gateway file at ``path`` says; call while a program is being loaded."""
    load(path)
