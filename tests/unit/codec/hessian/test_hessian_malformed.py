"""Truncated and hostile input raises RemoteProtocolError (TruncatedError when it merely stops
short); values Hessian cannot carry raise LocalProtocolError."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from pipework.codec.hessian import (
    DEFAULT_MAX_DEPTH,
    Decoder,
    Encoder,
    HessianError,
    HessianObject,
    LocalProtocolError,
    RemoteProtocolError,
    TruncatedError,
    TypedList,
    decode,
    encode,
)


def s(text: str) -> bytes:
    return bytes((len(text),)) + text.encode()


SAMPLES: list[Any] = [
    -300, 2**40, 12.25, 1e300, "héllo", "x" * 40, b"\x00" * 20, [1, [2, None]],
    TypedList("[int", [1, 2, 3]), {"k": [True, False]},
    HessianObject("a.B", {"x": 1, "y": "z"}), datetime.fromtimestamp(1.5e9).astimezone(),
]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_every_proper_prefix_is_truncated(value: Any) -> None:
    data = encode(value)
    for cut in range(len(data)):
        with pytest.raises(TruncatedError):
            decode(data[:cut])


HOSTILE: list[tuple[bytes, str]] = [
    (b"V" + s("[int") + b"I\x7f\xff\xff\xff", "list length 2147483647"),
    (b"X\x8f", "negative list length"),
    (b"X" + s("2"), "list length that is not an int"),
    (b"S\xff\xff" + b"a" * 10, "string chunk longer than the data"),
    (b"B\xff\xff" + b"a" * 10, "binary chunk longer than the data"),
    (b"A\x00\x01a" + b"\x91", "binary chunk followed by an int"),
    (b"Q\x90", "reference with nothing stored"),
    (b"\x79Q\x91", "reference past the stored values"),
    (b"Q\x8f", "negative reference"),
    (b"Q" + s("0"), "reference that is not an int"),
    (b"\x60", "object of an undefined class"),
    (b"O\x8f", "object of a negative class"),
    (b"C" + s("a") + b"\x90" + b"O\xd7\xff\xff", "object of class 262143"),
    (b"CN\x90\x60", "class with a null name"),
    (b"C" + s("a") + b"\x92" + s("x") + s("x") + b"\x60\x91\x92", "repeated field name"),
    (b"C" + s("a") + b"\x91N\x60\x91", "null field name"),
    (b"C" + s("a") + b"I\x7f\xff\xff\xff", "field count 2147483647"),
    (b"C" + s("a") + b"\x8f\x60", "negative field count"),
    (b"\x71\x95\x91", "type reference with no types"),
    (b"\x71T\x91", "type that is neither string nor int"),
    (b"H\x78\x91Z", "map key that is a list"),
    (b"H\x91Z", "map with a key and no value"),
    (b"Z", "terminator outside a list"),
    (b"\x40", "reserved x40"),
    (b"\x45", "reserved x45"),
    (b"\x47", "reserved x47"),
    (b"\x50", "reserved x50"),
    (b"J\x7f\xff\xff\xff\xff\xff\xff\xff", "date past year 9999"),
    (b"K\x80\x00\x00\x00", "date before year 1"),
]


@pytest.mark.parametrize(("data", "why"), HOSTILE, ids=[why for _, why in HOSTILE])
def test_hostile_input_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(data)


def test_huge_announced_length_fails_before_reading() -> None:
    with pytest.raises(TruncatedError, match="exceeds the 0 octets left"):
        decode(b"X\xd7\xff\xff")


def test_nesting_limit() -> None:
    assert decode(b"\x79" * DEFAULT_MAX_DEPTH + b"N") is not None
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        decode(b"\x79" * (DEFAULT_MAX_DEPTH + 1) + b"N")
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        decode(b"H\x90" * 5000 + b"N")  # far past the limit: an error, never a RecursionError


def test_reference_limit() -> None:
    d = Decoder(b"\x78" * 4, max_refs=3)
    for _ in range(3):
        d.read()
    with pytest.raises(RemoteProtocolError, match="more than 3 lists"):
        d.read()


def test_class_limit_stops_a_run_of_definitions() -> None:
    data = (b"C" + s("a") + b"\x90") * 5000 + b"N"
    with pytest.raises(RemoteProtocolError, match="class definitions"):
        decode(data)
    with pytest.raises(RemoteProtocolError, match="more than 2 class"):
        decode((b"C" + s("a") + b"\x90") * 3 + b"N", max_classes=2)


def test_type_limit() -> None:
    data = b"\x7b" + b"".join(b"\x70" + s(f"t{i}") for i in range(3))
    assert len(decode(data)) == 3
    with pytest.raises(RemoteProtocolError, match="more than 2 type strings"):
        decode(data, max_types=2)


def test_map_and_list_without_terminator_are_truncated() -> None:
    for data in (b"H\x91\x92", b"W\x91", b"U" + s("t") + b"\x91", b"M" + s("t")):
        with pytest.raises(TruncatedError):
            decode(data)


def test_typed_accessors_refuse_other_values() -> None:
    with pytest.raises(RemoteProtocolError, match="expected a string"):
        Decoder(b"\x91").read_string()
    with pytest.raises(RemoteProtocolError, match="expected an int"):
        Decoder(b"\x01a").read_int()
    with pytest.raises(TruncatedError):
        Decoder(b"").read()


LOCAL: list[tuple[Any, str]] = [
    (2**63, "does not fit a 64-bit"),
    (-(2**63) - 1, "does not fit a 64-bit"),
    (datetime(2020, 1, 1), "naive datetime"),
    (object(), "cannot encode"),
    ({1, 2}, "cannot encode"),
    ("a\udc00", "lone UTF-16 surrogate"),
    ({"k": [2**64]}, "does not fit"),
]


@pytest.mark.parametrize(("value", "match"), LOCAL, ids=[m for _, m in LOCAL])
def test_values_hessian_cannot_carry(value: Any, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode(value)


def test_encoder_depth_limit() -> None:
    deep: list[Any] = []
    for _ in range(DEFAULT_MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(LocalProtocolError, match="nested deeper"):
        encode(deep)
    Encoder(max_depth=DEFAULT_MAX_DEPTH + 2).write(deep)


def test_error_family() -> None:
    with pytest.raises(TypeError):
        HessianError("abstract")
    assert issubclass(TruncatedError, RemoteProtocolError)
    assert issubclass(LocalProtocolError, HessianError)
    assert issubclass(RemoteProtocolError, HessianError)
