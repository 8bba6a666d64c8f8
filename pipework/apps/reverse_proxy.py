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
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Declare the listener; call while a program is being loaded."""
    upstream = pw.Upstream(
        targets,
        balancer=balancer,
        hash_key=hash_key,
        health_check=pw.HealthCheck(health_path, interval=health_interval) if health_path else None,
    )
    pw.listen(
        listen,
        pw.pipeline(
            lambda p: p.demux_http().to(
                lambda p: p.proxy(upstream, connect_timeout=connect_timeout, read_timeout=read_timeout)
            )
        ),
        idle_timeout=idle_timeout,
    )
