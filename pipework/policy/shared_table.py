"""A fixed-size table of small per-key states in shared memory, for the workers of one group.

Theory of operation: the workers that ``--workers N`` forks are separate processes, so a rate
limit kept in each one's memory admits N times its quota. A :class:`SharedTable` is a file in the
group's directory (on ``/dev/shm``: memory, not disk) mapped into every worker with ``mmap``;
each worker that opens the same path sees the same bytes. The file is made race-free: written
whole under a temporary name, then ``link``-ed to its name (atomic; the loser of a race opens
the winner's file), and checked by a header (magic and geometry) when opened.

Layout: a header, then ``buckets`` buckets of :data:`WAYS` slots (a set-associative table, like
a CPU cache). A key is hashed to 64 bits (blake2b, the same in every process, unlike
``hash()``); the hash picks the bucket, and the slot in it whose stored hash is equal holds the
key's state — four float64 values whose last is the time of last use. A bucket is::

    8 x u64   the slots' key hashes (0: empty)
    8 x 4 x f64   the slots' states

so finding a key is one ``struct`` unpack of 64 bytes and a ``tuple.index``, in C.

Concurrency: :meth:`SharedTable.update` takes a POSIX record lock (``fcntl.lockf``) on one byte
per bucket, reads the state, lets the caller compute the new one and writes it back, then
unlocks: two syscalls per update, and two workers only wait for each other on the same bucket.
A worker that dies holding a lock releases it (the kernel drops a dead process's record locks),
which a spin lock in the mapping could not promise. POSIX locks belong to the process, not to
the file descriptor, and closing *any* descriptor of the file drops them all: a process keeps
exactly one descriptor per table (see :func:`open_table`).

Bounded: the file's size is fixed when it is made (``capacity`` keys, rounded up to whole
buckets; 320 bytes per 8 keys). A new key takes, in its bucket, an empty slot, else one idle for
``idle`` seconds (its state is as good as new: dropping it changes no answer), else the least
recently used one — that key's spending is forgotten (it fails open), counted in
:attr:`SharedTable.evicted`. Two keys with the same 64-bit hash would share a state; at a
million keys the chance of any such pair is about 3e-8.

The clock is the caller's (``now``, any clock every process shares: ``time.monotonic()`` is
the machine's CLOCK_MONOTONIC on Linux). No sockets, no logging.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WAYS", "SharedTable", "State", "generation", "key_hash", "open_file", "open_table"]

#: slots per bucket: a key competes for room only with the keys of its bucket
WAYS = 8
MAGIC = b"PWSHTB01"
_HEADER = struct.Struct("<8sQQ")  # magic, buckets, ways
_HEADER_SIZE = 64  # the header padded to a cache line
_HASHES = struct.Struct(f"<{WAYS}Q")
_STATE = struct.Struct("<4d")
_SLOT_HASH = struct.Struct("<Q")
_BUCKET_SIZE = _HASHES.size + WAYS * _STATE.size

#: a key's state: three values the caller defines, then the time of last use
State = tuple[float, float, float, float]
R = TypeVar("R")


def key_hash(key: bytes) -> int:
    """The key's 64-bit hash, never 0 (0 marks an empty slot), the same in every process."""
    h = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    return h or 1


class SharedTable:
    """Per-key states shared by every process that maps the same file; see the module docstring.

    Made by :func:`open_table`. ``update(key, now, idle, step)`` calls ``step(state)`` under the
    bucket's lock with the key's state (None when the key is new or was idle ``idle`` seconds);
    ``step`` returns ``(new_state, result)`` and ``update`` returns ``result``.
    """

    __slots__ = ("buckets", "evicted", "fd", "mm", "path")

    def __init__(self, path: str, fd: int, buckets: int) -> None:
        self.path = path
        self.fd = fd
        self.buckets = buckets
        self.mm = mmap.mmap(fd, _HEADER_SIZE + buckets * _BUCKET_SIZE)
        self.evicted = 0  # live keys pushed out by this process (their spending forgotten)

    @property
    def capacity(self) -> int:
        return self.buckets * WAYS

    def update(
        self, key: bytes, now: float, idle: float, step: Callable[[State | None], tuple[State, R]]
    ) -> R:
        h = key_hash(key)
        b = h % self.buckets
        base = _HEADER_SIZE + b * _BUCKET_SIZE
        mm, fd = self.mm, self.fd
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, b)
        try:
            hashes = _HASHES.unpack_from(mm, base)
            horizon = now - idle
            if h in hashes:
                i = hashes.index(h)
                at = base + _HASHES.size + i * _STATE.size
                state: State | None = _STATE.unpack_from(mm, at)
                if state is not None and state[3] <= horizon:
                    state = None
                new, result = step(state)
            else:
                i = self._victim(hashes, base, horizon)
                at = base + _HASHES.size + i * _STATE.size
                new, result = step(None)
                _SLOT_HASH.pack_into(mm, base + 8 * i, h)
            _STATE.pack_into(mm, at, *new)
            return result
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, b)

    def peek(self, key: bytes) -> State | None:
        """The key's state as stored (idle or not), or None; under the bucket's lock."""
        h = key_hash(key)
        b = h % self.buckets
        base = _HEADER_SIZE + b * _BUCKET_SIZE
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, b)
        try:
            hashes = _HASHES.unpack_from(self.mm, base)
            if h not in hashes:
                return None
            state: State = _STATE.unpack_from(self.mm, base + _HASHES.size + hashes.index(h) * _STATE.size)
            return state
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, b)

    def clear(self) -> None:
        """Forget every key (the owner of a table restarted: what it held is gone)."""
        size = len(self.mm) - _HEADER_SIZE
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 0, 0)  # the whole file: no update runs meanwhile
        try:
            self.mm[_HEADER_SIZE:] = bytes(size)
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 0, 0)

    def _victim(self, hashes: tuple[int, ...], base: int, horizon: float) -> int:
        """The slot a new key takes: empty, else idle, else least recently used (evicted)."""
        if 0 in hashes:
            return hashes.index(0)
        mm = self.mm
        first = base + _HASHES.size + 3 * 8  # the stamp of slot 0
        stamps = [struct.unpack_from("<d", mm, first + j * _STATE.size)[0] for j in range(WAYS)]
        oldest = min(range(WAYS), key=stamps.__getitem__)
        if stamps[oldest] > horizon:
            self.evicted += 1
        return oldest

    def __len__(self) -> int:
        """Keys held (idle ones included): a scan, for tests and metrics, not the data path."""
        return sum(
            WAYS - _HASHES.unpack_from(self.mm, _HEADER_SIZE + b * _BUCKET_SIZE).count(0)
            for b in range(self.buckets)
        )

    def close(self) -> None:
        self.mm.close()
        os.close(self.fd)


#: the tables this process has open, by path: one descriptor each (see the module docstring)
_open: dict[str, SharedTable] = {}


#: bumped in each forked child: whoever keeps a table (or the decision to use none) compares it
#: with the value it saw, to open its own after a fork (``--workers`` forks after loading)
generation = 0


def _forget() -> None:
    """In a forked child: the parent's tables are the parent's (its locks are not inherited)."""
    global generation
    _open.clear()
    generation += 1


os.register_at_fork(after_in_child=_forget)


def open_table(path: str, capacity: int) -> SharedTable:
    """The table at ``path`` for ``capacity`` keys, made if it does not exist yet.

    Every process asking for the same path with the same capacity gets the same shared bytes;
    within a process, the same object (a forked child opens its own).
    ValueError if the file exists with another geometry or is not a table.
    """
    if capacity < 1:
        raise ValueError(f"a shared table needs a capacity >= 1, not {capacity!r}")
    known = _open.get(path)
    if known is not None:
        return known
    buckets = math.ceil(capacity / WAYS)
    header = _HEADER.pack(MAGIC, buckets, WAYS)
    size = _HEADER_SIZE + buckets * _BUCKET_SIZE
    fd = open_file(path, header, size, f"a shared table of {buckets} buckets of {WAYS} slots")
    try:
        table = SharedTable(path, fd, buckets)
    except BaseException:
        os.close(fd)
        raise
    _open[path] = table
    return table


def open_file(path: str, header: bytes, size: int, what: str) -> int:
    """A descriptor (read and write) of the shared file at ``path``, made if missing (``size``
    zeroed bytes starting with ``header``); ValueError saying it is not ``what`` when its size or
    first bytes differ."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        fd = _create(path, header, size)
    try:
        if os.pread(fd, len(header), 0) != header or os.fstat(fd).st_size != size:
            raise ValueError(f"{path} is not {what}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create(path: str, header: bytes, size: int) -> int:
    """Make the file whole under a private name, then give it its name; if another process was
    first, use its file."""
    tmp = f"{path}.{os.getpid()}.new"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        os.pwrite(fd, header, 0)
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.close(fd)
            fd = os.open(path, os.O_RDWR)
    except BaseException:
        os.close(fd)
        raise
    finally:
        os.unlink(tmp)
    return fd
