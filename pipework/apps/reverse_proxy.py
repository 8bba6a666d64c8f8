"""``pipework reverse-proxy``: HTTP requests balanced over one or more servers.

This is what a user would write as a script (see examples/reverse_proxy.py); the command line
only fills in the addresses and the balancing options.
"""

from __future__ import annotations

from collections.abc import Sequence

import pipework as pw
from pipework.filters.http import DEFAULT_IDLE_TIMEOUT


def declare(
    listen: str,
    targets: Sequence[str],
    *,
    balancer: str = "round_robin",
    hash_key: str | None = None,
    health_path: str | None = None,
    health_interval: float = 5.0,
    tls: tuple[str, str, str | None] | None = None,
    hsts: float | None = None,
    redirect_http: str | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Declare the listeners; call while a program is being loaded. With ``tls`` (a certificate,
    its key and their passphrase) the listener speaks HTTPS (the backends get X-Forwarded-Proto:
    https), ``hsts`` adds Strict-Transport-Security, ``redirect_http`` is a second, plain HTTP
    listener redirecting every request to https."""
    if (hsts is not None or redirect_http) and tls is None:
        raise ValueError("--hsts and --redirect-http need --tls-cert and --tls-key")
    upstream = pw.Upstream(
        targets,
        balancer=balancer,
        hash_key=hash_key,
        health_check=pw.HealthCheck(health_path, interval=health_interval) if health_path else None,
    )
    timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
    if hsts is None:
        forward = lambda p: p.proxy(upstream, **timeouts)  # noqa: E731
    else:
        routes = pw.Router()
        hsts_field = {"set": {"strict-transport-security": f"max-age={hsts:.0f}"}}
        always = pw.to(upstream, response_headers=hsts_field, **timeouts)
        forward = lambda p: p.route(routes, default=always)  # noqa: E731
    http = pw.pipeline(lambda p: p.demux_http().to(forward))
    if tls is None:
        pw.listen(listen, http, idle_timeout=idle_timeout)
        return
    pw.listen(
        listen,
        pw.pipeline(lambda p: p.accept_tls(tls, alpn=["http/1.1"]).to(http)),
        idle_timeout=idle_timeout,
    )
    if redirect_http:
        port = pw.parse_address(listen)[1]
        location = "https://{hostname}" + ("" if port == 443 else f":{port}") + "{uri}"
        to_https = pw.Router()
        moved = pw.redirect(location, 301)
        pw.listen(
            redirect_http,
            pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(to_https, default=moved))),
            idle_timeout=idle_timeout,
        )
