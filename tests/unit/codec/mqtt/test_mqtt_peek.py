"""packet_type, peek_packet_size, peek_client_id and peek_topic on raw bytes."""

from __future__ import annotations

import pytest

from pipework.codec.mqtt import (
    MQTT_3_1_1,
    MQTT_5,
    Connect,
    PacketType,
    PingReq,
    Properties,
    Publish,
    ReasonCode,
    RemoteProtocolError,
    Will,
    encode,
    packet_type,
    peek_client_id,
    peek_packet_size,
    peek_topic,
)


@pytest.mark.parametrize("ptype", list(PacketType))
def test_packet_type(ptype: PacketType) -> None:
    flags = 0b0010 if ptype in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE) else 0
    assert packet_type(ptype << 4 | flags) is ptype


@pytest.mark.parametrize("first", [0x00, 0x01, 0x61, 0x80, 0xC1, 0x36, 0x3E])
def test_packet_type_rejects(first: int) -> None:
    with pytest.raises(RemoteProtocolError):
        packet_type(first)


def test_publish_flags_are_free() -> None:
    for flags in (0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0xA, 0xD):
        assert packet_type(0x30 | flags) is PacketType.PUBLISH


def test_peek_packet_size() -> None:
    data = encode(Publish("t", b"x" * 300))
    assert peek_packet_size(data) == len(data)
    assert peek_packet_size(data[:2]) is None
    assert peek_packet_size(data[:3]) == len(data)
    assert peek_packet_size(encode(PingReq())) == 2
    assert peek_packet_size(b"") is None


CONNECTS = [
    Connect("client-1", protocol_level=4),
    Connect("client-1", protocol_level=4, will=Will("w", b"x" * 1000), username="u", password=b"p"),
    Connect("client-1", properties=Properties(user_properties=[("k", "v" * 500)], receive_maximum=9)),
    Connect("", protocol_level=5),
    Connect("é\ufeff", protocol_level=5, will=Will("w", b"x" * 1000)),
]


@pytest.mark.parametrize("connect", CONNECTS)
def test_peek_client_id(connect: Connect) -> None:
    data = encode(connect)
    assert peek_client_id(data) == connect.client_id
    assert peek_client_id(bytearray(data) + b"\xc0\x00") == connect.client_id
    # needs only the bytes up to the end of the client id
    known_at = next(n for n in range(len(data) + 1) if peek_client_id(data[:n]) is not None)
    assert known_at <= len(data)
    assert all(peek_client_id(data[:n]) is None for n in range(known_at))
    assert peek_client_id(data[:known_at]) == connect.client_id
    if connect.will is not None:
        assert known_at < len(data) - 1000


def test_peek_client_id_errors() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        peek_client_id(encode(PingReq()))
    assert info.value.reason_code == ReasonCode.PROTOCOL_ERROR
    with pytest.raises(RemoteProtocolError) as info:
        peek_client_id(bytes.fromhex("10 0d 00 04 4d 51 54 54 03 02 00 3c 00 01 61"))
    assert info.value.reason_code == ReasonCode.UNSUPPORTED_PROTOCOL_VERSION
    with pytest.raises(RemoteProtocolError):  # client id longer than the packet
        peek_client_id(bytes.fromhex("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 05 61"))
    with pytest.raises(RemoteProtocolError):  # ends inside the Property Length
        peek_client_id(bytes.fromhex("10 0b 00 04 4d 51 54 54 05 02 00 3c 80"))
    with pytest.raises(RemoteProtocolError):  # invalid UTF-8
        peek_client_id(bytes.fromhex("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 ff"))


@pytest.mark.parametrize("level", [MQTT_3_1_1, MQTT_5])
def test_peek_topic(level: int) -> None:
    packet = Publish("sensors/room-1/t", b"x" * 5000, qos=1, packet_id=3)
    data = encode(packet, level)
    assert peek_topic(data) == "sensors/room-1/t"
    assert peek_topic(data[:3 + 2 + 16]) == "sensors/room-1/t"
    assert peek_topic(data[:3 + 2 + 15]) is None
    assert peek_topic(data[:1]) is None


def test_peek_topic_of_an_alias() -> None:
    assert peek_topic(encode(Publish("", properties=Properties(topic_alias=4)))) == ""


def test_peek_topic_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        peek_topic(encode(PingReq()))
    with pytest.raises(RemoteProtocolError):
        peek_topic(bytes.fromhex("36 05 00 01 61 00 01"))  # QoS 3
    with pytest.raises(RemoteProtocolError):
        peek_topic(bytes.fromhex("30 03 00 01 00"))  # U+0000
