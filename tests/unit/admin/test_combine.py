"""Combining the metrics of a worker group: snapshots written and read back, counters kept when
a worker dies (folded into retired.json once, never twice), gauges only from live workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipework.admin import combine
from pipework.admin.families import LIVE_MIN, LIVE_SUM, SUM, Family


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPEWORK_GROUP_DIR", str(tmp_path))
    monkeypatch.setenv("PIPEWORK_WORKER", "1")
    d = tmp_path / combine.SUBDIR
    d.mkdir()
    return d


def families(requests: float, conns: float, healthy: float) -> list[Family]:
    r = Family("t_requests_total", "counter", "requests", SUM)
    r.add(requests, route="a")
    c = Family("t_connections", "gauge", "connections", LIVE_SUM)
    c.add(conns)
    h = Family("t_healthy", "gauge", "healthy", LIVE_MIN)
    h.add(healthy, target="x")
    return [r, c, h]


def other(d: Path, name: str, pid: int, fams: list[Family]) -> None:
    (d / name).write_text(json.dumps({"pid": pid, "families": combine._to_json(fams)}))


def values(merged: tuple[list[Family], int] | None) -> tuple[dict[str, float], int]:
    assert merged is not None
    fams, workers = merged
    return {f.name: next(iter(f.samples.values())) for f in fams}, workers


def test_alone_there_is_nothing_to_combine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPEWORK_GROUP_DIR", raising=False)
    assert combine.merge(families(1, 1, 1)) is None


def test_live_and_dead_workers(group: Path) -> None:
    other(group, f"w2-{os.getppid()}-aa.json", os.getppid(), families(10, 3, 0))  # alive
    other(group, f"w3-{dead_pid()}-bb.json", dead_pid(), families(100, 50, 0))  # dead
    got, workers = values(combine.merge(families(1, 2, 1), refresh=1.0))
    assert workers == 2
    assert got["t_requests_total"] == 111  # the dead worker's counter stays
    assert got["t_connections"] == 5  # its gauges do not
    assert got["t_healthy"] == 0  # unhealthy in one live worker: unhealthy
    assert (group / combine.own_name()).exists()  # what this scrape saw is written down


def test_fold_keeps_counters_once(group: Path) -> None:
    pid = dead_pid()
    other(group, f"w3-{pid}-bb.json", pid, families(100, 50, 1))
    (group / f"w3-{pid}-bb.json.{pid}.tmp").write_text("{")  # a write cut short by its death
    before = values(combine.merge(families(1, 0, 1), refresh=1.0))[0]["t_requests_total"]
    combine.fold()
    combine.fold()  # again: nothing absorbed twice
    names = sorted(os.listdir(group))
    assert f"w3-{pid}-bb.json" not in names
    assert not [n for n in names if n.endswith(".tmp")]
    retired = json.loads((group / combine.RETIRED).read_text())
    assert list(retired["absorbed"]) == [f"w3-{pid}-bb.json"]
    after = values(combine.merge(families(1, 0, 1), refresh=1.0))[0]["t_requests_total"]
    assert before == after == 101
    # a reader that listed the dead worker's file before the fold and read it after: not doubled
    other(group, f"w3-{pid}-bb.json", pid, families(100, 50, 1))
    assert values(combine.merge(families(1, 0, 1), refresh=1.0))[0]["t_requests_total"] == 101


def test_a_stale_live_file_counts_for_counters_only(group: Path) -> None:
    name = f"w2-{os.getppid()}-aa.json"
    other(group, name, os.getppid(), families(10, 3, 1))
    os.utime(group / name, (1, 1))  # long silent: hung
    got, workers = values(combine.merge(families(1, 2, 1), refresh=1.0))
    assert (got["t_requests_total"], got["t_connections"], workers) == (11, 2, 1)
