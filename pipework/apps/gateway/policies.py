"""The gateway file's policies: the kinds of policy (each a builder method of the script API),
named policies and caches, and the chain that applies a list of them in front of what serves."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pipework as pw

from .reader import Reader, one_item, suggest
from .source import Map, Seq


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


def _looks_like_file(value: str) -> bool:
    return not re.fullmatch(r"[0-9a-fA-F:.]+(/\d+)?", value)


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


class Policies(Reader):
    def read_caches(self, doc: Map) -> None:
        """``caches``: named ``pw.HttpCache`` stores, shared by the ``cache`` policies naming them."""
        if "caches" not in doc:
            return
        section = self.mapping(doc["caches"], doc.line_of("caches"), "caches")
        self.cache_names = {str(n) for n in section or ()}
        for name, spec in (section or {}).items():
            where, line = f"caches.{name}", section.line_of(name) if section is not None else 1
            if spec is None:
                spec = Map.at(line)
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
            items = spec if isinstance(spec, Seq) else one_item(spec, line)
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
                    f"{suggest(item, [*names, *POLICIES])}",
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
                    f"unknown kind of policy {kind!r}{suggest(kind, POLICIES)} "
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
            value = Map.at(line)
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
                        f"no cache named {name!r}{suggest(name, self.cache_names)} (caches: {known})",
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
