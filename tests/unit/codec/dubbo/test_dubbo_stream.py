"""The stream decoder fed whole, byte by byte, in odd chunks, pipelined, cut short and broken."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.dubbo import (
    CLOSED,
    HEADER_SIZE,
    NEED_DATA,
    Event,
    Frame,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    Request,
    Response,
    State,
    Status,
    StreamDecoder,
    decode,
    encode,
    peek_header,
)
from pipework.codec.hessian import HessianObject

REQUEST = Request(1, "org.demo.Users", "find", "Ljava/lang/String;J", ["ann", 42], {"timeout": "3000"})
RESPONSE = Response(1, value=HessianObject("org.demo.User", {"name": "ann", "id": 42}), attachments={})
HEARTBEAT = Event(2)
NOT_FOUND = Response(3, Status.SERVICE_NOT_FOUND, error_message="no")
MESSAGES: list[Message] = [REQUEST, RESPONSE, HEARTBEAT, NOT_FOUND]
STREAM = b"".join(encode(m) for m in MESSAGES)


def drain(decoder: StreamDecoder) -> list[Message]:
    out: list[Message] = []
    while True:
        event = decoder.next_event()
        if event is NEED_DATA or event is CLOSED:
            return out
        out.append(event)


def test_whole() -> None:
    d = StreamDecoder()
    assert d.next_event() is NEED_DATA
    d.receive_data(STREAM)
    assert drain(d) == MESSAGES
    assert d.buffered == 0
    d.receive_data(b"")
    assert d.next_event() is CLOSED
    assert d.next_event() is CLOSED
    assert d.state is State.CLOSED


def test_byte_by_byte() -> None:
    d = StreamDecoder()
    got: list[Message] = []
    for i in range(len(STREAM)):
        d.receive_data(STREAM[i:i + 1])
        got += drain(d)
    assert got == MESSAGES


def test_odd_chunks_and_memoryview() -> None:
    d = StreamDecoder()
    got: list[Message] = []
    view = memoryview(STREAM)
    for start in range(0, len(STREAM), 7):
        d.receive_data(view[start:start + 7])
        got += drain(d)
    assert got == MESSAGES


def test_trailing_partial_frame_waits() -> None:
    d = StreamDecoder()
    d.receive_data(encode(REQUEST) + encode(RESPONSE)[:20])
    assert d.next_event() == REQUEST
    assert d.next_event() is NEED_DATA
    assert d.buffered == 20
    d.receive_data(encode(RESPONSE)[20:])
    assert d.next_event() == RESPONSE


def test_next_frame_keeps_the_octets() -> None:
    d = StreamDecoder()
    d.receive_data(STREAM)
    frame = d.next_frame()
    assert isinstance(frame, Frame)
    assert frame.data == encode(REQUEST)
    assert frame.header == peek_header(frame.data)
    assert decode(frame.data) == (REQUEST, len(frame.data))


def test_eof_inside_a_frame() -> None:
    d = StreamDecoder()
    d.receive_data(STREAM[:30])
    d.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="ended inside a frame"):
        d.next_event()
    assert d.state is State.ERROR
    with pytest.raises(RemoteProtocolError, match="already failed"):
        d.next_event()


def test_bad_magic_fails_on_the_first_octet() -> None:
    d = StreamDecoder()
    d.receive_data(b"l")  # a telnet client typing "ls"
    with pytest.raises(RemoteProtocolError, match="magic") as info:
        d.next_event()
    assert info.value.reply is None
    assert d.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        d.receive_data(b"s\r\n")


def test_oversized_frame_is_refused_from_its_header() -> None:
    d = StreamDecoder(max_payload=100)
    head = b"\xda\xbb\xc2\x00" + struct.pack(">qi", 77, 101)
    d.receive_data(head)
    with pytest.raises(RemoteProtocolError, match="Data length too large: 101, max payload: 100") as info:
        d.next_event()
    assert info.value.status == Status.BAD_REQUEST
    assert info.value.reply is not None
    reply, _ = decode(info.value.reply)  # type: ignore[misc]
    assert reply == Response(77, Status.BAD_REQUEST,
                             error_message="Fail to decode request due to: Data length too large: 101, "
                                           "max payload: 100")
    assert d.state is State.ERROR


def test_malformed_body_is_skipped_and_answered() -> None:
    bad = b"\xda\xbb\xc2\x00" + struct.pack(">qi", 5, 3) + b"\x05ab"  # a string cut short
    d = StreamDecoder()
    d.receive_data(bad + encode(HEARTBEAT))
    with pytest.raises(RemoteProtocolError) as info:
        d.next_event()
    assert info.value.status == Status.BAD_REQUEST
    assert info.value.reply is not None
    assert info.value.reply[4:12] == struct.pack(">q", 5)
    assert d.state is State.OPEN
    assert d.next_event() == HEARTBEAT


def test_malformed_response_has_no_reply() -> None:
    bad = b"\xda\xbb\x02\x14" + struct.pack(">qi", 5, 1) + b"\x99"  # result type 9
    d = StreamDecoder()
    d.receive_data(bad)
    with pytest.raises(RemoteProtocolError, match="Unknown result flag") as info:
        d.next_event()
    assert info.value.status == Status.BAD_RESPONSE
    assert info.value.reply is None


def test_buffer_limit_and_misuse() -> None:
    d = StreamDecoder(max_payload=10)
    with pytest.raises(LocalProtocolError, match="unread octets"):
        d.receive_data(b"\xda" * (HEADER_SIZE + 10 + (1 << 20) + 1))
    d.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="DATA"):
        d.receive_data(b"x")
    d.receive_data(b"")  # a second EOF is harmless
    assert d.next_event() is CLOSED


def test_many_small_frames_compact_the_buffer() -> None:
    heartbeat = encode(HEARTBEAT)
    d = StreamDecoder()
    count = (200 * 1024) // len(heartbeat)
    d.receive_data(heartbeat * count + heartbeat[:5])
    assert len(drain(d)) == count
    assert d.buffered == 5
