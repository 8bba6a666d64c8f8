"""Access logs and response counters for ``demux_http``.

Every response is counted by status (:func:`status_counts`), whatever the settings; with
``demux_http(access_log="combined")`` or ``"json"`` each one is also written to the
``pipework.access`` logger: the combined format of nginx and Apache
(``$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer"
"$http_user_agent"``) followed by the request time in seconds, or one JSON object a line.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict

from ..codec.http1 import RequestHead
from ..core import Context

log = logging.getLogger("pipework.access")

FORMATS = ("combined", "json")

#: responses written, by status: the three digits as bytes (cheap to take from an encoded head)
#: or the number, whichever the writer has at hand
COUNTS: defaultdict[bytes | int, int] = defaultdict(int)  # not a Counter: += costs a third less


def count(status: bytes | int) -> None:
    COUNTS[status] += 1


def status_counts() -> dict[int, int]:
    """Responses written by this process since it started, by status."""
    out: Counter[int] = Counter()
    for k, v in COUNTS.items():
        if isinstance(k, int) or k.isdigit():
            out[int(k)] += v
    return dict(sorted(out.items()))


_stamp: list[object] = [-1, "", ""]  # second, combined time, ISO time: made once a second


def _times() -> tuple[str, str]:
    now = int(time.time())
    if _stamp[0] != now:
        t = time.localtime(now)
        _stamp[:] = [now, time.strftime("%d/%b/%Y:%H:%M:%S %z", t), time.strftime("%Y-%m-%dT%H:%M:%S%z", t)]
    return _stamp[1], _stamp[2]  # type: ignore[return-value]


def _quote(v: bytes | None) -> str:
    if not v:
        return "-"
    return v.decode("latin-1").replace("\\", "\\\\").replace('"', '\\"')


def write(
    fmt: str, ctx: Context, head: RequestHead | None, status: int, body_bytes: int, seconds: float
) -> None:
    """Write one access log line in ``fmt`` ("combined" or "json")."""
    ib = ctx.inbound
    local, iso = _times()
    if fmt == "json":
        rec = {
            "time": iso,
            "remote": ib.remote_address,
            "method": head.method if head else None,
            "target": head.target if head else None,
            "version": head.version if head else None,
            "status": status,
            "bytes": body_bytes,
            "duration": round(seconds, 6),
            "referer": head.headers.get("referer") if head else None,
            "user_agent": head.headers.get("user-agent") if head else None,
            "request_id": head.headers.get("x-request-id") if head else None,
        }
        log.info("%s", json.dumps(rec, separators=(",", ":")))
        return
    request = f"{head.method} {head.target} HTTP/{head.version}" if head else "-"
    referer = _quote(head.header(b"referer")) if head else "-"
    agent = _quote(head.header(b"user-agent")) if head else "-"
    log.info(
        '%s - - [%s] "%s" %d %d "%s" "%s" %.3f',
        ib.remote_address,
        local,
        request.replace('"', '\\"'),
        status,
        body_bytes,
        referer,
        agent,
        seconds,
    )
