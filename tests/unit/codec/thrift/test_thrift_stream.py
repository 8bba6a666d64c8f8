"""The stream decoder: framed and unframed, chunked and pipelined, EOF, limits, failures and replies."""

from __future__ import annotations

import struct
import time

import pytest

from pipework.codec.thrift import (
    CLOSED,
    NEED_DATA,
    ApplicationErrorType,
    ApplicationException,
    Limits,
    LocalProtocolError,
    Message,
    MessageType,
    Protocol,
    ProtocolErrorType,
    RawMessage,
    RemoteProtocolError,
    State,
    StreamDecoder,
    Struct,
    TList,
    Transport,
    TType,
    decode_message,
    encode_message,
    frame,
)

B, C = Protocol.BINARY, Protocol.COMPACT
FRAMED, UNFRAMED = Transport.FRAMED, Transport.UNFRAMED
PE = ProtocolErrorType


def call(seqid: int, name: str = "get") -> Message:
    body: Struct = {1: (TType.I64, seqid * 1000), 2: (TType.STRING, b"key-%d" % seqid),
            3: (TType.LIST, TList(TType.I32, list(range(seqid % 5))))}
    return Message(name, MessageType.CALL, seqid, body)


def unit(message: Message, protocol: Protocol, transport: Transport) -> bytes:
    return encode_message(message, protocol, framed=transport is FRAMED)


def drain(decoder: StreamDecoder) -> list[object]:
    out: list[object] = []
    while (event := decoder.next_event()) is not NEED_DATA:
        out.append(event)
        if event is CLOSED:
            break
    return out


both = pytest.mark.parametrize(("protocol", "transport"),
                               [(B, FRAMED), (B, UNFRAMED), (C, FRAMED), (C, UNFRAMED)])


@both
def test_pipelined_messages_in_odd_chunks(protocol: Protocol, transport: Transport) -> None:
    messages = [call(i) for i in range(120)]
    stream = b"".join(unit(m, protocol, transport) for m in messages)
    for size in (1, 7, 1000, len(stream)):
        decoder = StreamDecoder(protocol, transport)
        got: list[object] = []
        for i in range(0, len(stream), size):
            decoder.receive_data(stream[i:i + size])
            got += drain(decoder)
        decoder.receive_data(b"")
        got += drain(decoder)
        assert got == [*messages, CLOSED]
        assert decoder.state is State.CLOSED
        assert decoder.next_event() is CLOSED


@both
def test_next_raw_and_next_event_interleave(protocol: Protocol, transport: Transport) -> None:
    decoder = StreamDecoder(protocol, transport)
    decoder.receive_data(b"".join(unit(call(i), protocol, transport) for i in (1, 2, 3)))
    raw = decoder.next_raw()
    assert isinstance(raw, RawMessage)
    assert (raw.header.name, raw.header.seqid) == ("get", 1)
    assert decode_message(raw.data, protocol) == call(1)
    assert decoder.next_event() == call(2)
    raw = decoder.next_raw()
    assert isinstance(raw, RawMessage)
    assert raw.data == encode_message(call(3), protocol)
    assert decoder.next_raw() is NEED_DATA


def test_empty_frames_are_skipped() -> None:
    decoder = StreamDecoder(B)
    decoder.receive_data(frame(b"") + unit(call(1), B, FRAMED) + frame(b"") + frame(b""))
    decoder.receive_data(b"")
    assert drain(decoder) == [call(1), CLOSED]


@pytest.mark.parametrize("protocol", [B, C])
def test_bad_message_in_a_frame_is_answered_and_skipped(protocol: Protocol) -> None:
    good = encode_message(call(1), protocol)
    decoder = StreamDecoder(protocol)
    decoder.receive_data(frame(good + b"\x00") + frame(good))
    with pytest.raises(RemoteProtocolError, match="1 bytes after the end") as info:
        decoder.next_event()
    reply = info.value.reply
    assert reply is not None
    assert struct.unpack("!i", reply[:4])[0] == len(reply) - 4  # framed like the call
    answer = decode_message(reply[4:], protocol)
    assert (answer.name, answer.type, answer.seqid) == ("get", MessageType.EXCEPTION, 1)
    exc = ApplicationException.from_message(answer)
    assert exc.type is ApplicationErrorType.PROTOCOL_ERROR
    assert exc.message is not None
    assert "after the end" in exc.message
    assert decoder.state is State.OPEN
    assert decoder.next_event() == call(1)


@pytest.mark.parametrize("mtype", [MessageType.ONEWAY, MessageType.REPLY, MessageType.EXCEPTION])
def test_only_calls_are_answered(mtype: MessageType) -> None:
    decoder = StreamDecoder(B)
    decoder.receive_data(frame(encode_message(Message("m", mtype, 1, {}), B) + b"\x00"))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reply is None


def test_unreadable_header_in_a_frame_is_skipped_without_a_reply() -> None:
    decoder = StreamDecoder(B)
    bad_type = frame(b"\x80\x01\x00\x09" + bytes(9))
    decoder.receive_data(bad_type + frame(b"\x80\x01") + unit(call(2), B, FRAMED))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.application_type is ApplicationErrorType.INVALID_MESSAGE_TYPE
    assert info.value.reply is None
    with pytest.raises(RemoteProtocolError, match="inside the message header"):
        decoder.next_event()
    assert decoder.next_event() == call(2)


def test_unframed_bad_body_whose_end_was_found_is_answered_and_skipped() -> None:
    twice = bytes.fromhex("08 0001 00000001 08 0001 00000002 00")  # field 1 twice: walkable, not decodable
    bad = encode_message(Message("dup", MessageType.CALL, 9, {}), B)[:-1] + twice
    decoder = StreamDecoder(B, UNFRAMED)
    decoder.receive_data(bad + unit(call(3), B, UNFRAMED))
    with pytest.raises(RemoteProtocolError, match="twice") as info:
        decoder.next_event()
    assert info.value.reply is not None
    assert decode_message(info.value.reply, B).seqid == 9  # unframed like the call
    assert decoder.next_event() == call(3)


@pytest.mark.parametrize("protocol", [B, C])
def test_frame_too_large_is_refused_before_it_is_buffered(protocol: Protocol) -> None:
    decoder = StreamDecoder(protocol, limits=Limits(max_frame_size=100))
    head = encode_message(call(4), protocol)
    decoder.receive_data(struct.pack("!i", 101) + head[:40])
    with pytest.raises(RemoteProtocolError, match="frame of 101 exceeds the limit of 100") as info:
        decoder.next_event()
    assert info.value.protocol_type is PE.SIZE_LIMIT
    assert decoder.state is State.ERROR
    assert info.value.reply is not None  # the call's header was in: it is told why
    assert decode_message(info.value.reply[4:], protocol).seqid == 4
    with pytest.raises(RemoteProtocolError, match="already failed"):
        decoder.next_event()
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"more")


def test_default_frame_limit_is_thrifts() -> None:
    decoder = StreamDecoder(B)
    decoder.receive_data(struct.pack("!i", 16_384_001))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.protocol_type is PE.SIZE_LIMIT
    assert info.value.reply is None


@pytest.mark.parametrize("protocol", [B, C])
def test_unframed_bytes_sent_to_a_framed_decoder(protocol: Protocol) -> None:
    decoder = StreamDecoder(protocol)
    decoder.receive_data(unit(call(1), protocol, UNFRAMED))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    if protocol is B:  # 80 01 ... is a negative length
        assert info.value.protocol_type is PE.NEGATIVE_SIZE
        assert "unframed" in str(info.value)
    else:  # 82 21 ... too
        assert info.value.protocol_type is PE.NEGATIVE_SIZE


@pytest.mark.parametrize("protocol", [B, C])
def test_unframed_hostile_length_is_refused_at_once(protocol: Protocol) -> None:
    decoder = StreamDecoder(protocol, UNFRAMED, limits=Limits(max_frame_size=1000))
    head = encode_message(Message("put", MessageType.CALL, 5, {}), protocol)[:-1]
    # a string field announcing 2000 bytes, of which none are sent
    field = b"\x0b\x00\x01" + struct.pack("!i", 2000) if protocol is B else b"\x18\xd0\x0f"
    decoder.receive_data(head + field)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.protocol_type is PE.SIZE_LIMIT
    assert info.value.reply is not None
    assert decode_message(info.value.reply, protocol).name == "put"
    assert decoder.state is State.ERROR


@pytest.mark.parametrize("protocol", [B, C])
def test_unframed_message_past_the_frame_limit(protocol: Protocol) -> None:
    big = Message("put", MessageType.CALL, 5, {i: (TType.I64, i) for i in range(1, 200)})
    data = encode_message(big, protocol)
    decoder = StreamDecoder(protocol, UNFRAMED, limits=Limits(max_frame_size=len(data) - 1))
    for i in range(0, len(data) - 10, 10):
        decoder.receive_data(data[i:i + 10])
        assert decoder.next_event() is NEED_DATA
    decoder.receive_data(data[i + 10:])
    with pytest.raises(RemoteProtocolError, match=f"message of {len(data)} exceeds"):
        decoder.next_event()
    decoder = StreamDecoder(protocol, UNFRAMED, limits=Limits(max_frame_size=len(data)))
    decoder.receive_data(data)
    assert decoder.next_event() == big


@pytest.mark.parametrize("protocol", [B, C])
def test_unframed_deep_nesting_is_refused(protocol: Protocol) -> None:
    head = encode_message(Message("deep", MessageType.ONEWAY, 1, {}), protocol)[:-1]
    field = b"\x0c\x00\x01" if protocol is B else b"\x1c"
    decoder = StreamDecoder(protocol, UNFRAMED)
    decoder.receive_data(head + field * 64)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.protocol_type is PE.DEPTH_LIMIT
    assert info.value.reply is None  # a oneway call is never answered


@pytest.mark.parametrize("protocol", [B, C])
def test_unframed_trickle_is_linear(protocol: Protocol) -> None:
    """Walking resumes where it stopped: 5,000 fields fed 7 bytes at a time are walked once."""
    big = Message("bulk", MessageType.CALL, 1, {i: (TType.I32, i) for i in range(1, 5001)})
    data = encode_message(big, protocol)
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    decoder = StreamDecoder(protocol, UNFRAMED)
    start = time.perf_counter()
    for chunk in chunks[:-1]:
        decoder.receive_data(chunk)
        assert decoder.next_raw() is NEED_DATA
    decoder.receive_data(chunks[-1])
    assert time.perf_counter() - start < 2.0  # a rescan per chunk would walk ~20 million fields
    assert decoder.next_event() == big


@both
def test_eof_inside_a_message(protocol: Protocol, transport: Transport) -> None:
    data = unit(call(1), protocol, transport)
    decoder = StreamDecoder(protocol, transport)
    decoder.receive_data(data[:-1])
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="stream closed inside"):
        decoder.next_event()
    assert decoder.state is State.ERROR


def test_receive_data_misuse() -> None:
    decoder = StreamDecoder(B)
    decoder.receive_data(b"")
    decoder.receive_data(b"")  # EOF twice is harmless
    with pytest.raises(LocalProtocolError, match="receive_data"):
        decoder.receive_data(b"late")
    with pytest.raises(LocalProtocolError):
        StreamDecoder("binary")  # type: ignore[arg-type]


def test_unread_bytes_are_bounded() -> None:
    decoder = StreamDecoder(B, max_buffer_size=100)
    decoder.receive_data(bytes(60))
    with pytest.raises(LocalProtocolError, match="unread bytes"):
        decoder.receive_data(bytes(41))
    assert decoder.buffered == 60


def test_strict_decoder_refuses_the_old_header() -> None:
    old = encode_message(call(1), B, strict=False)
    decoder = StreamDecoder(B, UNFRAMED, strict=True)
    decoder.receive_data(old)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.protocol_type is PE.BAD_VERSION
    lenient = StreamDecoder(B, UNFRAMED)
    lenient.receive_data(old)
    assert lenient.next_event() == call(1)
