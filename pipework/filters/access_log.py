"""Access logs and response counters for ``demux_http``.

Every response is counted by status (:func:`status_counts`), whatever the settings; with
``demux_http(access_log="combined")`` or ``"json"`` each one is also written to the
``pipework.access`` logger, as docs/observability.md shows with examples:

- ``combined``: the combined format of nginx and Apache, then the request time and the
  request's id, route, upstream and trace — nginx's ``log_format``::

      '$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
      '"$http_user_agent" $request_time "$request_id" "$route" "$upstream_addr" '
      '$upstream_connect_time $upstream_header_time $upstream_response_time "$trace_id"'

  with ``-`` for what a request does not have (no upstream, no ``X-Request-Id``, no
  ``traceparent``). Times are seconds with millisecond resolution.
- ``json``: one object a line with the same facts under names (numbers in seconds, null when
  absent), plus the request body bytes.

The upstream facts come from the proxy's exchange (:class:`~pipework.filters.proxy.Exchange`),
for its last try: ``upstream_addr`` lists every target tried, as nginx does
(``"10.0.0.1:80, 10.0.0.2:80"``); the connect time is 0 on a kept-alive connection. The request
id is the request's ``X-Request-Id`` as it went on (``request_id()`` makes one when the client
sent none), the trace id the one of its ``traceparent`` (W3C Trace Context), both read from the
request head when the line is written, so the log says what the upstream was sent.

Where the lines go: to the ``pipework.access`` logger (on stderr with the other logs, with their
time and level in front), or, after :func:`to_file` (``--access-log FILE``), to a file of their
own, as nginx's ``access_log``: each line is only formatted and put in a buffer, and the buffer
is written with one ``write`` when the event loop has run what was ready, or sooner once it
holds 64 KiB (nginx's ``buffer=``), so a busy worker makes one system call for many requests.
The file is opened for appending (``O_APPEND``): workers share it line by line. To rotate it,
move it away and send SIGUSR1 (nginx's ``reopen``; to the supervisor with ``--workers``, which
passes it on): each process writes what it has buffered to the old file and opens the path anew
(logrotate's ``postrotate``); copying and truncating (``copytruncate``) needs no signal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, defaultdict
from typing import Any

import orjson

from ..codec.http1 import RequestHead
from ..core import Context
from ..core.runtime import REOPEN

log = logging.getLogger("pipework.access")

#: bytes buffered before they are written whatever else is ready
BUFFER = 64 * 1024


class _FileSink:
    """Access log lines buffered for one write per event-loop turn (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = self._open()
        self.lines: list[str] = []
        self.size = 0
        self.scheduled = False

    def emit(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line)
        if self.size >= BUFFER:
            self.flush()
        elif not self.scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self.scheduled = True
            except RuntimeError:  # no loop running (a test, a tool): at once
                self.flush()

    def flush(self) -> None:
        self.scheduled = False
        if not self.lines:
            return
        data = "".join(self.lines).encode("utf-8", "backslashreplace")
        self.lines.clear()
        self.size = 0
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError as exc:
            logging.getLogger("pipework").error("access log %s: %s; lines lost", self.path, exc.strerror)

    def reopen(self) -> None:
        """Flush to the file open now, then open ``path`` again (made if it was moved away)."""
        self.flush()
        fd = self._open()
        os.close(self.fd)
        self.fd = fd

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


_sink: _FileSink | None = None


def to_file(path: str | None) -> None:
    """Write access log lines to the file at ``path`` (made if missing, appended to), or back to
    the ``pipework.access`` logger with None. Raises OSError when the file cannot be opened."""
    global _sink
    new = _FileSink(path) if path else None
    old, _sink = _sink, new
    if old is not None:
        old.flush()
        os.close(old.fd)


def reopen() -> None:
    """Open the access log file again (SIGUSR1 calls this); nothing when lines go to the logger."""
    if _sink is not None:
        _sink.reopen()


REOPEN.append(reopen)


def _emit(line: str) -> None:
    """Write ``line`` (ending in a newline) to the file, or to the logger without its newline."""
    sink = _sink
    if sink is not None:
        sink.emit(line)
    else:
        log.info("%s", line[:-1])


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


def _quote(v: bytes | str | None) -> str:
    """``v`` for a quoted field of the combined line: ``-`` when empty, ``"`` and ``\\`` escaped."""
    if not v:
        return "-"
    s = v.decode("latin-1") if isinstance(v, bytes) else v
    if '"' in s or "\\" in s:  # rare: test before paying for the replacements
        return s.replace("\\", "\\\\").replace('"', '\\"')
    return s


def upstream_facts(ex: Any) -> tuple[str | None, str | None, float | None, float | None, float | None]:
    """(upstream name, addresses tried, connect, header and response seconds) of a proxy
    exchange, None for what it does not have."""
    if ex is None or ex.ups is None:
        return None, None, None, None, None
    ep = ex.ep
    if ex.tried:  # retried: every target, as nginx lists them
        addr = ", ".join(e.name for e in (*ex.tried, *((ep,) if ep is not None else ()))) or None
    else:
        addr = ep.name if ep is not None else None
    if not ex.sent_at:  # never sent (no target, or it waited for a connection in vain)
        return ex.ups.name, addr, None, None, None
    header = ex.head_at - ex.sent_at if ex.head_at else None
    end = ex.last_read if ex.done and ex.responded else time.monotonic()
    connect = ex.connect_time if ex.connect_time >= 0 else None
    return ex.ups.name, addr, connect, header, end - ex.sent_at


def _trace_id(tp: bytes | None) -> str | None:
    # version "-" trace-id (32 hex) "-" parent-id "-" flags
    if tp is None or len(tp) < 55 or tp[2:3] != b"-":
        return None
    return tp[3:35].decode("latin-1")


#: the request fields a line shows, by name length then name: one pass over the fields
_LOGGED = {7: b"referer", 10: b"user-agent", 11: b"traceparent", 12: b"x-request-id"}


def _logged_fields(head: RequestHead | None) -> dict[bytes, bytes]:
    """The request's Referer, User-Agent, traceparent and X-Request-Id (the first of each)."""
    found: dict[bytes, bytes] = {}
    if head is None:
        return found
    get = _LOGGED.get
    for k, v in head.raw_headers:
        name = get(len(k))
        if name is not None and name not in found and k.lower() == name:
            found[name] = v
    return found


def _text(v: bytes | None) -> str | None:
    return None if v is None else v.decode("latin-1")


def write(
    fmt: str,
    ctx: Context,
    head: RequestHead | None,
    status: int,
    body_bytes: int,
    seconds: float,
    route: str | None = None,
    exchange: Any = None,
    received: int = 0,
) -> None:
    """Write one access log line in ``fmt`` ("combined" or "json"): ``body_bytes`` of response
    body sent, ``seconds`` from the request head to the response's end, the ``route``'s name,
    the proxy ``exchange`` that answered (if one did), ``received`` request body bytes."""
    ib = ctx.inbound
    local, iso = _times()
    ups, addr, connect, header, response = upstream_facts(exchange)
    fields = _logged_fields(head)
    rid = fields.get(b"x-request-id")
    trace = _trace_id(fields.get(b"traceparent"))
    if fmt == "json":
        rec = {
            "time": iso,
            "remote": ib.remote_address,
            "method": head.method if head else None,
            "target": head.original_target if head else None,
            "version": head.version if head else None,
            "status": status,
            "bytes": body_bytes,
            "request_bytes": received,
            "duration": round(seconds, 6),
            "referer": _text(fields.get(b"referer")),
            "user_agent": _text(fields.get(b"user-agent")),
            "request_id": _text(rid),
            "trace_id": trace,
            "route": route,
            "upstream": ups,
            "upstream_addr": addr,
            "upstream_connect_time": None if connect is None else round(connect, 6),
            "upstream_header_time": None if header is None else round(header, 6),
            "upstream_response_time": None if response is None else round(response, 6),
        }
        _emit(orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE).decode())
        return
    request = _quote(f"{head.method} {head.original_target} HTTP/{head.version}") if head else "-"
    _emit(
        f'{ib.remote_address} - - [{local}] "{request}" {status} {body_bytes} '
        f'"{_quote(fields.get(b"referer"))}" "{_quote(fields.get(b"user-agent"))}" {seconds:.3f} '
        f'"{_quote(rid)}" "{_quote(route)}" "{addr or "-"}" '
        f"{'-' if connect is None else f'{connect:.3f}'} {'-' if header is None else f'{header:.3f}'} "
        f'{"-" if response is None else f"{response:.3f}"} "{trace or "-"}"\n'
    )
