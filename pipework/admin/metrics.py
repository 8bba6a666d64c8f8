"""Prometheus metrics of this process, in the text exposition format (version 0.0.4).

Theory of operation: nothing is counted twice. Each family reads the numbers the engine keeps
anyway when a scrape asks for them: responses by status (the access-log counters), open client
connections (the worker's sessions), every live upstream's targets with their health and load,
retries and overflows, TLS certificate expiry and handshake failures, rate-limit refusals. So a
scrape costs a little, and serving costs nothing more. ``p.serve_metrics()`` answers a scrape:
``pw.listen(9100, lambda p: p.demux_http().to(lambda p: p.serve_metrics()))``.

Each worker answers for itself: with ``--workers N`` a scrape reaches one of them. Combining
them across workers is left to the scraper for now (label each worker's port).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..codec.http1 import Request, Response
from ..core import Builder, register, runtime
from ..filters import gate, tls, upstream
from ..filters.access_log import status_counts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _family(name: str, kind: str, doc: str, samples: Iterable[tuple[dict[str, object], float]]) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {value:g}" for labels, value in samples]
    return lines


def exposition() -> str:
    """Every metric of this process, as Prometheus reads them."""
    out: list[str] = []
    out += _family(
        "pipework_http_responses_total",
        "counter",
        "HTTP responses written, by status",
        (({"code": code}, n) for code, n in status_counts().items()),
    )
    worker = runtime.current
    out += _family(
        "pipework_connections_active",
        "gauge",
        "client connections open now",
        [({}, len(worker.sessions) if worker is not None else 0)],
    )
    ups = sorted(upstream.LIVE, key=lambda u: u.name)
    out += _family(
        "pipework_upstream_target_healthy",
        "gauge",
        "1 when the target may take requests (not down by checks, not ejected)",
        (({"upstream": u.name, "target": t["name"]}, int(t["healthy"])) for u in ups for t in u.targets),
    )
    out += _family(
        "pipework_upstream_target_active",
        "gauge",
        "requests in flight to the target",
        (({"upstream": u.name, "target": t["name"]}, t["active"]) for u in ups for t in u.targets),
    )
    out += _family(
        "pipework_upstream_target_connections",
        "gauge",
        "open connections to the target, idle or lent",
        (({"upstream": u.name, "target": t["name"]}, t["connections"]) for u in ups for t in u.targets),
    )
    out += _family(
        "pipework_upstream_retries_total",
        "counter",
        "tries sent again",
        (({"upstream": u.name}, u.retries) for u in ups),
    )
    out += _family(
        "pipework_upstream_overflows_total",
        "counter",
        "requests refused with 503 at the upstream's limits",
        (({"upstream": u.name}, u.overflows) for u in ups),
    )
    certs = tls.certificates()
    out += _family(
        "pipework_tls_certificate_not_after_seconds",
        "gauge",
        "when the certificate expires (Unix time)",
        (({"names": ",".join(c["names"])}, c["not_after"].timestamp()) for c in certs),
    )
    out += _family(
        "pipework_tls_handshake_failures_total",
        "counter",
        "failed TLS handshakes, by reason",
        (({"reason": r}, n) for r, n in sorted(tls.handshake_failures().items())),
    )
    out += _family(
        "pipework_rate_limit_rejections_total",
        "counter",
        "requests refused with 429, by rate_limit step",
        (({"limit": name}, n) for name, n in sorted(gate.REJECTED.items())),
    )
    return "\n".join(out) + "\n"


def _scrape(req: Request) -> Response:
    return Response(exposition(), content_type=CONTENT_TYPE)


def serve_metrics(self: Builder) -> Builder:
    """Answer every request with the metrics of this process (Prometheus text format); see
    :mod:`pipework.admin.metrics`. Use it under ``demux_http``, on an admin port."""
    return self.serve_http(_scrape)  # type: ignore[no-any-return]


register(serve_metrics=serve_metrics)
