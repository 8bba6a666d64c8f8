"""RESP's lines and numbers: the strict readers the decoder applies to each part of a value.

Theory of operation: the decoder finds a line (the bytes between the type byte and CRLF) and
hands it here with its type byte. Lengths, counts and numbers are matched by regular expressions
before ``int()`` or ``float()`` sees them, because those accept more than RESP does (``" 5"``,
``"+5"``, ``"5_0"``, ``"infinity"``) and ``int()`` of thousands of digits is slow: every value
has one encoding, which is what makes ``encode(decode(b)) == b`` hold. Failures raise
RemoteProtocolError in Redis's words where Redis has them.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import RemoteProtocolError, protocol_error
from .values import (
    MAX_INTEGER,
    MIN_INTEGER,
    NULL,
    RESP3,
    Array,
    Attribute,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Double,
    Integer,
    Map,
    Push,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
)

#: Python refuses ``int()`` of more than 4300 digits (sys.int_info.default_max_str_digits) to
#: avoid its quadratic conversion; a big number longer than this is refused before converting.
MAX_BIG_NUMBER_DIGITS: Final = 4000
_LENGTH: Final = re.compile(rb"0|[1-9][0-9]{0,18}")
_INTEGER: Final = re.compile(rb"0|-?[1-9][0-9]{0,18}")
_BIG: Final = re.compile(rb"0|-?[1-9][0-9]*")
# RESP3 "Double": "an integral part, an optional fractional part and an optional exponent part";
# plus inf, -inf and nan, and the NaN spellings older Redis versions sent ("-nan", "NAN", "nan(x)").
_DOUBLE: Final = re.compile(rb"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SPECIAL_DOUBLE: Final = re.compile(rb"(?i:(?P<sign>[+-]?)(?:(?P<inf>inf(?:inity)?)|nan(?:\([0-9a-z_]*\))?))")

_BLOBS: Final = frozenset(b"$!=")
_RESP2_TYPES: Final = frozenset(b"+-:$*")
_STAR, _DOLLAR, _PIPE, _PERCENT, _TILDE = b"*$|%~"


def resp3_only(kind: int) -> RemoteProtocolError:
    return protocol_error(f"type byte {chr(kind)!r} is RESP3 only", f"unexpected '{chr(kind)}' in RESP2")


def parse_length(line: bytes, kind: int, limit: int) -> int:
    """A length or count line: "0" or digits without a leading zero; "-1" (a RESP2 null) after
    ``$`` and ``*`` only. Over ``limit`` is refused with Redis's words for it."""
    bulk = kind in _BLOBS
    if line == b"-1" and kind in (_DOLLAR, _STAR):
        return -1
    if not _LENGTH.fullmatch(line):
        raise protocol_error(f"{chr(kind)!r} length {line[:40]!r} is not a number",
                             "invalid bulk length" if bulk else "invalid multibulk length")
    size = int(line)
    if size > limit:
        raise protocol_error(f"{chr(kind)!r} length {size} exceeds the limit of {limit}",
                             "invalid bulk length" if bulk else "invalid multibulk length")
    return size


def make_blob(kind: int, data: bytes) -> Value:
    if kind == _DOLLAR:
        return BulkString(data)
    if kind == 0x21:  # !
        return BulkError(data)
    # RESP3 "Verbatim string": "the first three bytes provide information about the format ...
    # The fourth byte is always ':'".
    if len(data) < 4 or data[3] != 0x3A:
        raise protocol_error(f"verbatim string {data[:8]!r} lacks its 'xxx:' format",
                             "invalid verbatim string")
    return VerbatimString(data[:3], data[4:])


def make_aggregate(kind: int, items: list[Value]) -> Value:
    if kind == _STAR:
        return Array(tuple(items))
    if kind in (_PERCENT, _PIPE):
        value = items.pop() if kind == _PIPE else None
        it = iter(items)
        pairs = tuple(zip(it, it, strict=True))
        return Map(pairs) if value is None else Attribute(pairs, value)
    return Set(tuple(items)) if kind == _TILDE else Push(tuple(items))


def _double(line: bytes) -> float:
    if _DOUBLE.fullmatch(line):
        return float(line)
    special = _SPECIAL_DOUBLE.fullmatch(line)
    if special is None:
        raise protocol_error(f"double {line[:40]!r} is not a number", "invalid double")
    if special["inf"]:
        return float("-inf") if special["sign"] == b"-" else float("inf")
    return float("nan")




def parse_simple(kind: int, line: bytes, protocol: int) -> Value:
    if protocol != RESP3 and kind not in _RESP2_TYPES:
        raise resp3_only(kind)
    if kind == 0x2B or kind == 0x2D:  # + -
        if b"\r" in line or b"\n" in line:
            raise protocol_error("CR or LF inside a simple string or error", "invalid simple string")
        return SimpleString(line) if kind == 0x2B else SimpleError(line)
    if kind == 0x3A:  # :
        if not _INTEGER.fullmatch(line) or not MIN_INTEGER <= (number := int(line)) <= MAX_INTEGER:
            raise protocol_error(f"integer {line[:40]!r} is not a signed 64-bit number",
                                 "invalid integer")
        return Integer(number)
    if kind == 0x5F and not line:  # _
        return NULL
    if kind == 0x23 and (line == b"t" or line == b"f"):  # #
        return Boolean(line == b"t")
    if kind == 0x2C:  # ,
        return Double(_double(line))
    if kind == 0x28:  # (
        if len(line) > MAX_BIG_NUMBER_DIGITS or not _BIG.fullmatch(line):
            raise protocol_error(f"big number {line[:40]!r} is not an integer of at most "
                                 f"{MAX_BIG_NUMBER_DIGITS} digits", "invalid big number")
        return BigNumber(int(line))
    if kind == 0x5F or kind == 0x23:
        raise protocol_error(f"{chr(kind)!r} line with {line[:40]!r}", f"invalid '{chr(kind)}' line")
    raise protocol_error(f"unknown type byte {kind:#04x}", f"unknown type byte '{chr(kind)}'")
