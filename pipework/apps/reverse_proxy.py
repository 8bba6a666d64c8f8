"""``pipework reverse-proxy``: HTTP requests forwarded to one or more servers, round-robin.

This is what a user would write as a script (see examples/reverse_proxy.py); the command line
only fills in the addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pipework as pw
from pipework.filters.http import DEFAULT_IDLE_TIMEOUT


def declare(
    listen: str,
    targets: Sequence[str],
    *,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Declare the listener; call while a program is being loaded."""
    if len(targets) == 1:
        target: Any = targets[0]
    else:
        rr = pw.RoundRobin(targets)
        target = lambda head: rr.next()  # noqa: E731
    pw.listen(
        listen,
        pw.pipeline(
            lambda p: p.demux_http().to(
                lambda p: p.proxy(target, connect_timeout=connect_timeout, read_timeout=read_timeout)
            )
        ),
        idle_timeout=idle_timeout,
    )
