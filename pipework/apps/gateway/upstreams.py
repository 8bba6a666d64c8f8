"""The gateway file's ``upstreams``: each a :class:`pipework.Upstream` made from its targets (or a
DNS name) and options, with its health check and outlier detection."""

from __future__ import annotations

from typing import Any

import pipework as pw

from .reader import Reader, number
from .source import Map, Seq


class Upstreams(Reader):
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
            spec = Map.at(line, targets=spec)
        m = self.mapping(spec, line, where)
        if m is None:
            return None
        args = m.without("targets", "dns", "health_check", "outlier")
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
            dns = {k: number(v, "float") for k, v in dm.items()}
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
