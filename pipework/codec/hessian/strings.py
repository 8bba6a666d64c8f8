"""Hessian strings: UTF-8 bytes whose lengths count UTF-16 code units, chunked at 16 bits.

Theory of operation: "The length is the number of 16-bit characters, which may be different than
the number of bytes. String chunks may not split surrogate pairs." (section 4.12). A reader is told
how many UTF-16 units follow and must find where their UTF-8 bytes end, without a per-byte Python
loop (STYLE 7):

* fast path: if the next ``n`` octets are ASCII, they are the ``n`` units;
* otherwise decode a window of at most ``3n`` octets (no unit takes more) as far as it is valid
  UTF-8, take the prefix of ``n`` units (a character above U+FFFF counts two, found with one regex
  pass) and re-encode it to learn its byte length (UTF-8 is unique, so this is exact).

Java's writer (``Hessian2Output.printString``) encodes each UTF-16 unit on its own, so a character
above U+FFFF travels as two three-octet surrogate encodings (CESU-8), and Java's reader
(``parseUTF8Char``) refuses four-octet UTF-8. The decoder accepts both forms and joins surrogate
pairs across chunks; a lone surrogate, an overlong form or any other invalid octet is refused. The
encoder writes CESU-8, the form every Dubbo peer can read, chunking at 0x8000 units (Java's choice)
without splitting a pair.
"""

from __future__ import annotations

import codecs
import re
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError, TruncatedError

_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_utf8_decode: Final = codecs.utf_8_decode

#: Units per chunk when encoding a long string: Java's ``Hessian2Output.writeString`` uses 0x8000.
CHUNK_UNITS: Final = 0x8000


def read_units(buf: bytes | bytearray, pos: int, end: int, units: int) -> tuple[str, int, bool]:
    """Read ``units`` UTF-16 units of UTF-8 at ``buf[pos:end]``: ``(text, next pos, has surrogates)``.

    ``text`` may hold surrogate code points (CESU-8 input); the caller joins chunks and then calls
    :func:`join_surrogates` when the flag is set. Raises ``TruncatedError`` when ``end`` comes first
    and ``RemoteProtocolError`` for invalid UTF-8 or a character split by the unit count.
    """
    stop = pos + units
    if stop <= end:
        raw = buf[pos:stop]
        if raw.isascii():
            return raw.decode("ascii"), stop, False
    elif units and buf[pos:end].isascii():
        raise TruncatedError(f"string of {units} characters runs past the end of the data")
    window = buf[pos:min(end, pos + 3 * units)]
    invalid = False
    try:
        text, consumed = _utf8_decode(window, "surrogatepass", False)
    except UnicodeDecodeError as exc:
        invalid = True
        text, consumed = _utf8_decode(window[:exc.start], "surrogatepass", False)
    count = units
    if text.isascii() or not _ASTRAL.search(text, 0, count):
        pass
    else:
        for match in _ASTRAL.finditer(text):
            at = match.start()
            if at >= count:
                break
            count -= 1  # this character is two units: one character fewer fits
            if at >= count:
                raise RemoteProtocolError("string length splits a character above U+FFFF (4.12)")
    if len(text) < count:
        if not invalid and pos + 3 * units > end:
            raise TruncatedError(f"string of {units} characters runs past the end of the data")
        raise RemoteProtocolError(f"string is not valid UTF-8 at octet {pos + consumed}")
    if count < len(text):
        text = text[:count]
    size = len(text.encode("utf-8", "surrogatepass"))
    return text, pos + size, _SURROGATE.search(text) is not None


def join_surrogates(text: str) -> str:
    """Turn the surrogate pairs of CESU-8 input into the characters they encode.

    Raises ``RemoteProtocolError`` for a surrogate that is not part of a pair.
    """
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise RemoteProtocolError("string holds an unpaired UTF-16 surrogate") from None


def _split_pair(match: re.Match[str]) -> str:
    code = ord(match.group()) - 0x10000
    return chr(0xD800 | (code >> 10)) + chr(0xDC00 | (code & 0x3FF))


def to_units(value: str) -> str:
    """``value`` with every character above U+FFFF split into its UTF-16 surrogate pair, so that
    ``len()`` counts units and ``encode("utf-8", "surrogatepass")`` gives CESU-8.

    Raises ``LocalProtocolError`` for a lone surrogate (it has no UTF-8 form).
    """
    if _SURROGATE.search(value):
        raise LocalProtocolError("string holds a lone UTF-16 surrogate, which has no UTF-8 encoding")
    return _ASTRAL.sub(_split_pair, value)


def chunk_end(units: str, start: int) -> int:
    """Where the chunk starting at ``start`` ends: ``CHUNK_UNITS`` on, one less if that would split
    a surrogate pair ("String chunks may not split surrogate pairs", 4.12)."""
    end = start + CHUNK_UNITS
    if "\ud800" <= units[end - 1] <= "\udbff":
        end -= 1
    return end
