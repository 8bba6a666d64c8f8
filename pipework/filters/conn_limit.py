"""``limit_connections``: at most so many open connections per client address, as nginx's
``limit_conn``.

Theory of operation: the step goes first in a listener's layout. When the pipeline starts (the
connection was just accepted) it counts the connection against its client's address; over the
limit, the connection is closed at once — or, for HTTP, answered ``status`` (503 or 429, as
nginx's ``limit_conn_status``) with ``Connection: close`` — before a byte of it is read.
Otherwise the stream passes untouched, bytes handed straight to the next step's own byte entry
when it has one (``demux_http``), and the count drops when the connection closes.

Counting: in each worker, a dict of open connections per address (an address leaves it when its
count is 0, so its size is bounded by the open connections). Under ``--workers N`` the limit
holds for the whole group: each worker keeps its counts in a
:class:`~pipework.policy.shared_table.SharedTable` of its own in the group's directory (only it
writes there) and adds the other workers' counts, read from theirs, when a connection comes —
N small lookups per accepted connection, none per read. A worker that is restarted clears its
own table first, so the connections of a crashed worker are not counted for ever. Two
connections accepted at the same instant by two workers may both see room for one, so the
limit can be passed by at most N-1 connections for a moment (nginx locks its shared zone for
the check; a lock around the whole sum here would serialise the group's accepts for that).
Steps with the same settings (or the same ``name``) share one count, which survives a reload.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

from ..core import Builder, Data, Event, Filter, StreamEnd, register
from ..core import group as process_group
from ..policy import shared_table
from ..policy.shared_table import SharedTable, open_table

log = logging.getLogger("pipework")

#: addresses a worker's group table holds: one slot per address with connections open
GROUP_TABLE_KEYS = 65536
#: connections refused by each limit_connections step, for the metrics
REFUSED: dict[str, int] = {}

_REASONS = {429: "Too Many Requests", 503: "Service Unavailable"}


class _Counts:
    """The open connections per address of one step: this worker's, and the group's."""

    __slots__ = ("_gen", "local", "mine", "name", "others", "per_ip", "status", "use_group")

    def __init__(self, name: str, per_ip: int, status: int | None, use_group: bool) -> None:
        self.name = name
        self.per_ip = per_ip
        self.status = status
        self.use_group = use_group
        self.local: dict[str, int] = {}
        self._gen = -1
        self.mine: SharedTable | None = None
        self.others: list[SharedTable] = []

    def _tables(self) -> None:
        """On first use in a process: this worker's table (cleared) and the others'."""
        self._gen = shared_table.generation
        self.mine, self.others = None, []
        directory = process_group.directory()
        if directory is None or not self.use_group:
            return
        me = process_group.worker_index()
        for i in range(1, process_group.workers() + 1):
            t = open_table(os.path.join(directory, f"conns-{self.name}-w{i}"), GROUP_TABLE_KEYS)
            if i == me:
                t.clear()
                self.mine = t
            else:
                self.others.append(t)

    def acquire(self, ip: str) -> bool:
        if self._gen != shared_table.generation:
            self._tables()
        n = self.local.get(ip, 0)
        total = n + sum(_count(t, ip) for t in self.others)
        if total >= self.per_ip:
            return False
        self.local[ip] = n + 1
        if self.mine is not None:
            self.mine.update(ip.encode(), 0.0, math.inf, lambda _: ((n + 1.0, 0.0, 0.0, 0.0), None))
        return True

    def release(self, ip: str) -> None:
        n = self.local.get(ip, 0) - 1
        if n > 0:
            self.local[ip] = n
        else:
            self.local.pop(ip, None)
        if self.mine is not None:
            left = max(n, 0)
            self.mine.update(ip.encode(), 0.0, math.inf, lambda _: ((float(left), 0.0, 0.0, 0.0), None))


def _count(table: SharedTable, ip: str) -> int:
    state = table.peek(ip.encode())
    return int(state[0]) if state is not None else 0


class ConnLimit(Filter):
    """See the module docstring."""

    __slots__ = ("ip", "next_bytes", "state")

    needs_start = True

    # state: 0 not started, 1 counted (passing), 2 refused
    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.state = 0
        self.ip = ""
        self.next_bytes: Callable[[bytes], None] | None = None

    def start(self) -> None:
        cfg: _Counts = self.cfg
        ip = self.pipeline.context.inbound.remote_address
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]  # an IPv4 client on a dual-stack socket is that IPv4 address
        if cfg.acquire(ip):
            self.ip = ip
            self.state = 1
            return
        self.state = 2
        REFUSED[cfg.name] = REFUSED.get(cfg.name, 0) + 1
        log.info(
            "%r: limit_connections: %s has %d connections open already", self.pipeline.context, ip, cfg.per_ip
        )
        out = self.pipeline.output  # past the steps after this one: they see nothing
        if cfg.status is not None:
            text = b"too many connections\n"
            out(
                Data(
                    b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                    b"connection: close\r\n\r\n%s"
                    % (cfg.status, _REASONS[cfg.status].encode(), len(text), text)
                )
            )
            out(StreamEnd())
        else:
            out(StreamEnd("ConnectionLimit"))

    def on_bytes(self, data: bytes) -> None:
        """The connection's bytes, straight from it (this step is first)."""
        if self.state != 1:
            return
        take = self.next_bytes
        if take is None:
            take = self.next_bytes = (
                getattr(getattr(self._out, "__self__", None), "on_bytes", None) or self._data
            )
        take(data)

    def _data(self, data: bytes) -> None:
        self._out(Data(data))

    def process(self, evt: Event) -> None:
        if self.state == 1:
            self._out(evt)

    def close(self) -> None:
        if self.state == 1:
            self.state = 0
            cfg: _Counts = self.cfg
            cfg.release(self.ip)


def limit_connections(
    self: Builder, per_ip: int, *, status: int | None = None, name: str | None = None, group: bool = True
) -> Builder:
    """At most ``per_ip`` open connections from each client address (first step of a
    listener's layout); the next ones are closed at once, or with ``status`` (503 or 429) answered
    as HTTP before closing. Counted across the workers of a ``--workers N`` group unless
    ``group=False`` (see the module docstring); ``name`` names the count in the metrics and joins
    steps (of several listeners) into one count."""
    if isinstance(per_ip, bool) or not isinstance(per_ip, int) or per_ip < 1:
        raise ValueError(f"limit_connections(): per_ip must be an integer >= 1, not {per_ip!r}")
    if status is not None and status not in _REASONS:
        raise ValueError(f"limit_connections(): status must be 503, 429 or None, not {status!r}")
    if name is not None and not (name and name.replace("-", "").replace("_", "").isalnum()):
        raise ValueError(f"limit_connections(): name {name!r} must be letters, digits, - and _")
    # the same in every worker and across reloads: steps with the same settings share one count
    key = name or f"{per_ip}-per-ip-{status or 'close'}{'' if group else '-worker'}"
    counts = _steps.get(key)
    if counts is None or (counts.per_ip, counts.status, counts.use_group) != (per_ip, status, group):
        counts = _steps[key] = _Counts(key, per_ip, status, group)
    return self.add("limit_connections", ConnLimit, counts)


#: the counts of each step, by name: steps named alike share one count
_steps: dict[str, _Counts] = {}

register(limit_connections=limit_connections)
