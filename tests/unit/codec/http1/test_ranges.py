"""Byte ranges: the forms RFC 9110 14.1.2 gives, with the answers nginx gives for the odd ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipework.codec.http1.ranges import (
    NOT_SATISFIABLE,
    byte_range,
    content_range,
    if_range_holds,
    range_start,
)


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        (b"bytes=0-499", 10000, (0, 499)),  # the first 500 bytes (RFC 9110 14.1.2)
        (b"bytes=500-999", 10000, (500, 999)),
        (b"bytes=-500", 10000, (9500, 9999)),  # the final 500
        (b"bytes=9500-", 10000, (9500, 9999)),
        (b"bytes=0-0", 10000, (0, 0)),
        (b"bytes=-1", 10000, (9999, 9999)),
        (b"bytes=0-99999", 10000, (0, 9999)),  # past the end: up to it
        (b"bytes=-99999", 10000, (0, 9999)),  # a suffix longer than the whole
        (b" Bytes=1-2 ", 10, (1, 2)),  # the unit is case-insensitive; spaces around the value
        (b"bytes=10-", 10, NOT_SATISFIABLE),  # starts at the end
        (b"bytes=5-3", 10, NOT_SATISFIABLE),
        (b"bytes=-0", 10, NOT_SATISFIABLE),
        (b"bytes=0-", 0, NOT_SATISFIABLE),  # nothing to give
        (b"bytes=0-1,4-5", 10, None),  # several ranges: the whole
        (b"items=0-1", 10, None),  # another unit
        (b"bytes=abc", 10, None),
        (b"bytes=-", 10, None),
        (b"bytes=1", 10, None),
        (b"bytes=+1-2", 10, None),
        (b"bytes=1_0-2", 100, None),
        (b"bytes=-5-", 10, None),
    ],
)
def test_byte_range(value: bytes, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(value, size) == expected


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
def test_a_satisfiable_range_lies_within_the_representation(first: int, last: int, size: int) -> None:
    r = byte_range(b"bytes=%d-%d" % (first, last), size)
    if first < size and first <= last:
        assert r == (first, min(last, size - 1))
        assert 0 <= r[0] <= r[1] < size
    else:
        assert r == NOT_SATISFIABLE


def test_if_range() -> None:
    date = b"Tue, 15 Nov 1994 08:12:31 GMT"
    assert if_range_holds(b'"v1"', b'"v1"', None)
    assert not if_range_holds(b'"v2"', b'"v1"', date)
    assert not if_range_holds(b'W/"v1"', b'W/"v1"', None)  # weak tags never match (13.1.5)
    assert not if_range_holds(b'"v1"', b'W/"v1"', None)
    assert if_range_holds(date, b'"v1"', date)
    assert not if_range_holds(b"Tue, 15 Nov 1994 08:12:32 GMT", None, date)
    assert not if_range_holds(date, b'"v1"', None)


def test_range_start() -> None:
    assert range_start(b"bytes=500-999") == 500
    assert range_start(b"bytes=9500-") == 9500
    assert range_start(b"bytes=-500") is None
    assert range_start(b"bytes=0-1,4-5") is None
    assert range_start(b"items=5-") is None


def test_content_range() -> None:
    assert content_range(0, 499, 1234) == (b"content-range", b"bytes 0-499/1234")
