"""Prometheus metrics of this process (or of its whole ``--workers`` group), in the text
exposition format (version 0.0.4).

Theory of operation: nothing is counted twice. Each family reads the numbers the engine keeps
anyway when a scrape asks for them: responses by status (the access-log counters), requests by
listener, route, upstream and status class with their latency and body bytes
(:mod:`pipework.filters.request_stats`, fed by ``demux_http``), open client connections (the
worker's sessions), every live upstream's targets with their health and load and its response
times, retries and overflows, TLS certificate expiry and handshake failures, rate-limit
refusals. So a scrape costs a little, and serving costs a few list increments per request.
``p.serve_metrics()`` answers a scrape:
``pw.listen(9100, lambda p: p.demux_http().to(lambda p: p.serve_metrics()))``.

:func:`collect` gives this process's numbers as :class:`Family` values, each with the rule that
combines it across workers (``SUM``, ``LIVE_SUM``, ``LIVE_MIN``, ``LIVE_MAX``); with
``--workers N`` :mod:`pipework.admin.combine` keeps each worker's numbers in the group's
directory and a scrape reaching any worker reports them all (docs/observability.md).
"""

from __future__ import annotations

from ..codec.http1 import Request, Response
from ..core import Builder, register, runtime
from ..filters import cache, conn_limit, gate, mirror, request_stats, tls, upstream
from ..filters.access_log import status_counts
from . import combine
from .families import LIVE_MAX, LIVE_MIN, LIVE_SUM, SUM, Family, render

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the status class of each first digit (request_stats.Series.classes)
_CLASSES = ("other", "1xx", "2xx", "3xx", "4xx", "5xx", "other", "other", "other", "other")


def _requests() -> list[Family]:
    reqs = Family(
        "pipework_http_requests_total",
        "counter",
        "HTTP requests answered, by listener (local port), route, upstream and status class",
        SUM,
    )
    hist = Family(
        "pipework_http_request_duration_seconds",
        "histogram",
        "time from the request head to the response's last byte, by listener and route",
        SUM,
    )
    rx = Family(
        "pipework_http_request_body_bytes_total",
        "counter",
        "request body bytes received, by listener and route",
        SUM,
    )
    tx = Family(
        "pipework_http_response_bytes_total",
        "counter",
        "response bytes sent, head and body (not chunk framing), by listener and route",
        SUM,
    )
    by_route: dict[tuple[str, str], list[float]] = {}  # buckets..., seconds, received, sent
    width = len(request_stats.BOUNDS) + 1
    for (listener, route, ups), s in sorted(request_stats.SERIES.items()):
        classes: dict[str, int] = {}
        for i, n in enumerate(s.classes()):
            if n:
                classes[_CLASSES[i]] = classes.get(_CLASSES[i], 0) + n
        for cls, n in classes.items():
            reqs.add(n, listener=listener, route=route, upstream=ups, **{"class": cls})
        acc = by_route.setdefault((listener, route), [0] * (width + 3))
        for i, n in enumerate(s.buckets()):
            acc[i] += n
        acc[width] += s.seconds
        acc[width + 1] += s.received
        acc[width + 2] += s.sent
    for (listener, route), acc in by_route.items():
        hist.histogram([int(n) for n in acc[:width]], acc[width], listener=listener, route=route)
        rx.add(int(acc[width + 1]), listener=listener, route=route)
        tx.add(int(acc[width + 2]), listener=listener, route=route)
    return [reqs, hist, rx, tx]


def _upstreams() -> list[Family]:
    ups = sorted(upstream.LIVE, key=lambda u: u.name)
    healthy = Family(
        "pipework_upstream_target_healthy",
        "gauge",
        "1 when the target may take requests (not down by checks, not ejected); with workers, in every one",
        LIVE_MIN,
    )
    active = Family("pipework_upstream_target_active", "gauge", "requests in flight to the target", LIVE_SUM)
    conns = Family(
        "pipework_upstream_target_connections",
        "gauge",
        "open connections to the target, idle or lent",
        LIVE_SUM,
    )
    for u in ups:
        for t in u.targets:
            healthy.add(int(t["healthy"]), upstream=u.name, target=t["name"])
            active.add(t["active"], upstream=u.name, target=t["name"])
            conns.add(t["connections"], upstream=u.name, target=t["name"])
    retries = Family("pipework_upstream_retries_total", "counter", "tries sent again", SUM)
    overflows = Family(
        "pipework_upstream_overflows_total",
        "counter",
        "requests refused with 503 at the upstream's limits",
        SUM,
    )
    for u in ups:
        retries.add(u.retries, upstream=u.name)
        overflows.add(u.overflows, upstream=u.name)
    head = Family(
        "pipework_upstream_header_seconds",
        "histogram",
        "time from the request sent to the upstream's response head (the last try)",
        SUM,
    )
    whole = Family(
        "pipework_upstream_response_seconds",
        "histogram",
        "time from the request sent to the end of the upstream's response (the last try)",
        SUM,
    )
    for name, timing in sorted(request_stats.UPSTREAMS.items()):
        head.histogram(timing.head, timing.head_sum, upstream=name)
        whole.histogram(timing.whole, timing.whole_sum, upstream=name)
    return [healthy, active, conns, retries, overflows, head, whole]


def collect() -> list[Family]:
    """Every metric of this process."""
    responses = Family("pipework_http_responses_total", "counter", "HTTP responses written, by status", SUM)
    for code, n in status_counts().items():
        responses.add(n, code=code)
    worker = runtime.current
    active = Family("pipework_connections_active", "gauge", "client connections open now", LIVE_SUM)
    active.add(len(worker.sessions) if worker is not None else 0)
    certs = Family(
        "pipework_tls_certificate_not_after_seconds",
        "gauge",
        "when the certificate expires (Unix time)",
        LIVE_MAX,
    )
    for c in tls.certificates():
        certs.add(c["not_after"].timestamp(), names=",".join(c["names"]))
    failures = _counter(
        "pipework_tls_handshake_failures_total",
        "failed TLS handshakes, by reason",
        "reason",
        tls.handshake_failures(),
    )
    rejected = _counter(
        "pipework_rate_limit_rejections_total",
        "requests refused with 429, by rate_limit step",
        "limit",
        gate.REJECTED,
    )
    refused = _counter(
        "pipework_connections_refused_total",
        "connections refused by limit_connections (per client address), by step",
        "limit",
        conn_limit.REFUSED,
    )
    mirrored = Family(
        "pipework_mirror_requests_total",
        "counter",
        "requests copied by mirror steps, by step and outcome (completed, failed, dropped, cut)",
        SUM,
    )
    for name, counts in sorted(mirror.COUNTS.items()):
        for outcome, n in counts.items():
            mirrored.add(n, mirror=name, outcome=outcome)
    return [
        responses,
        *_requests(),
        active,
        *_upstreams(),
        certs,
        failures,
        rejected,
        refused,
        mirrored,
        *_caches(),
    ]


def _counter(name: str, doc: str, label: str, counts: dict[str, int]) -> Family:
    """A counter family with a sample per key of ``counts``, the key under ``label``."""
    fam = Family(name, "counter", doc, SUM)
    for key, n in sorted(counts.items()):
        fam.add(n, **{label: key})
    return fam


#: what each cache counts, as (the statistics' key, which names the family, its help)
_CACHE_COUNTERS = (
    ("hits", "requests answered from the cache while fresh"),
    ("stale", "requests answered with a stale response (stale-while-revalidate, stale-if-error)"),
    ("misses", "requests the cache had nothing for"),
    ("revalidated", "stale responses the upstream confirmed (304)"),
    ("bypasses", "requests the cache let through untouched"),
    ("coalesced", "requests that waited for another's fetch of the same response"),
    ("stores", "responses stored"),
    ("evictions", "stored responses dropped for room"),
    ("purged", "stored responses dropped by a purge"),
)


def _caches() -> list[Family]:
    stats = [(c.name, c.statistics()) for c in sorted(cache.LIVE, key=lambda c: c.name)]
    out = []
    for key, doc in _CACHE_COUNTERS:
        fam = Family(f"pipework_cache_{key}_total", "counter", doc, SUM)
        for name, s in stats:
            fam.add(s[key], cache=name)
        out.append(fam)
    size = Family("pipework_cache_bytes", "gauge", "bytes the stored responses take", LIVE_SUM)
    entries = Family("pipework_cache_entries", "gauge", "responses stored", LIVE_SUM)
    for name, s in stats:
        size.add(s["bytes"], cache=name)
        entries.add(s["entries"], cache=name)
    return [*out, size, entries]


def exposition() -> str:
    """Every metric of this process, or of its group when it serves with others (combined as
    each family's rule says), as Prometheus reads them."""
    families = collect()
    merged = combine.merge(families)
    if merged is None:  # serving alone
        workers = 1
    else:
        families, workers = merged
    count = Family(
        "pipework_workers",
        "gauge",
        "workers whose numbers this scrape holds (alive now)",
        LIVE_SUM,
    )
    count.add(workers)
    return render([*families, count])


def _scrape(req: Request) -> Response:
    return Response(exposition(), content_type=CONTENT_TYPE)


def serve_metrics(self: Builder, *, refresh: float = 1.0) -> Builder:
    """Answer every request with the metrics (Prometheus text format); see
    :mod:`pipework.admin.metrics`. Use it under ``demux_http``, on an admin port. With
    ``--workers N`` every worker writes its numbers to the group's directory each ``refresh``
    seconds, and a scrape reaching any worker reports the sum of all (docs/observability.md)."""
    if isinstance(refresh, bool) or not isinstance(refresh, int | float) or not 0.05 <= refresh <= 60:
        raise ValueError(f"serve_metrics(): refresh must be seconds from 0.05 to 60, not {refresh!r}")
    request_stats.enable()
    combine.share(collect, float(refresh))
    return self.serve_http(_scrape)  # type: ignore[no-any-return]


register(serve_metrics=serve_metrics)
