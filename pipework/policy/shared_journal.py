"""A ring of small records in shared memory that every worker of a group reads: news for all.

Theory of operation: some changes made in one worker must reach the others — a cache purge
sent to the admin port lands in one worker of ``--workers N``, yet every worker's store holds
the URL. A :class:`SharedJournal` is a file in the group's directory (on ``/dev/shm``), mapped
into each worker: a 64-byte header (magic, geometry and the count of records ever published),
then ``slots`` slots of ``slot_size`` bytes, record ``n`` in slot ``n % slots``::

    u32 publisher's pid, u16 payload length, payload

:meth:`SharedJournal.publish` takes a POSIX record lock on the header (writers wait for each
other; readers never lock), writes the slot, then the new count. A reader keeps the count it has
read up to; :meth:`SharedJournal.count` is one ``struct`` read of the mapping, so looking for
news costs a fraction of a microsecond, and :meth:`SharedJournal.since` returns the records
after it, skipping the reader's own (it applied those when it published them).

Bounded and safe: the file's size is fixed; a reader that has fallen more than
``slots - MARGIN`` records behind (its slots may have been written over, or may be while it
reads) gets None and must assume anything happened — for a cache, drop everything, which is
never wrong, only slower. A payload longer than a slot cannot be published (ValueError): the
caller publishes something coarser. Records are news, not state: a worker started later (a
restarted one) begins at the current count with nothing to catch up on.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct

from .shared_table import open_file

__all__ = ["MARGIN", "SharedJournal", "open_journal"]

MAGIC = b"PWJRNL01"
_HEADER = struct.Struct("<8sII")  # magic, slots, slot size; then, at _AT_COUNT, the count
_AT_COUNT = 32
_HEADER_SIZE = 64
_COUNT = struct.Struct("<Q")
_RECORD = struct.Struct("<IH")  # pid, payload length
#: records a reader may be behind by and still trust every slot it reads
MARGIN = 64


class SharedJournal:
    """Records shared by every process that maps the same file; see the module docstring."""

    __slots__ = ("fd", "mm", "path", "pid", "slot_size", "slots")

    def __init__(self, path: str, fd: int, slots: int, slot_size: int) -> None:
        self.path = path
        self.fd = fd
        self.slots = slots
        self.slot_size = slot_size
        self.mm = mmap.mmap(fd, _HEADER_SIZE + slots * slot_size)
        self.pid = os.getpid()

    @property
    def room(self) -> int:
        """The longest payload a record can carry."""
        return self.slot_size - _RECORD.size

    def count(self) -> int:
        """How many records have ever been published."""
        return _COUNT.unpack_from(self.mm, _AT_COUNT)[0]  # type: ignore[no-any-return]

    def publish(self, payload: bytes) -> None:
        """Add a record for every other reader; ValueError when it is longer than :attr:`room`."""
        if len(payload) > self.room:
            raise ValueError(f"a journal record holds {self.room} bytes, not {len(payload)}")
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, 0)
        try:
            n = self.count()
            off = _HEADER_SIZE + (n % self.slots) * self.slot_size
            _RECORD.pack_into(self.mm, off, self.pid, len(payload))
            self.mm[off + _RECORD.size : off + _RECORD.size + len(payload)] = payload
            _COUNT.pack_into(self.mm, _AT_COUNT, n + 1)
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 0)

    def since(self, seen: int) -> tuple[list[bytes] | None, int]:
        """(the other processes' payloads published after the first ``seen``, the new count);
        None for the payloads when some may be lost (see the module docstring)."""
        n = self.count()
        if n - seen > self.slots - MARGIN or seen > n:
            return None, n
        out = []
        mm, size, pid = self.mm, self.slot_size, self.pid
        for i in range(seen, n):
            off = _HEADER_SIZE + (i % self.slots) * size
            who, length = _RECORD.unpack_from(mm, off)
            if length > size - _RECORD.size:  # torn or foreign bytes: trust nothing
                return None, n
            if who != pid:
                out.append(mm[off + _RECORD.size : off + _RECORD.size + length])
        return out, n


#: the journals this process has open, by path: one descriptor each (POSIX locks are per process
#: and closing any descriptor of the file would drop them)
_open: dict[str, SharedJournal] = {}


def _forget() -> None:
    _open.clear()


os.register_at_fork(after_in_child=_forget)


def open_journal(path: str, slots: int = 1024, slot_size: int = 1024) -> SharedJournal:
    """The journal at ``path``, made (zeroed, ``slots`` x ``slot_size`` bytes) if it does not exist
    yet; within a process, the same object. ValueError if the file is not such a journal."""
    known = _open.get(path)
    if known is not None:
        return known
    if slots < 2 * MARGIN or slot_size <= _RECORD.size:
        raise ValueError(f"a journal needs >= {2 * MARGIN} slots of > {_RECORD.size} bytes")
    header = _HEADER.pack(MAGIC, slots, slot_size)
    size = _HEADER_SIZE + slots * slot_size
    fd = open_file(path, header, size, f"a journal of {slots} slots of {slot_size} bytes")
    try:
        journal = SharedJournal(path, fd, slots, slot_size)
    except BaseException:
        os.close(fd)
        raise
    _open[path] = journal
    return journal
