"""Writing HTTP/1.1: status lines, request lines, header blocks, chunked framing, the Date field.

Everything here returns ``bytes`` ready for the socket. Field names and values are checked for
CR, LF and NUL (RFC 9110 5.5), the characters a header injection needs; anything else is passed
through as the caller gave it.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus

from .errors import LocalProtocolError

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}
_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in _REASONS.items()
}
#: the status lines made once, by (code, reason): the standard ones, and ones seen since (bounded)
_LINES_BY_REASON: dict[tuple[int, str], bytes] = {
    (s.value, s.phrase): _STATUS_LINES[s.value] for s in HTTPStatus
}
_MAX_LINES_BY_REASON = 512
_BAD = frozenset(b"\r\n\x00")


def reason(status: int) -> str:
    return _REASONS.get(status, b"").decode("ascii")


def status_line(status: int, reason: str | None = None) -> bytes:
    """``HTTP/1.1 <status> <reason>\r\n``; the standard reason when none is given."""
    if reason is None:
        line = _STATUS_LINES.get(status)
        if line is not None:
            return line
        reason = ""
    else:
        line = _LINES_BY_REASON.get((status, reason))
        if line is not None:
            return line
    if not 100 <= status <= 999:
        raise LocalProtocolError(f"status {status} is not a three-digit code")
    line = b"HTTP/1.1 %d %s\r\n" % (status, _clean(reason.encode("latin-1")))
    if len(_LINES_BY_REASON) < _MAX_LINES_BY_REASON:
        _LINES_BY_REASON[(status, reason)] = line
    return line


def _clean(v: bytes) -> bytes:
    if _BAD.intersection(v):
        raise LocalProtocolError(f"CR, LF or NUL in a header field: {v[:40]!r}")
    return v


def header_block(fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``name: value\\r\\n`` for each field; raises :class:`LocalProtocolError` on CR/LF/NUL.

    The check is made once on the whole block: it must hold exactly one CR and one LF per field
    (the line ends) and no NUL, which costs three scans in C instead of one test per field.
    """
    lines = [k + b": " + v + b"\r\n" for k, v in fields]
    block = b"".join(lines)
    n = len(lines)
    if block.count(b"\n") != n or block.count(b"\r") != n or b"\x00" in block:
        bad = next((line for line in lines if _BAD.intersection(line[:-2])), block[:40])
        raise LocalProtocolError(f"CR, LF or NUL in a header field: {bad[:40]!r}")
    return block


def request_line(method: str, target: str, version: str = "1.1") -> bytes:
    line = f"{method} {target} HTTP/{version}\r\n".encode("latin-1")
    if _BAD.intersection(line[:-2]) or " " in target:
        raise LocalProtocolError(f"bad request line: {line[:60]!r}")
    return line


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 7.1); empty data gives nothing (not the last chunk)."""
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def last_chunk(trailers: Iterable[tuple[bytes, bytes]] | None = None) -> bytes:
    if not trailers:
        return LAST_CHUNK
    return b"0\r\n" + header_block(trailers) + b"\r\n"


class DateCache:
    """The ``Date`` field value, made once a second (RFC 9110 6.6.1 asks for one per response)."""

    __slots__ = ("_second", "line", "value")

    def __init__(self) -> None:
        self._second = -1
        self.value = b""
        self.line = b""

    def get(self, now: float) -> bytes:
        """The ``date: ...\\r\\n`` line for ``now`` (seconds since the epoch, the caller's clock)."""
        second = int(now)
        if second != self._second:
            self._second = second
            self.value = formatdate(second, usegmt=True).encode("ascii")
            self.line = b"date: " + self.value + b"\r\n"
        return self.line


def format_http_date(t: float) -> str:
    return formatdate(t, usegmt=True)
