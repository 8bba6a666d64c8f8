"""Whether a file changed: what watchers of scripts, gateway files and lists compare."""

from __future__ import annotations

import os

#: a file's device, inode, size and modification time in nanoseconds
Stamp = tuple[int, int, int, int]


def stamp(path: str) -> Stamp | None:
    """The file's stamp, None when it cannot be read: a different stamp is a changed file (an
    edit in place, or a new file renamed over the old one, as editors and deploy tools do)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
