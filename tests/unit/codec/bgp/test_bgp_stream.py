"""The incremental StreamDecoder: chunking, end of stream, limits, raw frames and the AS size switch."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_network

import pytest

from pipework.codec.bgp import (
    CLOSED,
    KEEPALIVE_BYTES,
    MAX_EXTENDED_MESSAGE_SIZE,
    NEED_DATA,
    AsPath,
    Keepalive,
    LocalProtocolError,
    NextHop,
    Notification,
    Origin,
    OriginValue,
    RemoteProtocolError,
    StreamDecoder,
    Update,
    decode,
    encode,
)
from pipework.codec.bgp.stream import State

HOP = NextHop(IPv4Address("192.0.2.1"))
ROUTE = Update((), (Origin(OriginValue.IGP), AsPath.sequence(65001, 65002), HOP), (ip_network("10.0.0.0/8"),))


def drain(decoder: StreamDecoder) -> list[object]:
    out: list[object] = []
    while (event := decoder.next_event()) is not NEED_DATA and event is not CLOSED:
        out.append(event)
    out.append(event)
    return out


def test_clean_end_of_stream() -> None:
    decoder = StreamDecoder()
    decoder.receive_data(KEEPALIVE_BYTES)
    decoder.receive_data(b"")
    assert drain(decoder) == [Keepalive(), CLOSED]
    assert decoder.next_event() is CLOSED
    assert decoder.trailing_data == (b"", True)
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(KEEPALIVE_BYTES)


def test_header_errors_come_before_the_body() -> None:
    """A length over the limit is refused on the header alone (RFC 4271 6.1), nothing buffered."""
    decoder = StreamDecoder()
    decoder.receive_data(b"\xff" * 16 + b"\xff\xff\x02")
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, b"\xff\xff")
    assert decoder.state is State.ERROR
    assert decode(decoder.data_to_send()) == (Notification(1, 2, b"\xff\xff"), 23)
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(KEEPALIVE_BYTES)


def test_extended_messages_need_a_larger_max_size() -> None:
    nets = tuple(ip_network(f"10.{i // 256}.{i % 256}.0/24") for i in range(1500))
    big = Update((), ROUTE.attributes, nets)
    wire = encode(big, max_size=MAX_EXTENDED_MESSAGE_SIZE)
    decoder = StreamDecoder(max_size=MAX_EXTENDED_MESSAGE_SIZE)
    decoder.receive_data(wire)
    assert decoder.next_event() == big
    strict = StreamDecoder()
    strict.receive_data(wire[:19])
    with pytest.raises(RemoteProtocolError):
        strict.next_event()


def test_the_as_size_switches_between_messages() -> None:
    """A session learns the AS size from the OPENs and tells the decoder for what follows."""
    decoder = StreamDecoder(four_octet_as=False)
    decoder.receive_data(encode(ROUTE, four_octet_as=False) + encode(ROUTE, four_octet_as=True))
    assert decoder.next_event() == ROUTE
    decoder.four_octet_as = True
    assert decoder.next_event() == ROUTE


def test_next_frame_returns_raw_messages() -> None:
    decoder = StreamDecoder()
    wire = encode(ROUTE)
    decoder.receive_data(wire + KEEPALIVE_BYTES[:5])
    assert decoder.next_frame() == wire
    assert decoder.next_frame() is NEED_DATA
    decoder.receive_data(KEEPALIVE_BYTES[5:])
    assert decoder.next_frame() == KEEPALIVE_BYTES
    decoder.receive_data(b"")
    assert decoder.next_frame() is CLOSED


def test_buffer_limit() -> None:
    decoder = StreamDecoder(max_buffer_size=4096)
    decoder.receive_data(b"\xff" * 4000)
    with pytest.raises(LocalProtocolError, match="unread octets"):
        decoder.receive_data(b"\xff" * 100)
    assert decoder.buffered == 4000
    with pytest.raises(LocalProtocolError):
        StreamDecoder(max_buffer_size=100)


def test_many_small_messages_compact_the_buffer() -> None:
    """Past 64 KiB consumed the buffer is compacted; what remains decodes the same."""
    wire = KEEPALIVE_BYTES * 5000 + encode(ROUTE)
    decoder = StreamDecoder(max_buffer_size=1 << 20)
    decoder.receive_data(wire[:-3])
    events = drain(decoder)
    assert events[:-1] == [Keepalive()] * 5000
    assert events[-1] is NEED_DATA
    assert decoder.buffered == len(encode(ROUTE)) - 3
    decoder.receive_data(wire[-3:])
    assert decoder.next_event() == ROUTE
    assert decoder.buffered == 0
