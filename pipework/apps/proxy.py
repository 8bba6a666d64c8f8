"""``pipework proxy``: a TCP (or UDP) forwarder to one or more targets, round-robin.

This is what a user would write as a script (see examples/tcp_proxy.py); the command line
only fills in the addresses.
"""

from __future__ import annotations

from collections.abc import Sequence

import pipework as pw


def declare(
    listen: str,
    targets: Sequence[str],
    *,
    udp: bool = False,
    bind: str | None = None,
    connect_timeout: float = 10.0,
    idle_timeout: float = 0.0,
) -> None:
    """Declare the listener; call while a program is being loaded."""
    for t in targets:
        if pw.parse_address(t, default_host="")[0] == "":
            raise ValueError(f"target {t!r} needs a host: write host:port")
    rr = pw.RoundRobin(list(targets))
    protocol = "udp" if udp else "tcp"
    forward = pw.pipeline(
        lambda p: p.connect(
            lambda: rr.next(),
            protocol=protocol,
            bind=bind,
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
        )
    )
    pw.listen(listen, forward, protocol=protocol)
