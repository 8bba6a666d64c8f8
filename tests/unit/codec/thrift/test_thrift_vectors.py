"""Byte vectors laid out by the Thrift binary and compact protocol specs: each decodes to its message
and encodes back to the same bytes, fed whole, byte by byte and with trailing bytes, framed and not."""

from __future__ import annotations

from uuid import UUID

import pytest

from pipework.codec.thrift import (
    CLOSED,
    NEED_DATA,
    ApplicationErrorType,
    ApplicationException,
    Message,
    MessageType,
    Protocol,
    RawMessage,
    StreamDecoder,
    Struct,
    TList,
    TMap,
    Transport,
    TSet,
    TType,
    decode_message,
    decode_message_prefix,
    decode_struct,
    encode_message,
    encode_struct,
    frame,
)

B, C = Protocol.BINARY, Protocol.COMPACT
CALL, REPLY, EXCEPTION, ONEWAY = (
    MessageType.CALL, MessageType.REPLY, MessageType.EXCEPTION, MessageType.ONEWAY)

PING = Message("ping", CALL, 1, {})
ADD = Message("add", CALL, 7, {1: (TType.I32, 1), 2: (TType.I32, -2)})
ADD_REPLY = Message("add", REPLY, 7, {0: (TType.I32, -1)})
NOPE = Message("nope", EXCEPTION, 3, {1: (TType.STRING, b"unknown"), 2: (TType.I32, 1)})
LOG = Message("log", ONEWAY, 0, {
    1: (TType.LIST, TList(TType.STRING, [b"a", b"b"])),
    2: (TType.BOOL, True),
    3: (TType.MAP, TMap(TType.STRING, TType.I64, [(b"k", 300)])),
    4: (TType.BOOL, False),
    5: (TType.DOUBLE, 1.5),
    6: (TType.SET, TSet(TType.I16, [])),
})
IDS = Message("ids", CALL, -2, {
    -1: (TType.STRUCT, {1: (TType.UUID, UUID(int=0x0102)), 100: (TType.BYTE, -1)}),
})

# (protocol, strict header?, hex, message): the spec's layouts, written out by hand.
VECTORS: list[tuple[Protocol, bool, str, Message]] = [
    (B, True, "80010001 00000004 70696e67 00000001 00", PING),
    (B, False, "00000004 70696e67 01 00000001 00", PING),
    (C, True, "82 21 01 04 70696e67 00", PING),
    (B, True, "80010001 00000003 616464 00000007 08 0001 00000001 08 0002 fffffffe 00", ADD),
    (C, True, "82 21 07 03 616464 15 02 15 03 00", ADD),
    (B, True, "80010002 00000003 616464 00000007 08 0000 ffffffff 00", ADD_REPLY),
    # field 0 is not 1..15 above field "0" before it: the long form, ctype then zigzag id
    (C, True, "82 41 07 03 616464 05 00 01 00", ADD_REPLY),
    (B, True, "80010003 00000004 6e6f7065 00000003 0b 0001 00000007 756e6b6e6f776e 08 0002 00000001 00",
     NOPE),
    (C, True, "82 61 03 04 6e6f7065 18 07 756e6b6e6f776e 15 02 00", NOPE),
    (B, True, "80010004 00000003 6c6f67 00000000"
              " 0f 0001 0b 00000002 00000001 61 00000001 62"
              " 02 0002 01"
              " 0d 0003 0b 0a 00000001 00000001 6b 000000000000012c"
              " 02 0004 00"
              " 04 0005 3ff8000000000000"
              " 0e 0006 06 00000000"
              " 00", LOG),
    (C, True, "82 81 00 03 6c6f67"
              " 19 28 01 61 01 62"  # list: 2 << 4 | binary
              " 11"  # bool field true: no value byte
              " 1b 01 86 01 6b d804"  # map: count, key binary << 4 | i64, zigzag(300) = 600
              " 12"  # bool field false
              " 17 000000000000f83f"  # double little-endian
              " 1a 04"  # empty set of i16
              " 00", LOG),
    (B, True, "80010001 00000003 696473 fffffffe"
              " 0c ffff 10 0001 00000000000000000000000000000102 03 0064 ff 00 00", IDS),
    (C, True, "82 21 feffffff0f 03 696473"
              " 0c 01"  # struct, long form: zigzag(-1) = 1
              " 1d 00000000000000000000000000000102"  # uuid, delta 1 from 0
              " 03 c801 ff 00"  # byte, long form: zigzag(100) = 200
              " 00", IDS),
]
IDS_ = [f"{p.name.lower()}-{'strict' if s else 'old'}-{m.name}-{m.type.name}" for p, s, _, m in VECTORS]


def wire(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr.replace(" ", ""))


def drain(decoder: StreamDecoder) -> list[object]:
    out: list[object] = []
    while (event := decoder.next_event()) is not NEED_DATA:
        out.append(event)
        if event is CLOSED:
            break
    return out


@pytest.mark.parametrize(("protocol", "strict", "hexstr", "message"), VECTORS, ids=IDS_)
def test_vector_decodes_and_encodes(protocol: Protocol, strict: bool, hexstr: str, message: Message) -> None:
    data = wire(hexstr)
    assert decode_message(data, protocol) == message
    assert decode_message(bytearray(data), protocol) == message
    assert decode_message(memoryview(data), protocol) == message
    assert encode_message(message, protocol, strict=strict) == data
    assert encode_message(message, protocol, strict=strict, framed=True) == frame(data)


@pytest.mark.parametrize(("protocol", "strict", "hexstr", "message"), VECTORS, ids=IDS_)
def test_vector_with_trailing_bytes(protocol: Protocol, strict: bool, hexstr: str, message: Message) -> None:
    data = wire(hexstr)
    assert decode_message_prefix(data + b"\x80\x01trailing", protocol) == (message, len(data))


@pytest.mark.parametrize("transport", [Transport.FRAMED, Transport.UNFRAMED])
@pytest.mark.parametrize(("protocol", "strict", "hexstr", "message"), VECTORS, ids=IDS_)
def test_vector_through_the_stream_decoder(
    protocol: Protocol, strict: bool, hexstr: str, message: Message, transport: Transport
) -> None:
    data = wire(hexstr)
    unit = frame(data) if transport is Transport.FRAMED else data
    # whole, then twice in one chunk
    decoder = StreamDecoder(protocol, transport)
    decoder.receive_data(unit)
    assert drain(decoder) == [message]
    decoder.receive_data(unit + unit)
    assert drain(decoder) == [message, message]
    # byte by byte: nothing comes out before the last byte
    decoder = StreamDecoder(protocol, transport)
    for i in range(len(unit)):
        assert decoder.next_event() is NEED_DATA
        decoder.receive_data(unit[i:i + 1])
    assert drain(decoder) == [message]
    # with the start of the next message behind it, then EOF inside that one
    decoder = StreamDecoder(protocol, transport)
    decoder.receive_data(unit + unit[:3])
    assert drain(decoder) == [message]
    assert decoder.buffered == 3
    decoder.receive_data(unit[3:])
    decoder.receive_data(b"")
    assert drain(decoder) == [message, CLOSED]


@pytest.mark.parametrize(("protocol", "strict", "hexstr", "message"), VECTORS, ids=IDS_)
def test_raw_message_keeps_the_bytes(protocol: Protocol, strict: bool, hexstr: str, message: Message) -> None:
    data = wire(hexstr)
    for transport, unit in ((Transport.FRAMED, frame(data)), (Transport.UNFRAMED, data)):
        decoder = StreamDecoder(protocol, transport)
        decoder.receive_data(unit)
        raw = decoder.next_raw()
        assert isinstance(raw, RawMessage)
        assert raw.data == data
        header = raw.header
        assert (header.name, header.type, header.seqid) == (message.name, message.type, message.seqid)
        assert decode_struct(data[raw.header.body_offset:], protocol) == message.body


def test_application_exception_vector() -> None:
    exc = ApplicationException.from_message(decode_message(wire(VECTORS[7][2]), B))
    assert exc == ApplicationException(ApplicationErrorType.UNKNOWN_METHOD, "unknown")
    assert exc.type is ApplicationErrorType.UNKNOWN_METHOD
    assert exc.to_struct() == NOPE.body


def test_struct_vectors() -> None:
    fields: Struct = {1: (TType.STRING, b"x"), 3: (TType.BOOL, True), 2: (TType.I64, -1)}
    assert encode_struct(fields, B).hex() == "0b000100000001" "78" "020003" "01" "0a0002ffffffffffffffff" "00"
    # ids 1, 3, 2: the last delta is negative, so its id is written in the long form
    assert encode_struct(fields, C).hex() == "18" "0178" "21" "06" "04" "01" "00"
    for protocol in (B, C):
        assert list(decode_struct(encode_struct(fields, protocol), protocol).items()) == list(fields.items())


def test_long_list_header_in_compact() -> None:
    items = TList(TType.BYTE, list(range(15)))
    data = encode_struct({1: (TType.LIST, items)}, C)
    assert data[:3].hex() == "19f30f"  # 0xF << 4 | byte, then the count as a varint
    assert decode_struct(data, C) == {1: (TType.LIST, items)}
    short = encode_struct({1: (TType.LIST, TList(TType.BYTE, list(range(14))))}, C)
    assert short[:2].hex() == "19e3"


def test_strings_may_be_sent_as_str() -> None:
    message = Message("m", CALL, 1, {1: (TType.STRING, "héllo"), 2: (TType.DOUBLE, 2)})
    for protocol in (B, C):
        decoded = decode_message(encode_message(message, protocol), protocol)
        assert decoded.body == {1: (TType.STRING, "héllo".encode()), 2: (TType.DOUBLE, 2.0)}
        assert decoded.value(1) == "héllo".encode()
        assert decoded.value(9, b"none") == b"none"


def test_map_as_dict() -> None:
    value = LOG.value(3)
    assert isinstance(value, TMap)
    assert value.to_dict() == {b"k": 300}
