"""Byte vectors from the Hessian 2.0 Serialization Protocol's examples (section 4), decoded whole and
with trailing bytes, and the canonical encodings the encoder picks (Caucho's Hessian2Output's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipework.codec.hessian import (
    Decoder,
    HessianObject,
    Long,
    RemoteProtocolError,
    TypedList,
    TypedMap,
    decode,
    encode,
)


def h(text: str) -> bytes:
    """Hex with spaces; ``'word'`` in quotes stands for its ASCII octets."""
    out = bytearray()
    for token in text.split():
        out += token[1:-1].encode() if token.startswith("'") else bytes.fromhex(token)
    return bytes(out)


def s(text: str) -> str:
    """A compact string (x00-x1f) as hex: its length octet then its ASCII octets."""
    return f"{len(text):02x} '{text}'"


MAY_8_1998 = datetime(1998, 5, 8, 9, 51, 31, tzinfo=UTC)

# (hex, value, canonical): the spec's example decodes to value; canonical says whether the encoder
# writes exactly these octets for it (the spec also shows longer forms that Java never writes).
SPEC: list[tuple[str, Any, bool]] = [
    # 4.1.2 binary
    ("20", b"", True),
    ("23 01 02 03", b"\x01\x02\x03", True),
    # 4.2.1 boolean
    ("54", True, True),
    ("46", False, True),
    # 4.3.2 date (the minute example's octets are wrong in the spec; see test_minute_date)
    ("4a 00 00 00 d0 4b 92 84 b8", MAY_8_1998, True),
    # 4.4.6 double
    ("5b", 0.0, True),
    ("5c", 1.0, True),
    ("5d 00", 0.0, False),
    ("5d 80", -128.0, True),
    ("5d 7f", 127.0, True),
    ("5e 00 00", 0.0, False),
    ("5e 80 00", -32768.0, True),
    ("5e 7f ff", 32767.0, True),
    ("44 40 28 80 00 00 00 00 00", 12.25, False),  # Java writes 12.25 as mills: 5f 00 00 2f da
    # 4.5.4 int
    ("90", 0, True),
    ("80", -16, True),
    ("bf", 47, True),
    ("c8 00", 0, False),
    ("c0 00", -2048, True),
    ("c7 00", -256, True),
    ("cf ff", 2047, True),
    ("d4 00 00", 0, False),
    ("d0 00 00", -262144, True),
    ("d7 ff ff", 262143, True),
    ("49 00 00 00 00", 0, False),
    ("49 00 00 01 2c", 300, False),
    # 4.6.2 list
    (f"56 {s('[int')} 92 90 91", TypedList("[int", [0, 1]), False),
    ("57 90 91 5a", [0, 1], False),
    # 4.7.5 long (the 32-bit form is x59 'Y', as the grammar says; 4.7.4's "x4c" is a typo)
    ("e0", Long(0), True),
    ("d8", Long(-8), True),
    ("ef", Long(15), True),
    ("f8 00", Long(0), False),
    ("f0 00", Long(-2048), True),
    ("f7 00", Long(-256), True),
    ("ff ff", Long(2047), True),
    ("3c 00 00", Long(0), False),
    ("38 00 00", Long(-262144), True),
    ("3f ff ff", Long(262143), True),
    ("59 00 00 00 00", Long(0), False),
    ("59 00 00 01 2c", Long(300), False),
    ("4c 00 00 00 00 00 00 01 2c", Long(300), False),
    # 4.8.1 map
    ("48 91 03 'fee' a0 03 'fie' c9 00 03 'foe' 5a", {1: "fee", 16: "fie", 256: "foe"}, True),
    ("4d 13 'com.caucho.test.Car' 05 'color' 0a 'aquamarine' 05 'model' 06 'Beetle' 07 'mileage' "
     "49 00 01 00 00 5a",
     TypedMap("com.caucho.test.Car", {"color": "aquamarine", "model": "Beetle", "mileage": 65536}), False),
    # 4.9 null
    ("4e", None, True),
    # 4.12.2 string
    ("00", "", True),
    ("05 'hello'", "hello", True),
    ("01 c3 83", "\u00c3", True),
    ("53 00 05 'hello'", "hello", False),
    ("52 00 07 'hello,' 20 05 'world'", "hello, world", False),  # 20: the chunk's space
]


@pytest.mark.parametrize(("hexes", "value", "canonical"), SPEC, ids=[v for v, *_ in SPEC])
def test_spec_vector(hexes: str, value: Any, canonical: bool) -> None:
    data = h(hexes)
    got = decode(data)
    assert got == value
    assert type(got) is type(value)
    if canonical:
        assert encode(value) == data
    assert decode(encode(got)) == value


@pytest.mark.parametrize(("hexes", "value", "canonical"), SPEC, ids=[v for v, *_ in SPEC])
def test_spec_vector_with_trailing_bytes(hexes: str, value: Any, canonical: bool) -> None:
    data = h(hexes)
    d = Decoder(data + b"\x91\xff")
    assert d.read() == value
    assert d.pos == len(data)
    assert d.read() == 1
    with pytest.raises(RemoteProtocolError, match="octets after the value"):
        decode(data + b"\x4e")


def test_large_binary_chunks() -> None:
    """4.1.2: "B x10 x00 ...." is a 4k final chunk; "A x04 x00 ...." a 1k non-final chunk."""
    four_k = bytes(range(256)) * 16
    assert decode(b"B\x10\x00" + four_k) == four_k
    assert encode(four_k) == b"B\x10\x00" + four_k
    one_k = b"\x07" * 1024
    assert decode(b"A\x04\x00" + one_k + h("23 01 02 03")) == one_k + b"\x01\x02\x03"
    assert decode(h("34 10") + b"x" * 16) == b"x" * 16  # x34-x37 b0: 16..1023 octets
    assert encode(b"x" * 16) == h("34 10") + b"x" * 16


def test_minute_date() -> None:
    """4.3.1: x4b b3 b2 b1 b0 is minutes since the epoch. The spec's example octets (4b 92 0b a0)
    are not 09:51 on May 8 1998; 14910351 minutes (0x00e3838f) are."""
    minute = datetime(1998, 5, 8, 9, 51, tzinfo=UTC)
    assert decode(h("4b 00 e3 83 8f")) == minute
    assert encode(minute) == h("4b 00 e3 83 8f")


def test_double_mills() -> None:
    """x5f: Java writes a double that is a whole number of thousandths as an int of them."""
    assert decode(h("5f 00 00 2f da")) == 12.25
    assert encode(12.25) == h("5f 00 00 2f da")
    assert encode(-0.001) == h("5f ff ff ff ff")


def test_typed_lists_share_their_type() -> None:
    """4.6.2 "fixed-length type": the second list refers to the first one's type as #0."""
    d = Decoder(h(f"72 {s('[int')} 90 91 73 90 92 93 94"))
    first, second = d.read(), d.read()
    assert first == TypedList("[int", [0, 1])
    assert second == TypedList("[int", [2, 3, 4])
    assert second.type_name == "[int"
    assert d.at_end()


def test_object_definitions() -> None:
    """4.10.3: a class definition, an object in long form and one in short form."""
    data = h(f"43 {s('example.Car')} 92 {s('color')} {s('model')} "
             f"4f 90 {s('red')} {s('corvette')} 60 {s('green')} {s('civic')}")
    d = Decoder(data)
    assert d.read() == HessianObject("example.Car", {"color": "red", "model": "corvette"})
    assert d.read() == HessianObject("example.Car", {"color": "green", "model": "civic"})
    assert d.at_end()


def test_enum_objects_and_ref() -> None:
    """4.10.3 enums: RED, GREEN, BLUE, then a ref to object #1 (GREEN)."""
    data = h(f"43 {s('example.Color')} 91 {s('name')} 60 {s('RED')} 60 {s('GREEN')} 60 {s('BLUE')} 51 91")
    d = Decoder(data)
    red, green, blue, again = d.read(), d.read(), d.read(), d.read()
    assert [red["name"], green["name"], blue["name"]] == ["RED", "GREEN", "BLUE"]
    assert again is green


def test_circular_list() -> None:
    """4.11.1: an object whose field refers to itself (the spec's 'o' is Hessian 1's; 2.0 has 'O')."""
    data = h(f"43 {s('LinkedList')} 92 {s('head')} {s('tail')} 4f 90 91 51 90")
    node = decode(data)
    assert node.type_name == "LinkedList"
    assert node["head"] == 1
    assert node["tail"] is node
    assert encode(node) == h(f"43 {s('LinkedList')} 92 {s('head')} {s('tail')} 60 91 51 90")


CANONICAL: list[tuple[Any, str]] = [
    (48, "c8 30"),
    (-17, "c7 ef"),
    (2048, "d4 08 00"),
    (-262145, "49 ff fb ff ff"),
    (2**31 - 1, "49 7f ff ff ff"),
    (2**31, "4c 00 00 00 00 80 00 00 00"),  # a plain int too big for 32 bits becomes a long
    (Long(16), "f8 10"),
    (Long(-262145), "59 ff fb ff ff"),
    (Long(2**31), "4c 00 00 00 00 80 00 00 00"),
    (128.0, "5e 00 80"),
    (32768.0, "5f 01 f4 00 00"),  # past a short: mills
    (0.1, "5f 00 00 00 64"),
    (-0.0, "44 80 00 00 00 00 00 00 00"),  # kept whole so the sign survives (Java writes 5b)
    (1e300, "44 7e 37 e4 3c 88 00 75 9c"),
    ("a" * 32, "30 20" + " 61" * 32),
    ([], "78"),
    ([None] * 8, "58 98" + " 4e" * 8),
    (TypedList("[int", []), f"70 {s('[int')}"),
    (TypedList("[int", [0] * 8), f"56 {s('[int')} 98" + " 90" * 8),
    ({}, "48 5a"),
    (TypedMap("java.util.TreeMap", {"a": 1}), f"4d {s('java.util.TreeMap')} 01 'a' 91 5a"),
    (datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC), "4a 00 00 00 00 00 00 00 01"),
    (b"y" * 1023, "37 ff" + " 79" * 1023),
]


@pytest.mark.parametrize(("value", "hexes"), CANONICAL, ids=[repr(v)[:20] for v, _ in CANONICAL])
def test_canonical_encoding(value: Any, hexes: str) -> None:
    data = h(hexes)
    assert encode(value) == data
    assert decode(data) == value
    assert encode(decode(data)) == data
