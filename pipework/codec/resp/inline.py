"""Inline commands: the telnet-friendly way to send a Redis command, one line of words.

Theory of operation: a Redis server reads a request whose first byte is not ``*`` as an inline
command: "a space-separated list of arguments, terminated by ``\\n``" (a ``\\r`` before it is
dropped). Words are split as Redis's ``sdssplitargs`` splits them, so that the proxy sees the
same arguments the server would: runs of whitespace separate words; ``"..."`` quotes a word with
C-like escapes (``\\n \\r \\t \\b \\a \\\\ \\"`` and ``\\xHH``); ``'...'`` quotes a word where only
``\\'`` is special; a closing quote must be followed by whitespace or the end of the line. An
empty line carries no command (Redis ignores it; clients use it as a keep-alive).

:func:`split_inline` reads one line (the decoder finds it and enforces the length limit) and
raises RemoteProtocolError with Redis's "unbalanced quotes in request" for a bad quote.
:func:`encode_inline` writes the words back, quoting only those that need it, so that
``split_inline(encode_inline(args)) == args`` for any bytes. A line without quotes is split with
``bytes.split`` in C; the per-character loop runs only for quoted words.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import LocalProtocolError, protocol_error

#: Redis's PROTO_INLINE_MAX_SIZE: "Max size of inline reads" (server.h), 64 KiB. Redis answers
#: "too big inline request" to a longer line; we use the same bound for every line we read
#: (inline commands, simple strings, errors and the number lines before lengths and counts).
MAX_INLINE_LENGTH: Final = 64 * 1024

# sdssplitargs: isspace() in the C locale.
_SPACE: Final = frozenset(b" \t\n\r\v\f")
_ESCAPES: Final = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
# A word that can go on the line as it is: printable ASCII, no quote, no backslash.
_PLAIN: Final = re.compile(rb"[!#-&(-\[\]-~]+")
_UNBALANCED: Final = "unbalanced quotes in request"  # Redis's words
_REPR: Final = {10: b"\\n", 13: b"\\r", 9: b"\\t", 7: b"\\a", 8: b"\\b", 0x22: b'\\"', 0x5C: b"\\\\"}


def split_inline(line: bytes) -> tuple[bytes, ...]:
    """The words of one inline command line (without its line end), as Redis splits them."""
    if b'"' not in line and b"'" not in line:
        return tuple(line.split())
    return tuple(_split_quoted(line))


def _split_quoted(line: bytes) -> list[bytes]:
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i == n:
            return args
        current = bytearray()
        quote = 0  # 0 outside quotes, else the quote character
        while True:
            if i == n:
                if quote:
                    raise protocol_error("unterminated quote in an inline command", _UNBALANCED)
                break
            c = line[i]
            if quote == 0x22:
                if c == 0x5C and i + 3 < n and line[i + 1] == 0x78 and _HEX.issuperset(line[i + 2 : i + 4]):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif c == 0x22:
                    _closing(line, i + 1)
                    i += 1
                    break
                else:
                    current.append(c)
            elif quote == 0x27:
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    current.append(0x27)
                    i += 1
                elif c == 0x27:
                    _closing(line, i + 1)
                    i += 1
                    break
                else:
                    current.append(c)
            elif c in _SPACE:
                break
            elif c == 0x22 or c == 0x27:
                quote = c
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))


def _closing(line: bytes, after: int) -> None:
    # sdssplitargs: "closing quote must be followed by a space or nothing at all".
    if after < len(line) and line[after] not in _SPACE:
        raise protocol_error("a closing quote is followed by more of the word", _UNBALANCED)


def quote_arg(arg: bytes) -> bytes:
    """``arg`` as one inline word: as it is when that is unambiguous, else double-quoted."""
    if _PLAIN.fullmatch(arg):
        return arg
    out = bytearray(b'"')
    for c in arg:
        escaped = _REPR.get(c)
        if escaped is not None:
            out += escaped
        elif 0x20 <= c < 0x7F:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out.append(0x22)
    return bytes(out)


def encode_inline(args: tuple[bytes, ...] | list[bytes]) -> bytes:
    """An inline command line with its CRLF. Raises LocalProtocolError for no words, or for a
    line over MAX_INLINE_LENGTH, which a Redis server would refuse ("too big inline request")."""
    if not args:
        raise LocalProtocolError("an inline command needs at least one word")
    line = b" ".join(quote_arg(arg) for arg in args) + b"\r\n"
    if len(line) > MAX_INLINE_LENGTH:
        raise LocalProtocolError(f"inline command of {len(line)} bytes exceeds {MAX_INLINE_LENGTH}",
                                 "Protocol error: too big inline request")
    return line
