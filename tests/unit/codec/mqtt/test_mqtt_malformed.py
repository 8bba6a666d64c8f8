"""Bytes that break MQTT raise RemoteProtocolError with the right Reason Code.

Packets that MQTT forbids, or that the protocol level cannot express, raise LocalProtocolError.
"""

from __future__ import annotations

import pytest

from pipework.codec.mqtt import (
    MQTT_3_1_1,
    MQTT_5,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    LocalProtocolError,
    MQTTError,
    Packet,
    Properties,
    PubAck,
    Publish,
    ReasonCode,
    RemoteProtocolError,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    decode,
    encode,
)

RC = ReasonCode
MQTT = "00 04 4d 51 54 54"
MALFORMED, PROTOCOL = RC.MALFORMED_PACKET, RC.PROTOCOL_ERROR
NAME, FILTER = RC.TOPIC_NAME_INVALID, RC.TOPIC_FILTER_INVALID

# (level, hex bytes, expected reason code, why)
BAD: list[tuple[int, str, ReasonCode, str]] = [
    (5, "00 00", MALFORMED, "packet type 0 is reserved"),
    (4, "f0 00", MALFORMED, "AUTH does not exist in 3.1.1"),
    (5, "21 03 00 00 00", MALFORMED, "CONNACK with fixed header flags"),
    (5, "60 02 00 0a", MALFORMED, "PUBREL flags must be 0010 [MQTT-3.6.1-1]"),
    (5, "80 06 00 01 00 00 01 61 00", MALFORMED, "SUBSCRIBE flags must be 0010 [MQTT-3.8.1-1]"),
    (5, "c1 00", MALFORMED, "PINGREQ with a flag"),
    (5, "c0 01 00", MALFORMED, "PINGREQ with a body"),
    (5, "c0 80 00", MALFORMED, "non-minimal Remaining Length [MQTT-1.5.5-1]"),
    (4, "c0 80 80 00", MALFORMED, "non-minimal Remaining Length, 3.1.1 too"),
    (5, "30 ff ff ff ff 01", MALFORMED, "five-byte Remaining Length"),
    (4, "36 07 00 03 61 2f 62 00 01", MALFORMED, "QoS 3 [MQTT-3.3.1-4]"),
    (4, "38 07 00 03 61 2f 62 68 69", MALFORMED, "DUP on QoS 0 [MQTT-3.3.1-2]"),
    (4, "30 07 00 03 61 2f 23 68 69", NAME, "wildcard in a topic name [MQTT-3.3.2-2]"),
    (4, "30 07 00 03 2b 2f 61 68 69", NAME, "'+' in a topic name"),
    (4, "30 04 00 00 68 69", NAME, "empty topic name in 3.1.1 [MQTT-4.7.3-1]"),
    (5, "30 05 00 00 00 68 69", NAME, "empty topic without a Topic Alias"),
    (4, "30 07 00 03 61 00 62 68 69", MALFORMED, "U+0000 in a string [MQTT-1.5.4-2]"),
    (4, "30 07 00 03 61 ff 62 68 69", MALFORMED, "invalid UTF-8 [MQTT-1.5.4-1]"),
    (4, "30 07 00 03 ed a0 80 68 69", MALFORMED, "UTF-8 encoded surrogate [MQTT-1.5.4-1]"),
    (4, "30 07 00 03 c0 af 62 68 69", MALFORMED, "overlong UTF-8"),
    (4, "30 04 00 09 61 62", MALFORMED, "string longer than the packet"),
    (4, "32 04 00 01 61 00", MALFORMED, "QoS 1 PUBLISH cut inside its Packet Identifier"),
    (4, "32 05 00 01 61 00 00", PROTOCOL, "Packet Identifier 0 [MQTT-2.2.1-3]"),
    (5, "40 02 00 00", PROTOCOL, "PUBACK Packet Identifier 0"),
    (4, "40 03 00 0a 00", MALFORMED, "3.1.1 PUBACK longer than 2"),
    (5, "40 03 00 0a 92", PROTOCOL, "0x92 is not a PUBACK reason code [MQTT-3.4.2-1]"),
    (5, "40 03 00 0a 05", PROTOCOL, "0x05 is no reason code at all"),
    (5, "40 04 00 0a 00 05", MALFORMED, "property length past the end"),
    # properties
    (5, "30 09 00 01 74 05 11 00 00 00 01", MALFORMED, "Session Expiry Interval in a PUBLISH (§2.2.2.2)"),
    (5, "30 06 00 01 74 02 05 00", MALFORMED, "unknown property 0x05"),
    (5, "30 08 00 01 74 04 23 00 01 23", MALFORMED, "value runs past the property list"),
    (5, "30 0a 00 01 74 06 23 00 01 23 00 02", PROTOCOL, "Topic Alias twice"),
    (5, "30 07 00 01 74 03 23 00 00", PROTOCOL, "Topic Alias 0 [MQTT-3.3.2-8]"),
    (5, "30 06 00 01 74 02 01 02", PROTOCOL, "Payload Format Indicator 2"),
    (5, "30 06 00 01 74 02 0b 00", PROTOCOL, "Subscription Identifier 0"),
    (5, "30 09 00 01 74 05 08 00 02 61 23", PROTOCOL, "wildcard in a Response Topic [MQTT-3.3.2-14]"),
    (5, "30 0b 00 01 74 07 26 00 01 61 00 01 00", MALFORMED, "U+0000 in a User Property"),
    (5, "82 0a 00 01 04 0b 01 0b 02 00 01 61 00", PROTOCOL, "two Subscription Identifiers in a SUBSCRIBE"),
    (5, "20 05 00 00 02 21 00", MALFORMED, "Receive Maximum cut short"),
    (5, "20 06 00 00 03 21 00 00", PROTOCOL, "Receive Maximum 0"),
    (5, "20 05 00 00 02 24 02", PROTOCOL, "Maximum QoS 2"),
    # CONNECT
    (5, "10 0e 00 04 4d 51 54 58 05 02 00 3c 00 00 01 61", RC.UNSUPPORTED_PROTOCOL_VERSION, "name 'MQTX'"),
    (5, "10 0d 00 04 4d 51 54 54 03 02 00 3c 00 01 61", RC.UNSUPPORTED_PROTOCOL_VERSION, "level 3"),
    (5, "10 0e 00 06 4d 51 49 73 64 70 03 02 00 3c 00 00", RC.UNSUPPORTED_PROTOCOL_VERSION, "MQTT 3.1"),
    (5, f"10 0e {MQTT} 05 03 00 3c 00 00 01 61", MALFORMED, "reserved flag [MQTT-3.1.2-3]"),
    (5, f"10 0e {MQTT} 05 0a 00 3c 00 00 01 61", MALFORMED, "Will QoS without the Will Flag"),
    (5, f"10 0e {MQTT} 05 22 00 3c 00 00 01 61", MALFORMED, "Will Retain without the Will Flag"),
    (4, f"10 12 {MQTT} 04 1e 00 3c 00 01 61 00 01 77 00 00", MALFORMED, "Will QoS 3"),
    (4, f"10 10 {MQTT} 04 42 00 3c 00 01 61 00 01 70", MALFORMED, "3.1.1 password without user name"),
    (4, f"10 0c {MQTT} 04 00 00 3c 00 00", RC.CLIENT_IDENTIFIER_NOT_VALID, "3.1.1 empty id, clean 0"),
    (4, f"10 12 {MQTT} 04 06 00 3c 00 01 61 00 01 23 00 00", NAME, "wildcard in the Will Topic"),
    (5, f"10 09 {MQTT} 05 02 00", MALFORMED, "CONNECT cut inside its variable header"),
    (5, f"10 0f {MQTT} 05 02 00 3c 00 00 01 61 00", MALFORMED, "trailing byte in a CONNECT"),
    (5, f"10 12 {MQTT} 05 02 00 3c 04 18 00 00 00 00 01 61", MALFORMED, "Will Delay Interval in CONNECT"),
    # CONNACK
    (4, "20 02 02 00", MALFORMED, "reserved acknowledge flags [MQTT-3.2.2-1]"),
    (4, "20 02 00 06", PROTOCOL, "3.1.1 return code 6 is reserved"),
    (4, "20 03 00 00 00", MALFORMED, "3.1.1 CONNACK with properties"),
    (5, "20 02 00 00", MALFORMED, "5.0 CONNACK without its Property Length"),
    (5, "20 03 00 10 00", PROTOCOL, "0x10 is not a CONNACK reason code"),
    # SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK
    (4, "82 02 00 01", PROTOCOL, "SUBSCRIBE without a filter [MQTT-3.8.3-2]"),
    (4, "82 06 00 01 00 01 61 04", MALFORMED, "3.1.1 options beyond QoS"),
    (5, "82 07 00 01 00 00 01 61 40", MALFORMED, "reserved option bits [MQTT-3.8.3-5]"),
    (4, "82 06 00 01 00 01 61 03", MALFORMED, "subscription QoS 3"),
    (5, "82 07 00 01 00 00 01 61 30", PROTOCOL, "Retain Handling 3"),
    (4, "82 0a 00 01 00 05 61 2f 23 2f 62 00", FILTER, "'#' not last [MQTT-4.7.1-1]"),
    (4, "82 08 00 01 00 03 61 2b 62 00", FILTER, "'+' inside a level [MQTT-4.7.1-2]"),
    (5, "82 11 00 01 00 00 0b 24 73 68 61 72 65 2f 2f 61 2f 62 00", FILTER, "empty ShareName [MQTT-4.8.2-1]"),
    (5, "82 10 00 01 00 00 0a 24 73 68 61 72 65 2f 67 2f 61 04", PROTOCOL, "No Local on a shared one"),
    (4, "90 02 00 01", PROTOCOL, "SUBACK without a code"),
    (4, "90 03 00 01 03", PROTOCOL, "3.1.1 SUBACK code 3"),
    (5, "90 04 00 01 00 10", PROTOCOL, "0x10 is not a SUBACK code"),
    (4, "a2 02 00 01", PROTOCOL, "UNSUBSCRIBE without a filter [MQTT-3.10.3-2]"),
    (4, "a0 05 00 01 00 01 61", MALFORMED, "UNSUBSCRIBE flags [MQTT-3.10.1-1]"),
    (4, "a2 06 00 01 00 02 61 23", FILTER, "bad filter in UNSUBSCRIBE"),
    (4, "b0 03 00 01 00", MALFORMED, "3.1.1 UNSUBACK with a code"),
    (5, "b0 03 00 01 00", PROTOCOL, "5.0 UNSUBACK without a code"),
    # DISCONNECT / AUTH
    (4, "e0 01 00", MALFORMED, "3.1.1 DISCONNECT with a body"),
    (5, "e1 00", MALFORMED, "DISCONNECT flags [MQTT-3.14.1-1]"),
    (5, "e0 01 84", PROTOCOL, "0x84 is not a DISCONNECT reason code"),
    (5, "f0 01 04", PROTOCOL, "0x04 is not an AUTH reason code"),
    (5, "f0 05 18 03 26 00 00", MALFORMED, "User Property cut short"),
]


@pytest.mark.parametrize(("level", "hexed", "code", "why"), BAD, ids=[b[3] for b in BAD])
def test_malformed_input_raises_remote_error(level: int, hexed: str, code: ReasonCode, why: str) -> None:
    data = bytes.fromhex(hexed)
    with pytest.raises(RemoteProtocolError) as info:
        decode(data, level)
    assert info.value.reason_code == code, str(info.value)
    assert isinstance(info.value, MQTTError)
    assert info.value.reason_code.name in repr(info.value)


def test_packet_too_large_is_refused_from_the_header_alone() -> None:
    header = bytes.fromhex("30 ff ff 7f")  # announces 2,097,151 bytes; none of them sent
    with pytest.raises(RemoteProtocolError) as info:
        decode(header, MQTT_5, max_packet_size=1024)
    assert info.value.reason_code == RC.PACKET_TOO_LARGE
    assert decode(header, MQTT_5, max_packet_size=4 + 2_097_151) is None


def test_decode_rejects_unknown_level() -> None:
    with pytest.raises(LocalProtocolError):
        decode(b"\xc0\x00", 3)


# Packets MQTT forbids, or that the level cannot express: (level, packet, reason code).
UNENCODABLE: list[tuple[int, Packet, ReasonCode]] = [
    (5, Publish("a/#"), NAME),
    (5, Publish("a/+/b"), NAME),
    (4, Publish(""), NAME),
    (5, Publish(""), NAME),
    (5, Publish("a", qos=3), MALFORMED),
    (5, Publish("a", qos=1), MALFORMED),  # no packet id
    (5, Publish("a", qos=1, packet_id=0), MALFORMED),
    (5, Publish("a", qos=1, packet_id=65536), MALFORMED),
    (5, Publish("a", packet_id=1), MALFORMED),
    (5, Publish("a", dup=True), MALFORMED),
    (5, Publish("a\x00b"), NAME),
    (5, Publish("a\ud800"), MALFORMED),
    (5, Publish("a" * 65536), NAME),
    (4, Publish("a", properties=Properties(topic_alias=1)), MALFORMED),
    (5, Publish("a", properties=Properties(topic_alias=0)), MALFORMED),
    (5, Publish("a", properties=Properties(session_expiry_interval=1)), MALFORMED),
    (5, Publish("a", properties=Properties(payload_format_indicator=2)), MALFORMED),
    (5, Publish("a", properties=Properties(message_expiry_interval=2**32)), MALFORMED),
    (5, Publish("a", properties=Properties(subscription_identifiers=[0])), MALFORMED),
    (5, Publish("a", properties=Properties(correlation_data=b"x" * 65536)), MALFORMED),
    (5, Publish("a", properties=Properties(content_type=b"x")), MALFORMED),  # type: ignore[arg-type]
    (5, Publish("a", properties=Properties(user_properties=[("k\x00", "v")])), MALFORMED),
    (5, Publish("a", properties=Properties(response_topic="r/#")), MALFORMED),
    (4, PubAck(1, RC.NO_MATCHING_SUBSCRIBERS), MALFORMED),
    (5, PubAck(1, RC.PACKET_IDENTIFIER_NOT_FOUND), MALFORMED),
    (5, PubAck(0), MALFORMED),
    (4, Auth(), MALFORMED),
    (5, Auth(RC.NOT_AUTHORIZED), MALFORMED),
    (4, Disconnect(RC.SERVER_BUSY), MALFORMED),
    (5, Disconnect(RC.SUCCESS, Properties(receive_maximum=3)), MALFORMED),
    (4, ConnAck(reason_code=6), MALFORMED),
    (5, ConnAck(reason_code=RC.GRANTED_QOS_1), MALFORMED),
    (5, Subscribe(1, []), MALFORMED),
    (5, Subscribe(1, [Subscription("a/#/b")]), FILTER),
    (5, Subscribe(1, [Subscription("$share/g/a", no_local=True)]), MALFORMED),
    (5, Subscribe(1, [Subscription("a", qos=3)]), MALFORMED),
    (5, Subscribe(1, [Subscription("a", retain_handling=3)]), MALFORMED),
    (4, Subscribe(1, [Subscription("a", no_local=True)]), MALFORMED),
    (5, Subscribe(1, [Subscription("a")], Properties(subscription_identifiers=[1, 2])), MALFORMED),
    (5, SubAck(1, []), MALFORMED),
    (4, SubAck(1, [RC.QUOTA_EXCEEDED]), MALFORMED),
    (5, SubAck(1, [RC.NO_MATCHING_SUBSCRIBERS]), MALFORMED),
    (5, Unsubscribe(1, []), MALFORMED),
    (5, Unsubscribe(1, ["a+"]), FILTER),
    (4, UnsubAck(1, [RC.SUCCESS]), MALFORMED),
    (5, UnsubAck(1, []), MALFORMED),
    (5, Connect("a", protocol_level=3), MALFORMED),
    (5, Connect("a", keep_alive=65536), MALFORMED),
    (4, Connect("a", protocol_level=4, password=b"p"), MALFORMED),
    (5, Connect("a", will=Will("w/+")), NAME),
    (5, Connect("a", will=Will("w", qos=3)), MALFORMED),
    (5, Connect("a", will=Will("w", properties=Properties(topic_alias=1))), MALFORMED),
    (4, Connect("a", protocol_level=4, will=Will("w", properties=Properties(will_delay_interval=1))),
     MALFORMED),
    (5, Connect("a", password=b"x" * 65536), MALFORMED),
]


@pytest.mark.parametrize(("level", "packet", "code"), UNENCODABLE, ids=[repr(u[1])[:60] for u in UNENCODABLE])
def test_encode_refuses(level: int, packet: Packet, code: ReasonCode) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode(packet, level)
    assert info.value.reason_code == code, str(info.value)


def test_encode_refuses_non_packets_and_levels() -> None:
    with pytest.raises(LocalProtocolError):
        encode(object(), MQTT_5)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode(Disconnect(), 6)


def test_encode_respects_max_packet_size() -> None:
    packet = Publish("t", b"x" * 100)
    assert len(encode(packet, MQTT_3_1_1, max_packet_size=105)) == 105
    with pytest.raises(LocalProtocolError) as info:
        encode(packet, MQTT_3_1_1, max_packet_size=104)
    assert info.value.reason_code == RC.PACKET_TOO_LARGE


def test_mqtt5_allows_password_without_user_name() -> None:
    packet = Connect("a", password=b"p")
    assert decode(encode(packet, MQTT_5), MQTT_5) == (packet, len(encode(packet)))
