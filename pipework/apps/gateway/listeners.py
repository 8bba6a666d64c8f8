"""The gateway file's ``listeners`` and ``admin``: each listener's layout (connection limit, TLS,
HTTP with its limits and access log, its policies, its router), declared with ``pw.listen``."""

from __future__ import annotations

from typing import Any

import pipework as pw

from .policies import LayoutFn, Step, chain
from .reader import kind_of, number, suggest
from .routes import Routes
from .source import Map

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

ACCESS_LOGS = ("combined", "json", "off")


class Listeners(Routes):
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
                spec = Map.at(line, address=spec)
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
                    f"must be one of {', '.join(ACCESS_LOGS)}, not {kind_of(m['access_log'])}",
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
                        f"no route named {rname!r}{suggest(str(rname), route_names)}",
                    )
            out.append((m, name, where))
        for r, _, rname in self.routes:
            for ln in r.get("listeners") or ():
                if str(ln) not in names:
                    self.bad(
                        r.line_of("listeners"),
                        f"route {rname}",
                        f"no listener named {ln!r}"
                        f"{suggest(str(ln), names)} (listeners: {', '.join(sorted(names))})",
                    )
        return out

    def declare_listener(self, m: Map, name: str, where: str) -> None:
        policies: list[Step] = []
        if "policies" in m:
            found = self.steps(m["policies"], m.line_of("policies"), f"{where}.policies")
            if found is None:
                return
            policies = found
        router = self.router(str(name), m.get("routes"))
        limits = {
            k: number(m[k], "int")
            for k in ("max_body", "max_header_bytes", "max_headers", "max_uri")
            if k in m
        }
        log = m.get("access_log", "combined")
        demux = {"access_log": None if log == "off" else log, **limits}
        if "header_timeout" in m:
            demux["header_timeout"] = number(m["header_timeout"], "float")
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
            k: number(m[k], "float") for k in ("idle_timeout", "read_timeout", "max_connections") if k in m
        }
        self.call(pw.listen, opts, m, where, m["address"], layout)

    def connection_limit(self, value: Any, line: int, where: str) -> dict[str, Any] | None:
        """``limit_connections``: a number of connections per client address, or the options of
        ``limit_connections`` (``per_ip``, ``status``)."""
        where = f"{where}.limit_connections"
        if isinstance(value, int) and not isinstance(value, bool):
            value = Map.at(line, per_ip=value)
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
        rest = m.without("cert", "key", "passphrase")
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
