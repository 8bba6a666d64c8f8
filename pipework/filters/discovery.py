"""DNS service discovery: an upstream's targets kept in step with A, AAAA or SRV records.

Theory of operation: ``Upstream.from_dns(name, port)`` gives the upstream a
:class:`DnsDiscovery`. While the upstream's program serves, one task resolves the name with
:func:`pipework.net.resolver.resolve`, hands the addresses to ``Upstream.set_targets`` when they
changed (targets kept keep their connections and health; requests in flight to a removed one
finish), and sleeps for the answer's TTL (bounded by ``min_ttl`` and ``max_ttl``) or the fixed
``interval``. A failed lookup keeps the targets the upstream has and tries again after
``retry`` seconds; it is logged, once per change of state. For SRV, the records of the lowest
priority are used (RFC 2782), weighted by their weights, each target's addresses from the
additional section or looked up with A.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..core.checks import seconds
from ..net import join_address
from ..net.resolver import Answer, ResolveError, Server, SrvRecord, resolve
from ..net.tasks import Periodic

if TYPE_CHECKING:
    from .upstream import Upstream

log = logging.getLogger("pipework")

#: SRV weight 0 means "a very small chance" when others are not 0 (RFC 2782)
_ZERO_WEIGHT = 0.01


class DnsDiscovery(Periodic):
    """Keeps one upstream's targets equal to what DNS says (see the module docstring)."""

    def __init__(
        self,
        name: str,
        port: int | None,
        *,
        record: str = "A",
        interval: float | None = None,
        min_ttl: float = 1.0,
        max_ttl: float = 3600.0,
        retry: float = 5.0,
        servers: list[Server] | None = None,
        timeout: float = 2.0,
    ) -> None:
        record = record.upper()
        if record not in ("A", "AAAA", "SRV"):
            raise ValueError(f"Upstream.from_dns(): record {record!r} is not A, AAAA or SRV")
        if record != "SRV" and port is None:
            raise ValueError(f"Upstream.from_dns(): {name}: an {record} record needs a port")
        for what, value in (
            ("min_ttl", min_ttl),
            ("max_ttl", max_ttl),
            ("retry", retry),
            ("timeout", timeout),
        ):
            seconds(value, f"Upstream.from_dns(): {what}", zero=False)
        if interval is not None:
            seconds(interval, "Upstream.from_dns(): interval", zero=False)
        self.name = name
        self.port = port
        self.record = record
        self.interval = interval
        self.min_ttl = float(min_ttl)
        self.max_ttl = float(max(max_ttl, min_ttl))
        self.retry = float(retry)
        self.servers = servers
        self.timeout = float(timeout)
        self.upstream: Upstream | None = None
        self.task_name = f"dns {name}"
        self.failing = False
        self.lookups = 0

    def watch(self, upstream: Upstream) -> None:
        """Start keeping ``upstream``'s targets in step with DNS."""
        self.upstream = upstream
        self.start()

    async def refresh(self) -> float:
        """Look the name up once and apply the answer; the seconds until the next look-up."""
        ups = self.upstream
        assert ups is not None
        asked = f"{self.record} {self.name}"
        what = ups.name if ups.name == asked else f"{ups.name} ({asked})"
        self.lookups += 1
        try:
            targets, ttl = await self._lookup()
        except ResolveError as exc:
            if not self.failing:
                self.failing = True
                log.warning(
                    "upstream %s: cannot resolve %s: %s; keeping %d targets, retrying every %gs",
                    what, asked, exc, len(ups.endpoints), self.retry,
                )  # fmt: skip
            return self.retry
        if self.failing:
            self.failing = False
            log.info("upstream %s resolves again", what)
        if not targets:
            log.warning("upstream %s: no records; keeping the targets it had", what)
        elif sorted(targets) != sorted((ep.name, ep.configured_weight) for ep in ups.endpoints.values()):
            log.info("upstream %s -> %s", what, ", ".join(sorted(n for n, _ in targets)))
            ups.set_targets(dict(targets))
        if self.interval is not None:
            return self.interval
        return min(self.max_ttl, max(self.min_ttl, float(ttl)))

    async def _lookup(self) -> tuple[list[tuple[str, float]], int]:
        if self.record != "SRV":
            ans: Answer[Any] = await resolve(
                self.name, self.record, servers=self.servers, timeout=self.timeout
            )
            return [(join_address(a, self.port or 0), 1.0) for a in ans.records], ans.ttl
        srv = await resolve(self.name, "SRV", servers=self.servers, timeout=self.timeout)
        records: list[SrvRecord] = srv.records
        if not records:
            return [], srv.ttl
        best = min(r.priority for r in records)
        chosen = [r for r in records if r.priority == best]
        ttl = srv.ttl
        any_weight = any(r.weight for r in chosen)
        out: list[tuple[str, float]] = []
        for r in chosen:
            addresses = srv.additional.get(r.target)
            if not addresses:
                a = await resolve(r.target, "A", servers=self.servers, timeout=self.timeout)
                addresses, ttl = a.records, min(ttl, a.ttl)
            weight = float(r.weight) if r.weight else (_ZERO_WEIGHT if any_weight else 1.0)
            out += [(join_address(addr, r.port), weight) for addr in addresses]
        return out, ttl
