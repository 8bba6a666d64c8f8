"""The metrics of a ``--workers N`` group combined, whichever worker a scrape reaches.

Theory of operation: each worker writes a snapshot of its own numbers (the families
:func:`pipework.admin.metrics.collect` gives) to a file of its own in the group's directory
(:func:`pipework.core.group.directory`, on ``/dev/shm``) every ``refresh`` seconds, and again
whenever it answers a scrape and when it stops; a file is written whole and renamed into place,
so a reader never sees half of one. A scrape is answered by one worker: it adds up its own live
numbers and the other workers' files, family by family, as each family's rule says —

- ``sum`` (counters and histograms): every worker that ever ran in the group, alive or not;
- ``live_sum``, ``live_min``, ``live_max`` (gauges): the workers alive now (a dead worker's open
  connections are gone), added, or their least (a target is healthy only if every worker may
  send to it) or most.

So counters never go backwards when a worker dies or is restarted: a file is named after the
worker's index, its pid and a token of its own (``w2-4711-9f3a.json``), a restarted worker
writes a new one, and the dead worker's last snapshot keeps counting. To keep the directory
small, any worker (the one that gets the lock first, once a period) folds dead workers' files
into ``retired.json``, which holds the sum of their counters and the names it absorbed; a reader
lists the files first and reads ``retired.json`` last, skipping files it names, so a fold
between the two neither loses nor doubles a worker. A scrape may show another worker's numbers
up to ``refresh`` seconds old; a worker killed outright loses what it counted since its last
snapshot (at most ``refresh`` seconds' worth).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from ..core import group
from ..core.script import service
from ..net.tasks import Periodic
from .families import LIVE_MAX, LIVE_MIN, SUM, Family

log = logging.getLogger("pipework")

SUBDIR = "metrics"
RETIRED = "retired.json"
#: a live worker's file older than this many periods (and STALE_AFTER seconds) is not counted
#: for gauges: the worker hangs, or its loop is too busy to write
STALE_PERIODS = 5
STALE_AFTER = 5.0
#: a name absorbed into retired.json is forgotten this long after its file was removed (a reader
#: that listed the file before may still be reading it)
FORGET_AFTER = 60.0

_own: list[Any] = [None, ""]  # pid, file name: made again in a forked child


def _directory() -> str | None:
    d = group.directory()
    return None if d is None else os.path.join(d, SUBDIR)


def own_name() -> str:
    """This worker's snapshot file name."""
    pid = os.getpid()
    if _own[0] != pid:
        _own[:] = [pid, f"w{group.worker_index()}-{pid}-{secrets.token_hex(4)}.json"]
    return str(_own[1])


def _pid_of(name: str) -> int:
    try:
        return int(name.split("-")[1])
    except (IndexError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _to_json(families: list[Family]) -> list[Any]:
    return [
        [
            f.name,
            f.kind,
            f.doc,
            f.rule,
            [[n, [list(p) for p in labels], v] for (n, labels), v in f.samples.items()],
        ]
        for f in families
    ]


def _from_json(data: list[Any]) -> list[Family]:
    """Families from a snapshot (ValueError or TypeError if it is not one)."""
    out = []
    for name, kind, doc, rule, samples in data:
        f = Family(name, kind, doc, rule)
        for n, labels, v in samples:
            f.samples[(n, tuple((k, lv) for k, lv in labels))] = v
        out.append(f)
    return out


def _write(path: str, payload: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, separators=(",", ":"))
    os.replace(tmp, path)


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None  # gone (folded) since it was listed
    return data if isinstance(data, dict) else None


def write_own(families: list[Family]) -> None:
    """Write this worker's snapshot (nothing when serving alone)."""
    d = _directory()
    if d is None:
        return
    os.makedirs(d, exist_ok=True)
    _write(os.path.join(d, own_name()), {"pid": os.getpid(), "families": _to_json(families)})


def _add(into: dict[str, Family], order: list[Family], families: list[Family], live: bool) -> None:
    for f in families:
        if not live and f.rule != SUM:
            continue
        g = into.get(f.name)
        if g is None:
            g = into[f.name] = Family(f.name, f.kind, f.doc, f.rule)
            order.append(g)
        samples = g.samples
        for key, v in f.samples.items():
            old = samples.get(key)
            if old is None:
                samples[key] = v
            elif g.rule == LIVE_MIN:
                samples[key] = min(old, v)
            elif g.rule == LIVE_MAX:
                samples[key] = max(old, v)
            else:
                samples[key] = old + v


def merge(own: list[Family], refresh: float | None = None) -> tuple[list[Family], int] | None:
    """This worker's ``own`` families combined with the group's other workers (see the module
    docstring), and how many workers alive now are in them; None when serving alone. This
    worker's snapshot is written first, so what a scrape saw stays counted if it dies."""
    d = _directory()
    if d is None:
        return None
    write_own(own)
    every = refresh if refresh is not None else _SHARER.every
    mine = own_name()
    into: dict[str, Family] = {}
    order: list[Family] = []
    _add(into, order, own, True)
    workers = 1
    snapshots = []
    now = time.time()
    for name in sorted(os.listdir(d)):  # listed before retired.json is read: see the docstring
        if name in (mine, RETIRED) or not name.endswith(".json"):
            continue
        path = os.path.join(d, name)
        data = _read(path)
        if data is None:
            continue
        try:
            fresh = now - os.stat(path).st_mtime < max(STALE_PERIODS * every, STALE_AFTER)
        except OSError:
            fresh = False
        snapshots.append((name, data, fresh and _alive(int(data.get("pid", 0)))))
    retired = _read(os.path.join(d, RETIRED)) or {}
    absorbed = retired.get("absorbed", {})
    for name, data, live in snapshots:
        if name in absorbed:
            continue
        _add(into, order, _from_json(data.get("families", [])), live)
        workers += live
    if retired.get("families"):
        _add(into, order, _from_json(retired["families"]), False)
    return order, workers


def fold() -> None:
    """Fold the files of dead workers into retired.json (by one worker at a time; see the module
    docstring)."""
    d = _directory()
    if d is None or not os.path.isdir(d):
        return
    with open(os.path.join(d, "lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another worker folds now
        try:
            _fold(d)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fold(d: str) -> None:
    names = os.listdir(d)
    dead = [n for n in names if n.startswith("w") and n.endswith(".json") and not _alive(_pid_of(n))]
    retired = _read(os.path.join(d, RETIRED)) or {}
    absorbed: dict[str, float] = retired.get("absorbed", {})
    now = time.time()
    present = set(names)
    # forget names absorbed long ago whose files are gone: no reader can still hold them
    pruned = {n: t for n, t in absorbed.items() if n in present or now - t < FORGET_AFTER}
    todo = [n for n in dead if n not in absorbed]
    if todo or len(pruned) != len(absorbed):
        into: dict[str, Family] = {}
        order: list[Family] = []
        _add(into, order, _from_json(retired.get("families", [])), False)
        for n in todo:
            data = _read(os.path.join(d, n))
            if data is not None:
                _add(into, order, _from_json(data.get("families", [])), False)
            pruned[n] = now
        _write(os.path.join(d, RETIRED), {"absorbed": pruned, "families": _to_json(order)})
    for n in dead:  # absorbed now (or before, by a fold that stopped short of removing them)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, n))
    for n in names:  # a file a worker was writing when it died
        writer = n.rsplit(".", 2)[-2] if n.endswith(".tmp") else ""  # NAME.PID.tmp
        if writer.isdigit() and not _alive(int(writer)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, n))


class _Sharer(Periodic):
    """Writes this worker's snapshot every ``every`` seconds, and folds dead workers' files."""

    task_name = "metrics snapshot"

    def __init__(self) -> None:
        self.every = 1.0
        self.collect: Callable[[], list[Family]] | None = None

    def start(self) -> None:
        if group.directory() is not None and self.collect is not None:
            super().start()

    def stop(self) -> None:
        super().stop()
        self.flush()

    def flush(self) -> None:
        if self.collect is not None:
            try:
                write_own(self.collect())
            except OSError as exc:
                log.warning("metrics: cannot write this worker's snapshot: %s", exc)

    async def refresh(self) -> float:
        self.flush()
        try:
            fold()
        except (OSError, ValueError, TypeError) as exc:  # a file not ours, or cut short: log, go on
            log.warning("metrics: cannot fold dead workers' snapshots: %s", exc)
        return self.every


_SHARER = _Sharer()


def share(collect: Callable[[], list[Family]], every: float) -> None:
    """Write this worker's numbers (``collect()``) for the others every ``every`` seconds while
    the program being loaded serves (one writer per process, whatever the number of
    ``serve_metrics``)."""
    _SHARER.collect = collect
    _SHARER.every = every
    service(_SHARER)
