"""Byte ranges (RFC 9110 14): the part of a representation a ``Range`` field asks for.

One range a request is answered (``bytes=first-last``, ``bytes=first-``, ``bytes=-suffix``):
a request for several ranges, in another unit, or with a malformed value gets the whole
representation, as RFC 9110 14.2 lets a server do (a ``Range`` may always be ignored). A range
that starts past the end, ends before it starts, or is an empty suffix is not satisfiable (416
with ``Content-Range: bytes */size``), as nginx answers those. ``If-Range`` (13.1.5) keeps the
``Range`` only when it names the current representation: the same strong entity tag, or the
exact ``Last-Modified`` date.
"""

from __future__ import annotations

__all__ = [
    "NOT_SATISFIABLE",
    "byte_range",
    "content_range",
    "if_range_holds",
    "range_start",
    "unsatisfied_range",
]

#: what :func:`byte_range` returns for a range the representation cannot satisfy
NOT_SATISFIABLE = (-1, -1)


def byte_range(value: bytes, size: int) -> tuple[int, int] | None:
    """(first, last) byte, both included, that ``Range: value`` asks of ``size`` bytes; None when
    the field is to be ignored (the whole representation), :data:`NOT_SATISFIABLE` for a 416."""
    spec = value.strip()
    if spec[:6].lower() != b"bytes=" or b"," in spec:
        return None
    a, sep, b = spec[6:].strip().partition(b"-")
    a, b = a.strip(), b.strip()
    if not sep or not (a or b) or (a and not a.isdigit()) or (b and not b.isdigit()):
        return None
    if a:
        first = int(a)
        last = int(b) if b else size - 1
    else:
        n = int(b)
        if n == 0:
            return NOT_SATISFIABLE
        first, last = max(0, size - n), size - 1
    if first >= size or first > last:
        return NOT_SATISFIABLE
    return first, min(last, size - 1)


def range_start(value: bytes) -> int | None:
    """The first byte ``Range: value`` asks for when it is one ``first-[last]`` range, whatever
    the size; None for a suffix (``-500``) or a field :func:`byte_range` would ignore."""
    spec = value.strip()
    if spec[:6].lower() != b"bytes=" or b"," in spec:
        return None
    a, sep, _ = spec[6:].strip().partition(b"-")
    a = a.strip()
    return int(a) if sep and a.isdigit() else None


def if_range_holds(if_range: bytes, etag: bytes | None, last_modified: bytes | None) -> bool:
    """Whether ``If-Range: if_range`` names the representation with this ``etag`` and
    ``last_modified``: a strong tag equal to its own (a weak one never does), or its date."""
    v = if_range.strip()
    if v.startswith(b'"'):
        return etag is not None and not etag.startswith(b"W/") and v == etag.strip()
    return not v.startswith(b"W/") and last_modified is not None and v == last_modified.strip()


def content_range(first: int, last: int, size: int) -> tuple[bytes, bytes]:
    """The ``Content-Range`` field of a 206 with bytes ``first`` to ``last`` of ``size``."""
    return b"content-range", b"bytes %d-%d/%d" % (first, last, size)


def unsatisfied_range(size: int) -> tuple[bytes, bytes]:
    """The ``Content-Range`` field of a 416 for a representation of ``size`` bytes."""
    return b"content-range", b"bytes */%d" % size
