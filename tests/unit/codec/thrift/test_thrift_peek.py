"""Looking at messages without decoding them: header, end of a value, size, new seqid, protocol."""

from __future__ import annotations

import pytest

from pipework.codec.thrift import (
    Header,
    Limits,
    LocalProtocolError,
    Message,
    MessageType,
    Protocol,
    ProtocolErrorType,
    RemoteProtocolError,
    TList,
    TMap,
    Transport,
    TType,
    decode_message,
    detect_protocol,
    encode_message,
    encode_struct,
    frame,
    peek_header,
    peek_message_size,
    replace_seqid,
    skip,
    split_name,
)

B, C = Protocol.BINARY, Protocol.COMPACT
MSG = Message("Calc:add", MessageType.CALL, -7, {
    1: (TType.I32, 1),
    2: (TType.LIST, TList(TType.STRUCT, [{1: (TType.STRING, b"x")}, {}])),
    3: (TType.MAP, TMap(TType.I16, TType.LIST, [(1, TList(TType.DOUBLE, [0.5, 2.0]))])),
    4: (TType.BOOL, True),
})


@pytest.mark.parametrize(("protocol", "strict"), [(B, True), (B, False), (C, True)])
def test_peek_header(protocol: Protocol, strict: bool) -> None:
    data = encode_message(MSG, protocol, strict=strict)
    header = peek_header(data, protocol)
    assert header is not None
    assert (header.name, header.type, header.seqid) == ("Calc:add", MessageType.CALL, -7)
    assert data[header.body_offset:] == encode_struct(MSG.body, protocol)
    for cut in range(header.body_offset):  # None until the whole header is in
        assert peek_header(data[:cut], protocol) is None
    framed = frame(data)
    expected = Header("Calc:add", MessageType.CALL, -7, header.body_offset + 4)
    assert peek_header(framed, protocol, 4) == expected


def test_peek_header_fails_early_on_foreign_bytes() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        peek_header(b"GET / HTTP/1.1\r\n", B, strict=True)
    assert info.value.protocol_type is ProtocolErrorType.BAD_VERSION
    with pytest.raises(RemoteProtocolError) as info:
        peek_header(b"GET ", B)  # an old header whose name would be 1.2 GB
    assert info.value.protocol_type is ProtocolErrorType.SIZE_LIMIT
    with pytest.raises(RemoteProtocolError):
        peek_header(b"\x80", C)
    with pytest.raises(RemoteProtocolError):
        peek_header(b"\x82\x02", C)


def test_split_name() -> None:
    assert split_name("Calc:add") == ("Calc", "add")
    assert split_name("add") == (None, "add")
    assert split_name("a:b:c") == ("a", "b:c")


@pytest.mark.parametrize("protocol", [B, C])
def test_skip_finds_the_end_of_every_value(protocol: Protocol) -> None:
    body = encode_struct(MSG.body, protocol)
    assert skip(body, protocol) == len(body)
    assert skip(body + b"trailing", protocol) == len(body)
    assert skip(b"pad" + body, protocol, 3) == len(body) + 3
    for cut in range(len(body)):
        assert skip(body[:cut], protocol) is None
    # a value of another type, alone
    one = encode_struct({1: (TType.MAP, MSG.body[3][1])}, protocol)
    start = 3 if protocol is B else 1
    assert skip(one, protocol, start, TType.MAP) == len(one) - 1
    assert skip(bytearray(one), protocol, start, TType.MAP) == len(one) - 1
    assert skip(memoryview(one), protocol, start, TType.MAP) == len(one) - 1


@pytest.mark.parametrize("protocol", [B, C])
def test_skip_refuses_what_cannot_be_a_value(protocol: Protocol) -> None:
    with pytest.raises(LocalProtocolError):
        skip(b"\x00", protocol, 0, TType.STOP)
    deep = (b"\x0c\x00\x01" if protocol is B else b"\x1c") * 70
    with pytest.raises(RemoteProtocolError) as info:
        skip(deep, protocol)
    assert info.value.protocol_type is ProtocolErrorType.DEPTH_LIMIT
    huge = b"\x0b\x00\x01\x7f\xff\xff\xff" if protocol is B else b"\x18\xff\xff\xff\xff\x07"
    with pytest.raises(RemoteProtocolError) as info:
        skip(huge, protocol)
    assert info.value.protocol_type is ProtocolErrorType.SIZE_LIMIT
    with pytest.raises(RemoteProtocolError):
        skip(huge, protocol, limits=Limits(max_frame_size=100, max_string_size=1 << 31))
    # the same inside a list of strings, after one good element
    if protocol is B:
        listed = b"\x0f\x00\x01\x0b\x00\x00\x00\x02" + b"\x00\x00\x00\x01a" + b"\x7f\xff\xff\xff"
    else:
        listed = b"\x19\x28" + b"\x01a" + b"\xff\xff\xff\xff\x07"
    assert skip(listed[:-3], protocol) is None
    with pytest.raises(RemoteProtocolError) as info:
        skip(listed, protocol)
    assert info.value.protocol_type is ProtocolErrorType.SIZE_LIMIT


@pytest.mark.parametrize(("protocol", "strict"), [(B, True), (B, False), (C, True)])
def test_peek_message_size(protocol: Protocol, strict: bool) -> None:
    data = encode_message(MSG, protocol, strict=strict)
    stream = data + encode_message(MSG, protocol)
    assert peek_message_size(stream, protocol) == len(data)
    assert peek_message_size(stream, protocol, len(data)) == len(stream) - len(data)
    assert peek_message_size(data[:-1], protocol) is None
    assert peek_message_size(data[:3], protocol) is None


@pytest.mark.parametrize(("protocol", "strict"), [(B, True), (B, False), (C, True)])
def test_replace_seqid(protocol: Protocol, strict: bool) -> None:
    data = encode_message(MSG, protocol, strict=strict)
    for seqid in (0, 1, 127, 128, -1, 2**31 - 1, -(2**31)):
        changed = replace_seqid(data, protocol, seqid)
        again = decode_message(changed, protocol)
        assert again.seqid == seqid
        assert (again.name, again.type, again.body) == (MSG.name, MSG.type, MSG.body)
    framed = frame(data)
    changed = replace_seqid(framed, protocol, 5, 4)
    assert peek_header(changed, protocol, 4) is not None
    assert decode_message(changed[4:], protocol).seqid == 5
    with pytest.raises(LocalProtocolError):
        replace_seqid(data, protocol, 2**31)
    with pytest.raises(RemoteProtocolError):
        replace_seqid(data[:5], protocol, 1)


def test_detect_protocol() -> None:
    for protocol in (B, C):
        data = encode_message(MSG, protocol)
        assert detect_protocol(data) == (protocol, Transport.UNFRAMED)
        assert detect_protocol(frame(data)) == (protocol, Transport.FRAMED)
        assert detect_protocol(frame(data)[:5]) is None
    with pytest.raises(RemoteProtocolError) as info:
        detect_protocol(b"GET / HTTP/1.1")
    assert info.value.protocol_type is ProtocolErrorType.BAD_VERSION
    with pytest.raises(RemoteProtocolError):
        detect_protocol(encode_message(MSG, B, strict=False))  # the old header cannot be told apart
