"""read_field: one field out of raw bytes, the last occurrence winning, nested paths, groups."""

from __future__ import annotations

import pytest

from pipework.codec.protobuf import (
    DEFAULT_MAX_DEPTH,
    Field,
    LocalProtocolError,
    RemoteProtocolError,
    StatusCode,
    WireType,
    decode_fields,
    encode_fields,
    read_field,
    read_fields,
)

V, I64, LEN, SG, I32 = WireType.VARINT, WireType.I64, WireType.LEN, WireType.SGROUP, WireType.I32

# A request: header (1) { tenant (1): "acme", shard (2): 7 }, id (2): 150, a fixed32 (3), a
# double (4), a group (5) { note (6): "n" }, tags (7) twice.
HEADER = [Field(1, LEN, b"acme"), Field(2, V, 7)]
REQUEST = encode_fields([
    Field(1, LEN, encode_fields(HEADER)), Field(2, V, 150), Field(3, I32, 0xDEADBEEF),
    Field(4, I64, 0x3FF0000000000000), Field(5, SG, [Field(6, LEN, b"n")]),
    Field(7, LEN, b"a"), Field(7, LEN, b"b"),
])


@pytest.mark.parametrize(("path", "expected"), [
    ((2,), Field(2, V, 150)),
    ((3,), Field(3, I32, 0xDEADBEEF)),
    ((4,), Field(4, I64, 0x3FF0000000000000)),
    ((1,), Field(1, LEN, encode_fields(HEADER))),
    ((1, 1), Field(1, LEN, b"acme")),
    ((1, 2), Field(2, V, 7)),
    ((5,), Field(5, SG, [Field(6, LEN, b"n")])),
    ((5, 6), Field(6, LEN, b"n")),
    ((7,), Field(7, LEN, b"b")),
    ((8,), None),
    ((1, 3), None),
    ((2, 1), None),  # a varint is not a container: skipped, as protobuf would
])
def test_paths(path: tuple[int, ...], expected: Field | None) -> None:
    assert read_field(REQUEST, *path) == expected
    assert read_field(bytearray(REQUEST), *path) == expected
    assert read_field(memoryview(REQUEST), *path) == expected


def test_read_fields_gives_every_occurrence() -> None:
    assert read_fields(REQUEST, 7) == [Field(7, LEN, b"a"), Field(7, LEN, b"b")]
    assert read_fields(REQUEST, 9) == []
    repeated = bytes.fromhex("28 01 28 02 28 03")
    assert read_fields(repeated, 5) == [Field(5, V, 1), Field(5, V, 2), Field(5, V, 3)]


def test_last_one_wins() -> None:
    """A singular field sent twice: protobuf keeps the last, so routing must too."""
    data = bytes.fromhex("08 01 10 05 08 02")
    assert read_field(data, 1) == Field(1, V, 2)


def test_split_message_fields_merge() -> None:
    """Two occurrences of a message field merge (their concatenation): the inner last one wins,
    and an inner field present only in the first occurrence still counts."""
    first = encode_fields([Field(1, LEN, b"alpha"), Field(2, V, 1)])
    second = encode_fields([Field(1, LEN, b"beta")])
    data = encode_fields([Field(1, LEN, first), Field(3, V, 0), Field(1, LEN, second)])
    assert read_field(data, 1, 1) == Field(1, LEN, b"beta")
    assert read_field(data, 1, 2) == Field(2, V, 1)
    merged = decode_fields(first + second)
    assert read_field(first + second, 1) == merged[-1]


def test_nested_group_paths() -> None:
    data = encode_fields([Field(1, SG, [Field(2, SG, [Field(3, V, 9)]), Field(4, LEN, b"x")])])
    assert read_field(data, 1, 2, 3) == Field(3, V, 9)
    assert read_field(data, 1, 4) == Field(4, LEN, b"x")
    assert read_field(data, 1, 2) == Field(2, SG, [Field(3, V, 9)])


def test_skipped_values_are_not_parsed() -> None:
    """The inside of a LEN value we jump over may be anything."""
    data = encode_fields([Field(1, LEN, b"\xff\xff\xff"), Field(2, V, 3)])
    assert read_field(data, 2) == Field(2, V, 3)
    with pytest.raises(RemoteProtocolError):
        read_field(data, 1, 1)  # ... unless the path goes into it


def test_trailing_garbage_on_the_walked_level_is_refused() -> None:
    """Finding the last occurrence means walking the whole level: a broken tail is an error."""
    with pytest.raises(RemoteProtocolError):
        read_field(bytes.fromhex("08 01 12 05 61"), 1)
    with pytest.raises(RemoteProtocolError):
        read_field(bytes.fromhex("08 01 80"), 1)


@pytest.mark.parametrize("hexed", [
    "0c", "0b 14", "0b 08 01", "0e 00", "00", "12 08 01", "0d 01 02", "09 01", "08",
    "ff ff ff ff ff ff ff ff ff ff 01",
])
def test_malformed_levels(hexed: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        read_field(bytes.fromhex(hexed), 1)
    assert info.value.status is StatusCode.INTERNAL


def test_depth() -> None:
    deep = b"\x0b" * (DEFAULT_MAX_DEPTH + 1) + b"\x0c" * (DEFAULT_MAX_DEPTH + 1)
    with pytest.raises(RemoteProtocolError, match="max_depth") as info:
        read_field(deep, 2)
    assert info.value.status is StatusCode.RESOURCE_EXHAUSTED
    ok = b"\x0b" * DEFAULT_MAX_DEPTH + b"\x0c" * DEFAULT_MAX_DEPTH
    assert read_field(ok, 2) is None
    assert read_field(ok, 1) is not None
    with pytest.raises(RemoteProtocolError):
        read_field(ok, 2, max_depth=DEFAULT_MAX_DEPTH - 1)


def test_bad_paths_are_the_callers_error() -> None:
    for path in [(), (0,), (1, 2**29), (True,)]:
        with pytest.raises(LocalProtocolError):
            read_field(REQUEST, *path)
