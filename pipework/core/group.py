"""The process group a worker belongs to: its index, how many workers there are, and a directory
they share.

Theory of operation: ``--workers N`` forks N workers from one supervisor. State the workers must
share without an outside store (rate-limit quotas, metrics to combine) lives in files of a
directory the supervisor makes before it forks (on ``/dev/shm`` when there is one, so it is
memory, not disk) and removes when it exits. A worker learns the directory, its index and the
group's size from the environment the supervisor sets (``PIPEWORK_GROUP_DIR``,
``PIPEWORK_WORKER``, ``PIPEWORK_WORKERS``), so this works for any code, loaded at any time. A
program served by one process has no group: :func:`directory` is None and the index is 0.
"""

from __future__ import annotations

import os
import shutil
import tempfile

__all__ = ["directory", "make", "remove", "set_worker", "worker_index", "workers"]

_DIR = "PIPEWORK_GROUP_DIR"
_INDEX = "PIPEWORK_WORKER"
_COUNT = "PIPEWORK_WORKERS"


def directory() -> str | None:
    """The directory this process group's workers share, or None when serving alone."""
    return os.environ.get(_DIR) or None


def worker_index() -> int:
    """This worker's index (1..N) in its group; 0 when serving alone."""
    return int(os.environ.get(_INDEX, "0"))


def workers() -> int:
    """How many workers the group has (1 when serving alone)."""
    return int(os.environ.get(_COUNT, "1"))


def make(count: int) -> str:
    """Make the group's shared directory (the supervisor, before it forks) and publish it."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix=f"pipework-{os.getpid()}-", dir=base)
    os.environ[_DIR] = path
    os.environ[_COUNT] = str(count)
    return path


def set_worker(index: int) -> None:
    """Say, in a forked worker, which of the group it is."""
    os.environ[_INDEX] = str(index)


def remove() -> None:
    """Remove the group's directory (the supervisor, when every worker has exited)."""
    path = os.environ.pop(_DIR, None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
