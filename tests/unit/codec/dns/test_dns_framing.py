"""DNS over TCP: the stream decoder fed whole, byte by byte, in odd chunks, pipelined, and cut short."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.dns import (
    CLOSED,
    NEED_DATA,
    Edns,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    State,
    StreamDecoder,
    decode,
    encode,
    encode_tcp,
    frame,
    make_query,
)

QUERY = make_query("www.example.com", id=0xABCD)
QUERY_WIRE = encode(QUERY)
SECOND = make_query("example.org", 28, id=2, edns=Edns())


def drain(decoder: StreamDecoder) -> list[Message]:
    out: list[Message] = []
    while True:
        event = decoder.next_event()
        if event is NEED_DATA or event is CLOSED:
            return out
        assert isinstance(event, Message)
        out.append(event)


def test_frame_vector() -> None:
    assert frame(QUERY_WIRE) == struct.pack("!H", len(QUERY_WIRE)) + QUERY_WIRE
    assert encode_tcp(QUERY) == frame(QUERY_WIRE)


def test_whole() -> None:
    d = StreamDecoder()
    assert d.next_event() is NEED_DATA
    d.receive_data(encode_tcp(QUERY))
    assert d.next_event() == QUERY
    assert d.next_event() is NEED_DATA
    d.receive_data(b"")
    assert d.next_event() is CLOSED
    assert d.next_event() is CLOSED
    assert d.state is State.CLOSED


def test_byte_by_byte() -> None:
    stream = encode_tcp(QUERY) + encode_tcp(SECOND)
    d = StreamDecoder()
    got: list[Message] = []
    for i in range(len(stream)):
        d.receive_data(stream[i : i + 1])
        got += drain(d)
        if i < len(encode_tcp(QUERY)) - 1:
            assert got == []
    assert got == [QUERY, SECOND]
    assert d.buffered == 0


@pytest.mark.parametrize("chunk", [3, 7, 64, 1000])
def test_chunks_and_pipelining(chunk: int) -> None:
    messages = [make_query(f"host{i}.example", id=i) for i in range(50)]
    stream = b"".join(encode_tcp(m) for m in messages)
    d = StreamDecoder()
    got: list[Message] = []
    for i in range(0, len(stream), chunk):
        d.receive_data(stream[i : i + chunk])
        got += drain(d)
    d.receive_data(b"")
    got += drain(d)
    assert got == messages
    assert d.next_event() is CLOSED


def test_trailing_partial_frame_then_eof() -> None:
    d = StreamDecoder()
    d.receive_data(encode_tcp(QUERY) + encode_tcp(SECOND)[:5])
    assert d.next_event() == QUERY
    assert d.next_event() is NEED_DATA
    d.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed inside a message"):
        d.next_event()
    assert d.state is State.ERROR
    with pytest.raises(RemoteProtocolError, match="already failed"):
        d.next_event()
    with pytest.raises(LocalProtocolError):
        d.receive_data(b"more")


def test_eof_inside_the_length_prefix() -> None:
    d = StreamDecoder()
    d.receive_data(b"\x00")
    d.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        d.next_frame()


@pytest.mark.parametrize("length", [0, 1, 11])
def test_length_shorter_than_a_header_is_fatal(length: int) -> None:
    d = StreamDecoder()
    d.receive_data(struct.pack("!H", length) + bytes(length) + encode_tcp(QUERY))
    with pytest.raises(RemoteProtocolError, match="shorter than a DNS header"):
        d.next_event()
    assert d.state is State.ERROR


def test_malformed_message_in_a_good_frame_is_skipped() -> None:
    bad = QUERY_WIRE[:-1]  # question cut short
    d = StreamDecoder()
    d.receive_data(frame(bad) + encode_tcp(SECOND))
    with pytest.raises(RemoteProtocolError) as info:
        d.next_event()
    assert info.value.rcode == 1
    assert d.state is State.OPEN
    assert d.next_event() == SECOND


def test_next_frame_gives_raw_octets() -> None:
    d = StreamDecoder()
    d.receive_data(encode_tcp(QUERY) + encode_tcp(SECOND))
    first = d.next_frame()
    assert first == QUERY_WIRE
    assert isinstance(first, bytes)
    assert decode(first) == QUERY
    assert d.next_frame() == encode(SECOND)
    assert d.next_frame() is NEED_DATA


def test_data_after_eof_is_misuse() -> None:
    d = StreamDecoder()
    d.receive_data(b"")
    d.receive_data(b"")  # a second EOF is harmless
    with pytest.raises(LocalProtocolError, match="CLOSED"):
        d.receive_data(b"x")


def test_buffer_limit() -> None:
    d = StreamDecoder(max_buffer_size=100)
    d.receive_data(bytes(2) * 50)
    with pytest.raises(LocalProtocolError, match="unread"):
        d.receive_data(b"x")


def test_buffer_compacts_while_draining() -> None:
    one = encode_tcp(QUERY)
    count = 4096 // len(one) * 4
    d = StreamDecoder()
    d.receive_data(one * count)
    for _ in range(count):
        assert d.next_event() == QUERY
        assert len(d._buf) - d._offset == d.buffered  # internal invariant
    assert d.buffered == 0
    assert len(d._buf) == 0


def test_frame_too_long() -> None:
    with pytest.raises(LocalProtocolError):
        frame(bytes(65536))
    assert len(frame(bytes(65535))) == 65537


def test_malformed_query_carries_its_formerr_reply() -> None:
    d = StreamDecoder()
    d.receive_data(frame(QUERY_WIRE + b"\x00"))  # a trailing octet: FORMERR
    with pytest.raises(RemoteProtocolError) as info:
        d.next_event()
    reply = info.value.reply
    assert reply is not None
    answer = StreamDecoder()
    answer.receive_data(reply)
    got = answer.next_event()
    assert isinstance(got, Message)
    assert (got.header.id, got.header.qr, got.header.rcode) == (0xABCD, True, 1)
    assert got.question == QUERY.question


def test_malformed_response_carries_no_reply() -> None:
    response = bytearray(QUERY_WIRE + b"\x00")
    response[2] |= 0x80
    d = StreamDecoder()
    d.receive_data(frame(bytes(response)))
    with pytest.raises(RemoteProtocolError) as info:
        d.next_event()
    assert info.value.reply is None
