"""The shared journal: records published by one process reach the others (not their publisher),
in order, across real forked processes; a reader too far behind is told it lost some; the file
is bounded and checked when opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipework.policy.shared_journal import MARGIN, SharedJournal, open_journal


def other_process_view(j: SharedJournal) -> SharedJournal:
    """The same file seen as another process would see it (another pid on the records)."""
    view = SharedJournal(j.path, os.open(j.path, os.O_RDWR), j.slots, j.slot_size)
    view.pid = j.pid + 1
    return view


def test_records_reach_the_others_in_order_but_not_their_publisher(tmp_path: Path) -> None:
    mine = open_journal(str(tmp_path / "j"), slots=256, slot_size=64)
    theirs = other_process_view(mine)
    assert mine.count() == 0
    mine.publish(b"u/a")
    theirs.publish(b"p/img/")
    mine.publish(b"")
    assert theirs.since(0) == ([b"u/a", b""], 3)
    assert mine.since(0) == ([b"p/img/"], 3)
    assert mine.since(3) == ([], 3)
    assert theirs.since(1) == ([b""], 3)


def test_a_reader_too_far_behind_is_told_it_lost_records(tmp_path: Path) -> None:
    mine = open_journal(str(tmp_path / "j"), slots=2 * MARGIN, slot_size=32)
    theirs = other_process_view(mine)
    for i in range(MARGIN):
        mine.publish(b"%d" % i)
    got, n = theirs.since(0)
    assert n == MARGIN
    assert got == [b"%d" % i for i in range(MARGIN)]
    mine.publish(b"one more")
    assert theirs.since(0) == (None, MARGIN + 1)  # some slots may be written over
    for i in range(5 * MARGIN):  # the ring wraps: the newest records are still read whole
        mine.publish(b"r%d" % i)
    newest = [b"r%d" % i for i in range(5 * MARGIN - 3, 5 * MARGIN)]
    assert theirs.since(mine.count() - 3) == (newest, mine.count())
    assert theirs.since(mine.count() + 1)[0] is None  # a count from another journal: trust nothing


def test_a_record_longer_than_a_slot_is_refused(tmp_path: Path) -> None:
    j = open_journal(str(tmp_path / "j"), slots=128, slot_size=32)
    j.publish(b"x" * j.room)
    with pytest.raises(ValueError, match=f"holds {j.room} bytes, not {j.room + 1}"):
        j.publish(b"x" * (j.room + 1))
    assert j.count() == 1


def test_the_file_is_bounded_shared_within_a_process_and_checked(tmp_path: Path) -> None:
    path = str(tmp_path / "j")
    j = open_journal(path, slots=128, slot_size=64)
    assert open_journal(path, slots=128, slot_size=64) is j
    assert os.path.getsize(path) == 64 + 128 * 64
    for _ in range(1000):
        j.publish(b"purge")
    assert os.path.getsize(path) == 64 + 128 * 64
    (tmp_path / "other").write_bytes(b"not a journal" * 100)
    with pytest.raises(ValueError, match="is not a journal of 128 slots of 64 bytes"):
        open_journal(str(tmp_path / "other"), slots=128, slot_size=64)
    with pytest.raises(ValueError, match="needs >= 128 slots"):
        open_journal(str(tmp_path / "small"), slots=8)


def test_forked_processes_hear_each_other(tmp_path: Path) -> None:
    """Three children publish 200 records each at once; the parent hears all 600, each child's
    in its order, and the count is exact (the writers' lock)."""
    path = str(tmp_path / "j")
    parent = open_journal(path, slots=1024, slot_size=64)
    pids = []
    for c in range(3):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                j = open_journal(path, slots=1024, slot_size=64)  # forgotten at the fork: its own
                assert j is not parent
                assert j.pid == os.getpid()
                for i in range(200):
                    j.publish(b"%d:%d" % (c, i))
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    got, n = parent.since(0)
    assert n == 600
    assert got is not None
    assert len(got) == 600
    for c in range(3):
        assert [r for r in got if r.startswith(b"%d:" % c)] == [b"%d:%d" % (c, i) for i in range(200)]
