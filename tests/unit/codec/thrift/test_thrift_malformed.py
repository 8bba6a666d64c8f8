"""Bytes that break Thrift raise RemoteProtocolError with the right TProtocolException type; values the
wire cannot carry raise LocalProtocolError. Hostile sizes and nesting are refused before any work."""

from __future__ import annotations

import struct
import time
from typing import Any
from uuid import UUID

import pytest

from pipework.codec.thrift import (
    ApplicationErrorType,
    Limits,
    LocalProtocolError,
    Message,
    MessageType,
    Protocol,
    ProtocolErrorType,
    RemoteProtocolError,
    Struct,
    TList,
    TMap,
    TSet,
    TType,
    decode_message,
    decode_struct,
    encode_message,
    encode_struct,
    skip,
)

B, C = Protocol.BINARY, Protocol.COMPACT
PE = ProtocolErrorType
RICH = Message("rich", MessageType.CALL, 5, {
    1: (TType.STRUCT, {1: (TType.I64, 1 << 40), 2: (TType.STRING, b"name"), 3: (TType.BOOL, False)}),
    2: (TType.LIST, TList(TType.I32, [1, -2, 3])),
    3: (TType.MAP, TMap(TType.STRING, TType.STRUCT, [(b"k", {1: (TType.DOUBLE, 0.5)})])),
    4: (TType.SET, TSet(TType.UUID, [UUID(int=7)])),
    5: (TType.LIST, TList(TType.BOOL, [True, False])),
    6: (TType.I16, -300),
    7: (TType.BYTE, 3),
})


@pytest.mark.parametrize("protocol", [B, C])
def test_every_truncation_is_refused(protocol: Protocol) -> None:
    data = encode_message(RICH, protocol)
    assert decode_message(data, protocol) == RICH
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError) as info:
            decode_message(data[:cut], protocol)
        assert info.value.protocol_type is PE.INVALID_DATA


def test_trailing_bytes_in_a_whole_message() -> None:
    data = encode_message(RICH, B)
    with pytest.raises(RemoteProtocolError, match="1 bytes after the end"):
        decode_message(data + b"\x00", B)
    with pytest.raises(RemoteProtocolError, match="after the end of the struct"):
        decode_struct(b"\x00\x00", C)


def hb(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr.replace(" ", ""))


STRICT_PING = "80010001 00000004 70696e67 00000001"
CPT_PING = "82 21 01 04 70696e67"

# (protocol, hex, expected TProtocolException type, why)
BAD: list[tuple[Protocol, str, ProtocolErrorType, str]] = [
    (B, "80020001 00000004 70696e67 00000001 00", PE.BAD_VERSION, "version 2"),
    (B, "ffff0001 00000004 70696e67 00000001 00", PE.BAD_VERSION, "negative word, not a version"),
    (B, "80010001 ffffffff", PE.NEGATIVE_SIZE, "negative name length"),
    (B, "80010001 00001001", PE.SIZE_LIMIT, "name over 4096 bytes"),
    (B, "504f5354 202f2048 5454502f 312e310d0a", PE.SIZE_LIMIT, "HTTP, read as an old header"),
    (B, "80010001 00000002 c328 00000001 00", PE.INVALID_DATA, "name is not UTF-8"),
    (B, "80010009 00000004 70696e67 00000001 00", PE.INVALID_DATA, "message type 9"),
    (B, "00000004 70696e67 00 00000001 00", PE.INVALID_DATA, "message type 0, old header"),
    (B, f"{STRICT_PING} 07 0001 00", PE.INVALID_DATA, "type id 7 is no type"),
    (B, f"{STRICT_PING} 01 0001 00", PE.INVALID_DATA, "VOID is never a value"),
    (B, f"{STRICT_PING} 0b 0001 ffffffff 00", PE.NEGATIVE_SIZE, "negative string length"),
    (B, f"{STRICT_PING} 0b 0001 7fffffff 00", PE.SIZE_LIMIT, "2 GiB string"),
    (B, f"{STRICT_PING} 0f 0001 08 ffffffff 00", PE.NEGATIVE_SIZE, "negative list count"),
    (B, f"{STRICT_PING} 0f 0001 08 7fffffff 00", PE.SIZE_LIMIT, "two billion elements"),
    (B, f"{STRICT_PING} 0f 0001 08 00010000 00", PE.INVALID_DATA, "65536 i32s in 1 byte"),
    (B, f"{STRICT_PING} 0f 0001 11 00000000 00", PE.INVALID_DATA, "element type 17"),
    (B, f"{STRICT_PING} 0d 0001 08 00 00000000 00", PE.INVALID_DATA, "map value type 0"),
    (B, f"{STRICT_PING} 0e 0001 02 fffffff0 00", PE.NEGATIVE_SIZE, "negative set count"),
    (B, f"{STRICT_PING} 08 0001 00000001 08 0001 00000002 00", PE.INVALID_DATA, "field 1 twice"),
    (C, "83 21 01 04 70696e67 00", PE.BAD_VERSION, "protocol id 0x83"),
    (C, "82 22 01 04 70696e67 00", PE.BAD_VERSION, "compact version 2"),
    (C, "82 a1 01 04 70696e67 00", PE.INVALID_DATA, "message type 5"),
    (C, "82 21 ffffffffffffffffffff01 04 70696e67 00", PE.INVALID_DATA, "an 11-byte varint"),
    (C, "82 21 8080808010 04 70696e67 00", PE.INVALID_DATA, "seqid beyond 32 bits"),
    (C, "82 21 01 8120 00", PE.SIZE_LIMIT, "name over 4096 bytes"),
    (C, f"{CPT_PING} 10 00", PE.INVALID_DATA, "delta 1 with compact type 0"),
    (C, f"{CPT_PING} 1e 00", PE.INVALID_DATA, "compact type 14"),
    (C, f"{CPT_PING} 18 ffffffff07 00", PE.SIZE_LIMIT, "2 GiB string"),
    (C, f"{CPT_PING} 19 f5 ffffffff07 00", PE.SIZE_LIMIT, "two billion elements"),
    (C, f"{CPT_PING} 19 f5 8002 00", PE.INVALID_DATA, "256 i32s in 1 byte"),
    (C, f"{CPT_PING} 19 3e 00", PE.INVALID_DATA, "element type 14"),
    (C, f"{CPT_PING} 1b 01 80 00", PE.INVALID_DATA, "map key type 8 with value type 0"),
    (C, f"{CPT_PING} 19 11 03 00", PE.INVALID_DATA, "bool element 3"),
    (C, f"{CPT_PING} 15 ffffffff1f 00", PE.INVALID_DATA, "i32 varint beyond 32 bits"),
    (C, f"{CPT_PING} 14 ffff07 00", PE.INVALID_DATA, "i16 varint beyond 16 bits"),
    (C, f"{CPT_PING} 05 feff07 00 00", PE.INVALID_DATA, "field id beyond an i16"),
    (C, f"{CPT_PING} 05 feff03 00 15 00 00", PE.INVALID_DATA, "field id 32767 + 1 by delta"),
    (C, f"{CPT_PING} 15 02 15 02 15 02 05 02 02 00", PE.INVALID_DATA, "field 1 twice"),
]


@pytest.mark.parametrize(("protocol", "hexstr", "ptype", "why"), BAD, ids=[b[3] for b in BAD])
def test_bad_bytes(protocol: Protocol, hexstr: str, ptype: ProtocolErrorType, why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(hb(hexstr), protocol)
    assert info.value.protocol_type is ptype, info.value
    expected_app = (ApplicationErrorType.INVALID_MESSAGE_TYPE if "message type" in why
                    else ApplicationErrorType.PROTOCOL_ERROR)
    assert info.value.application_type is expected_app


def test_strict_refuses_the_old_header() -> None:
    old = hb("00000004 70696e67 01 00000001 00")
    assert decode_message(old, B).name == "ping"
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(old, B, strict=True)
    assert info.value.protocol_type is PE.BAD_VERSION


def nested(protocol: Protocol, depth: int, container: bool) -> bytes:
    """A struct holding a struct (or a list of one struct) ... ``depth`` levels deep."""
    inner: Struct = {}
    for _ in range(depth - 1):
        inner = {1: (TType.LIST, TList(TType.STRUCT, [inner]))} if container else {1: (TType.STRUCT, inner)}
    return encode_struct(inner, protocol, limits=Limits(max_depth=10_000))


@pytest.mark.parametrize("protocol", [B, C])
def test_depth_limit(protocol: Protocol) -> None:
    assert decode_struct(nested(protocol, 64, False), protocol)
    with pytest.raises(RemoteProtocolError) as info:
        decode_struct(nested(protocol, 65, False), protocol)
    assert info.value.protocol_type is PE.DEPTH_LIMIT
    # containers count as a level: 32 lists of structs are 64 levels below the first struct
    assert decode_struct(nested(protocol, 32, True), protocol)
    with pytest.raises(RemoteProtocolError):
        decode_struct(nested(protocol, 33, True), protocol)
    assert decode_struct(nested(protocol, 65, False), protocol, limits=Limits(max_depth=65))
    # skip draws the line at the same depth
    for depth, container in ((64, False), (32, True)):
        data = nested(protocol, depth, container)
        assert skip(data, protocol) == len(data)
        with pytest.raises(RemoteProtocolError):
            skip(nested(protocol, depth + 1, container), protocol)


@pytest.mark.parametrize("protocol", [B, C])
def test_hostile_depth_is_cheap_and_no_recursion_error(protocol: Protocol) -> None:
    # 100,000 bytes of "struct field 1 holding a struct ..." never reach Python's recursion limit.
    field = b"\x0c\x00\x01" if protocol is B else b"\x1c"
    start = time.perf_counter()
    with pytest.raises(RemoteProtocolError):
        decode_struct(field * 100_000, protocol)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("protocol", [B, C])
def test_limits_are_configurable(protocol: Protocol) -> None:
    fields: Struct = {1: (TType.STRING, b"x" * 100), 2: (TType.LIST, TList(TType.BYTE, [1] * 50))}
    data = encode_struct(fields, protocol)
    assert decode_struct(data, protocol, limits=Limits(max_string_size=100, max_container_size=50)) == fields
    with pytest.raises(RemoteProtocolError, match="string of 100 exceeds the limit of 99"):
        decode_struct(data, protocol, limits=Limits(max_string_size=99))
    with pytest.raises(RemoteProtocolError, match="container of 50 exceeds the limit of 49"):
        decode_struct(data, protocol, limits=Limits(max_container_size=49))


def test_huge_declared_count_costs_nothing() -> None:
    data = hb("0f 0001 0c 000f4240 00")  # a million structs announced in zero bytes
    start = time.perf_counter()
    for _ in range(1000):
        with pytest.raises(RemoteProtocolError):
            decode_struct(data, B)
    assert time.perf_counter() - start < 0.5


# (type, value to send, why it cannot be sent) under field 1; some values are not even a Value
UNSENDABLE: list[tuple[int, Any, str]] = [
    (TType.I32, 1 << 31, "i32 overflow"),
    (TType.I64, -(1 << 63) - 1, "i64 underflow"),
    (TType.I16, 40000, "i16 overflow"),
    (TType.BYTE, 128, "byte overflow"),
    (TType.I32, "1", "a str as i32"),
    (TType.I32, 1.5, "a float as i32"),
    (TType.BOOL, 1, "an int as bool"),
    (TType.STRING, 5, "an int as string"),
    (TType.STRING, "\ud800", "a lone surrogate"),
    (TType.DOUBLE, "x", "a str as double"),
    (TType.UUID, b"\x00" * 16, "bytes as uuid"),
    (TType.STRUCT, [1], "a list as struct"),
    (TType.STRUCT, {1: (TType.I32,)}, "a field without a value"),
    (TType.LIST, [1, 2], "a Python list as list"),
    (TType.LIST, TSet(TType.I32, []), "a TSet as list"),
    (TType.SET, TList(TType.I32, []), "a TList as set"),
    (TType.MAP, {1: 2}, "a dict as map"),
    (TType.LIST, TList(TType.STOP, []), "element type STOP"),
    (TType.LIST, TList(99, []), "element type 99"),
    (TType.MAP, TMap(TType.I32, 99, [(1, 2)]), "value type 99"),
    (TType.LIST, TList(TType.BOOL, [1]), "an int in a bool list"),
    (TType.LIST, TList(TType.I32, ["a"]), "a str in an i32 list"),
    (TType.STOP, 0, "type STOP"),
    (TType.VOID, None, "type VOID"),
    (99, 0, "type 99"),
]


@pytest.mark.parametrize("protocol", [B, C])
@pytest.mark.parametrize(("ttype", "value", "why"), UNSENDABLE, ids=[u[2] for u in UNSENDABLE])
def test_unsendable_values(protocol: Protocol, ttype: int, value: Any, why: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_struct({1: (ttype, value)}, protocol)


@pytest.mark.parametrize("protocol", [B, C])
def test_unsendable_messages(protocol: Protocol) -> None:
    with pytest.raises(LocalProtocolError):
        encode_struct({40000: (TType.I32, 1)}, protocol)
    with pytest.raises(LocalProtocolError):
        encode_struct([], protocol)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode_message(Message("m", 5, 1, {}), protocol)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode_message(Message("m", MessageType.CALL, 1 << 31, {}), protocol)
    with pytest.raises(LocalProtocolError):
        encode_message(Message(b"m", MessageType.CALL, 1, {}), protocol)  # type: ignore[arg-type]
    cyclic: Struct = {}
    cyclic[1] = (TType.STRUCT, cyclic)
    with pytest.raises(LocalProtocolError) as info:
        encode_struct(cyclic, protocol)
    assert info.value.protocol_type is PE.DEPTH_LIMIT


def test_binary_allows_any_nonzero_bool_and_compact_bools_in_lists() -> None:
    assert decode_struct(hb("02 0001 07 00"), B) == {1: (TType.BOOL, True)}
    # compact list elements: 1 is true, 2 (what writers send) and 0 are false
    bools = TList(TType.BOOL, [True, False, False])
    assert decode_struct(hb("19 31 01 02 00 00"), C) == {1: (TType.LIST, bools)}


def test_empty_map_types_survive_as_stop() -> None:
    empty = decode_struct(hb("1b 00 00"), C)
    assert empty == {1: (TType.MAP, TMap(TType.STOP, TType.STOP, []))}
    assert encode_struct(empty, B).hex() == "0d0001" "0000" "00000000" "00"
    assert decode_struct(encode_struct(empty, B), B) == empty
    with pytest.raises(RemoteProtocolError):
        decode_struct(hb("0d 0001 00 00 00000001 00"), B)  # not empty: the types matter


def test_struct_error_never_escapes_on_short_fixed_reads() -> None:
    for data in (b"\x08\x00", b"\x0a\x00\x01\x00", b"\x04\x00\x01" + struct.pack("!f", 1.0)):
        with pytest.raises(RemoteProtocolError):
            decode_struct(data, B)
    for data in (b"\x17\x00\x00", b"\x1d" + bytes(15), b"\x13"):
        with pytest.raises(RemoteProtocolError):
            decode_struct(data, C)
