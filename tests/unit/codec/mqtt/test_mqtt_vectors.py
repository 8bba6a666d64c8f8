"""Byte vectors laid out by the MQTT 3.1.1 and 5.0 specs: fed whole, byte by byte and with trailing bytes."""

from __future__ import annotations

import pytest

from pipework.codec.mqtt import (
    CLOSED,
    MQTT_3_1_1,
    MQTT_5,
    NEED_DATA,
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Decoder,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    decode,
    encode,
)
from pipework.codec.mqtt.wire import encode_varint, read_varint

RC = ReasonCode
MQTT = "00 04 4d 51 54 54"  # the protocol name, length-prefixed

# (level, hex bytes, packet): each packet encodes to exactly these bytes and decodes from them.
VECTORS: list[tuple[int, str, Packet]] = [
    (4, f"10 0d {MQTT} 04 02 00 3c 00 01 61", Connect("a", protocol_level=4)),
    (5, f"10 0e {MQTT} 05 02 00 3c 00 00 01 61", Connect("a")),
    (5, f"10 31 {MQTT} 05 ec 00 0a  0f 11 00 00 00 78 21 00 14 26 00 01 61 00 01 62  00 02 63 31"
        "  05 18 00 00 00 01  00 01 77  00 01 78  00 01 75  00 02 70 77",
     Connect("c1", clean_start=False, keep_alive=10, username="u", password=b"pw",
             will=Will("w", b"x", qos=1, retain=True, properties=Properties(will_delay_interval=1)),
             properties=Properties(session_expiry_interval=0x78, receive_maximum=20,
                                   user_properties=[("a", "b")]))),
    # 3.1.1 CONNECT with a QoS 0 non-retained will, no credentials, keep alive 0, clean session 1.
    (4, f"10 14 {MQTT} 04 06 00 00 00 02 63 31 00 01 77 00 01 78",
     Connect("c1", protocol_level=4, keep_alive=0, will=Will("w", b"x"))),
    (4, "20 02 00 00", ConnAck(reason_code=ConnectReturnCode.ACCEPTED)),
    (4, "20 02 01 00", ConnAck(session_present=True)),
    (4, "20 02 00 05", ConnAck(reason_code=ConnectReturnCode.NOT_AUTHORIZED)),
    (5, "20 03 00 00 00", ConnAck()),
    (5, "20 0a 00 00 07 12 00 01 78 22 00 0a",
     ConnAck(properties=Properties(assigned_client_identifier="x", topic_alias_maximum=10))),
    (5, "20 03 00 86 00", ConnAck(reason_code=RC.BAD_USER_NAME_OR_PASSWORD)),
    (4, "30 07 00 03 61 2f 62 68 69", Publish("a/b", b"hi")),
    (4, "33 09 00 03 61 2f 62 00 0a 68 69", Publish("a/b", b"hi", qos=1, retain=True, packet_id=10)),
    (4, "3c 09 00 03 61 2f 62 00 0b 68 69", Publish("a/b", b"hi", qos=2, dup=True, packet_id=11)),
    (4, "30 05 00 03 61 2f 62", Publish("a/b")),
    (5, "30 08 00 03 61 2f 62 00 68 69", Publish("a/b", b"hi")),
    (5, "30 08 00 00 03 23 00 05 68 69", Publish("", b"hi", properties=Properties(topic_alias=5))),
    (5, "32 0f 00 01 74 00 07 07 01 01 0b 02 0b 81 01 7b 7d",
     Publish("t", b"{}", qos=1, packet_id=7,
             properties=Properties(payload_format_indicator=1, subscription_identifiers=[2, 129]))),
    (4, "40 02 00 0a", PubAck(10)),
    (5, "40 02 00 0a", PubAck(10)),
    (5, "40 03 00 0a 10", PubAck(10, RC.NO_MATCHING_SUBSCRIBERS)),
    (5, "40 08 00 0a 10 04 1f 00 01 72",
     PubAck(10, RC.NO_MATCHING_SUBSCRIBERS, Properties(reason_string="r"))),
    (5, "40 08 00 0a 00 04 1f 00 01 72", PubAck(10, properties=Properties(reason_string="r"))),
    (4, "50 02 00 0a", PubRec(10)),
    (5, "50 03 00 0a 97", PubRec(10, RC.QUOTA_EXCEEDED)),
    (4, "62 02 00 0a", PubRel(10)),
    (5, "62 03 00 0a 92", PubRel(10, RC.PACKET_IDENTIFIER_NOT_FOUND)),
    (4, "70 02 00 0a", PubComp(10)),
    (5, "70 02 ff ff", PubComp(65535)),
    (4, "82 0e 00 01 00 03 61 2f 2b 01 00 03 62 2f 23 00",
     Subscribe(1, [Subscription("a/+", 1), Subscription("b/#", 0)])),
    (5, "82 09 00 02 02 0b 05 00 01 74 2e",
     Subscribe(2, [Subscription("t", 2, no_local=True, retain_as_published=True, retain_handling=2)],
               Properties(subscription_identifiers=[5]))),
    (5, "82 10 00 03 00 00 0a 24 73 68 61 72 65 2f 67 2f 23 01",
     Subscribe(3, [Subscription("$share/g/#", 1)])),
    (4, "90 04 00 01 01 80", SubAck(1, [RC.GRANTED_QOS_1, RC.UNSPECIFIED_ERROR])),
    (5, "90 05 00 01 00 01 8f", SubAck(1, [RC.GRANTED_QOS_1, RC.TOPIC_FILTER_INVALID])),
    (4, "a2 05 00 03 00 01 61", Unsubscribe(3, ["a"])),
    (5, "a2 0b 00 03 00 00 01 61 00 03 24 2f 2b", Unsubscribe(3, ["a", "$/+"])),
    (4, "b0 02 00 03", UnsubAck(3)),
    (5, "b0 05 00 03 00 00 11", UnsubAck(3, [RC.SUCCESS, RC.NO_SUBSCRIPTION_EXISTED])),
    (4, "c0 00", PingReq()),
    (5, "c0 00", PingReq()),
    (4, "d0 00", PingResp()),
    (4, "e0 00", Disconnect()),
    (5, "e0 00", Disconnect()),
    (5, "e0 01 04", Disconnect(RC.DISCONNECT_WITH_WILL_MESSAGE)),
    (5, "e0 07 00 05 11 00 00 00 00", Disconnect(properties=Properties(session_expiry_interval=0))),
    (5, "f0 00", Auth()),
    (5, "f0 06 18 04 15 00 01 6d", Auth(RC.CONTINUE_AUTHENTICATION, Properties(authentication_method="m"))),
]

IDS = [f"v{level}-{type(packet).__name__}-{i}" for i, (level, _, packet) in enumerate(VECTORS)]


@pytest.mark.parametrize(("level", "hexed", "packet"), VECTORS, ids=IDS)
def test_encode_gives_the_vector(level: int, hexed: str, packet: Packet) -> None:
    assert encode(packet, level) == bytes.fromhex(hexed)


@pytest.mark.parametrize(("level", "hexed", "packet"), VECTORS, ids=IDS)
def test_decode_whole(level: int, hexed: str, packet: Packet) -> None:
    data = bytes.fromhex(hexed)
    assert decode(data, level) == (packet, len(data))
    assert decode(bytearray(data), level) == (packet, len(data))
    assert decode(memoryview(data), level) == (packet, len(data))


@pytest.mark.parametrize(("level", "hexed", "packet"), VECTORS, ids=IDS)
def test_decode_with_trailing_bytes(level: int, hexed: str, packet: Packet) -> None:
    data = bytes.fromhex(hexed)
    assert decode(data + b"\xc0\x00garbage", level) == (packet, len(data))


@pytest.mark.parametrize(("level", "hexed", "packet"), VECTORS, ids=IDS)
def test_every_truncation_needs_more_data(level: int, hexed: str, packet: Packet) -> None:
    data = bytes.fromhex(hexed)
    for n in range(len(data)):
        assert decode(data[:n], level) is None


@pytest.mark.parametrize(("level", "hexed", "packet"), VECTORS, ids=IDS)
def test_decoder_byte_by_byte(level: int, hexed: str, packet: Packet) -> None:
    data = bytes.fromhex(hexed)
    decoder = Decoder(level)
    for i in range(len(data) - 1):
        decoder.receive_data(data[i:i + 1])
        assert decoder.next_event() is NEED_DATA
    decoder.receive_data(data[-1:])
    assert decoder.next_event() == packet
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"")
    assert decoder.next_event() is CLOSED


@pytest.mark.parametrize(("level", "hexed", "packet"), VECTORS, ids=IDS)
def test_decoder_whole_with_trailing_bytes(level: int, hexed: str, packet: Packet) -> None:
    data = bytes.fromhex(hexed)
    decoder = Decoder(level)
    decoder.receive_data(data + data + b"\xc0")
    assert decoder.next_event() == packet
    assert decoder.next_event() == packet
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing_data == (b"\xc0", False)
    decoder.receive_data(b"\x00")
    assert decoder.next_event() == PingReq()


def test_connect_decodes_at_its_own_level() -> None:
    """The level argument does not apply to a CONNECT: it carries its own."""
    data = bytes.fromhex(f"10 0d {MQTT} 04 02 00 3c 00 01 61")
    assert decode(data, MQTT_5) == (Connect("a", protocol_level=4), len(data))
    assert encode(Connect("a", protocol_level=4), MQTT_5) == data


def test_long_forms_of_mqtt5_acks_decode_to_the_short_forms() -> None:
    """§3.4.2.1 and §3.14.2.1 let the sender omit a 0x00 Reason Code and empty properties."""
    assert decode(bytes.fromhex("40 04 00 0a 00 00"), MQTT_5) == (PubAck(10), 6)
    assert decode(bytes.fromhex("40 03 00 0a 00"), MQTT_5) == (PubAck(10), 5)
    assert decode(bytes.fromhex("e0 02 00 00"), MQTT_5) == (Disconnect(), 4)
    assert decode(bytes.fromhex("f0 02 00 00"), MQTT_5) == (Auth(), 4)
    assert encode(PubAck(10), MQTT_5) == bytes.fromhex("40 02 00 0a")


def test_bom_is_kept_as_a_character() -> None:
    """[MQTT-1.5.4-3]: 0xEF 0xBB 0xBF is U+FEFF and MUST NOT be stripped."""
    data = bytes.fromhex("30 06 00 04 ef bb bf 61")
    packet, _ = decode(data, MQTT_3_1_1) or (None, 0)
    assert packet == Publish("\ufeffa")


# §1.5.5 Table 1-1: the boundaries of 1, 2, 3 and 4 byte Variable Byte Integers.
VARINTS = [(0, "00"), (127, "7f"), (128, "80 01"), (16_383, "ff 7f"), (16_384, "80 80 01"),
           (2_097_151, "ff ff 7f"), (2_097_152, "80 80 80 01"), (268_435_455, "ff ff ff 7f")]


@pytest.mark.parametrize(("value", "hexed"), VARINTS)
def test_varint_vectors(value: int, hexed: str) -> None:
    data = bytes.fromhex(hexed)
    assert encode_varint(value) == data
    assert read_varint(data + b"\x00", 0, len(data) + 1) == (value, len(data))
    assert read_varint(data[:-1], 0, len(data) - 1) is None


def test_remaining_length_of_two_bytes() -> None:
    payload = b"x" * 200
    data = encode(Publish("t", payload), MQTT_3_1_1)
    assert data[:5] == bytes.fromhex("30 cb 01 00 01")  # 2 + 1 + 200 = 203 = 0xcb 0x01
    assert decode(data, MQTT_3_1_1) == (Publish("t", payload), len(data))
