"""The incremental Decoder: chunking, end of stream, limits, the packet-order table and goodbyes."""

from __future__ import annotations

import pytest

from pipework.codec.mqtt import (
    CLOSED,
    MQTT_3_1_1,
    MQTT_5,
    NEED_DATA,
    TRANSITIONS,
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Decoder,
    Disconnect,
    LocalProtocolError,
    Peer,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    ReasonCode,
    RemoteProtocolError,
    State,
    SubAck,
    Subscribe,
    Subscription,
    decode,
    encode,
)

RC = ReasonCode


def feed(decoder: Decoder, data: bytes) -> list[object]:
    decoder.receive_data(data)
    out: list[object] = []
    while (event := decoder.next_event()) is not NEED_DATA and event is not CLOSED:
        out.append(event)
    out.append(event)
    return out


def test_learns_the_level_from_connect() -> None:
    decoder = Decoder(peer=Peer.CLIENT)
    before = (decoder.protocol_level, decoder.state)
    assert before == (None, State.AWAIT_CONNECT)
    stream = encode(Connect("c", protocol_level=4)) + encode(Publish("t", b"x"), MQTT_3_1_1)
    assert feed(decoder, stream) == [Connect("c", protocol_level=4), Publish("t", b"x"), NEED_DATA]
    assert decoder.protocol_level == MQTT_3_1_1
    assert decoder.state is State.CONNECTED


def test_level_shapes_decoding_after_connect() -> None:
    """A 3.1.1 DISCONNECT is two bytes; the same two bytes at level 5 mean reason 0x00 too."""
    decoder = Decoder()
    feed(decoder, encode(Connect("c")))
    assert feed(decoder, bytes.fromhex("e0 01 04")) == [Disconnect(RC.DISCONNECT_WITH_WILL_MESSAGE),
                                                        NEED_DATA]


def test_first_packet_must_be_connect_even_for_a_tap() -> None:
    decoder = Decoder()
    decoder.receive_data(encode(PingReq()))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reason_code == RC.PROTOCOL_ERROR
    assert decoder.state is State.ERROR


def test_chunks_of_every_size() -> None:
    packets = [Connect("c"), Publish("a/b", b"x" * 300, qos=1, packet_id=1), PingReq(),
               Subscribe(2, [Subscription("a/#", 1)]), Disconnect()]
    stream = b"".join(encode(p) for p in packets)
    for size in (1, 2, 3, 7, 64, len(stream)):
        decoder = Decoder(peer=Peer.CLIENT)
        got: list[object] = []
        for i in range(0, len(stream), size):
            got += [e for e in feed(decoder, stream[i:i + size]) if e is not NEED_DATA]
        assert got == packets
        assert decoder.state is State.DISCONNECTED
        assert feed(decoder, b"") == [CLOSED]
        assert decoder.next_event() is CLOSED


def test_eof_inside_a_packet_is_an_error() -> None:
    decoder = Decoder(MQTT_5)
    decoder.receive_data(encode(Publish("t", b"xyz"))[:-1])
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert decoder.trailing_data[1] is True


def test_eof_inside_a_fixed_header_is_an_error() -> None:
    decoder = Decoder(MQTT_5)
    decoder.receive_data(b"\x30")
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()


def test_data_after_eof_is_our_misuse() -> None:
    decoder = Decoder(MQTT_5)
    decoder.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"\xc0\x00")


def test_errors_are_sticky() -> None:
    decoder = Decoder(MQTT_5)
    decoder.receive_data(b"\x00\x00")
    with pytest.raises(RemoteProtocolError) as first:
        decoder.next_event()
    decoder.receive_data(b"\xc0\x00")
    with pytest.raises(RemoteProtocolError) as again:
        decoder.next_event()
    assert again.value is first.value


def test_packet_too_large_before_the_body_arrives() -> None:
    decoder = Decoder(MQTT_5, max_packet_size=100)
    decoder.receive_data(bytes.fromhex("30 65"))  # announces 2 + 101 bytes
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reason_code == RC.PACKET_TOO_LARGE
    assert decoder.data_to_send() == encode(Disconnect(RC.PACKET_TOO_LARGE))
    assert decoder.data_to_send() == b""  # handed out once


def test_packet_at_the_limit_is_accepted() -> None:
    data = encode(Publish("t", b"x" * 94), MQTT_5)
    assert len(data) == 100
    assert feed(Decoder(MQTT_5, max_packet_size=100), data)[0] == Publish("t", b"x" * 94)


def test_constructor_checks() -> None:
    with pytest.raises(LocalProtocolError):
        Decoder(3)
    with pytest.raises(LocalProtocolError):
        Decoder(peer=Peer.SERVER)
    with pytest.raises(LocalProtocolError):
        Decoder(MQTT_5, max_packet_size=1)


def test_buffer_is_compacted() -> None:
    packet = Publish("t", b"x" * 1000)
    one = encode(packet, MQTT_5)
    decoder = Decoder(MQTT_5)
    for _ in range(200):  # always a partial packet left over, so the buffer never empties by itself
        decoder.receive_data(one + one[:10])
        assert decoder.next_event() == packet
        decoder.receive_data(one[10:])
        assert decoder.next_event() == packet
        assert decoder.next_event() is NEED_DATA
    assert len(decoder._buf) < 80 * 1024  # white box: bounded by _COMPACT_AT


# --- the packet-order table ---------------------------------------------------------------------


def client_stream() -> Decoder:
    decoder = Decoder(peer=Peer.CLIENT)
    feed(decoder, encode(Connect("c")))
    return decoder


def server_stream() -> Decoder:
    decoder = Decoder(MQTT_5, peer=Peer.SERVER)
    feed(decoder, encode(ConnAck()))
    return decoder


@pytest.mark.parametrize("packet", [Connect("c"), ConnAck(), SubAck(1, [RC.SUCCESS]), PingResp()])
def test_client_may_not_send(packet: object) -> None:
    decoder = client_stream()
    decoder.receive_data(encode(packet))  # type: ignore[arg-type]
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reason_code == RC.PROTOCOL_ERROR
    assert decoder.data_to_send() == encode(Disconnect(RC.PROTOCOL_ERROR))


@pytest.mark.parametrize("packet", [Connect("c"), ConnAck(), Subscribe(1, [Subscription("a")]), PingReq()])
def test_server_may_not_send(packet: object) -> None:
    decoder = server_stream()
    decoder.receive_data(encode(packet))  # type: ignore[arg-type]
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()


def test_server_sends_auth_then_connack() -> None:
    decoder = Decoder(MQTT_5, peer=Peer.SERVER)
    assert decoder.state is State.AWAIT_CONNACK
    stream = encode(Auth(RC.CONTINUE_AUTHENTICATION)) + encode(ConnAck()) + encode(PingResp())
    assert feed(decoder, stream) == [Auth(RC.CONTINUE_AUTHENTICATION), ConnAck(), PingResp(), NEED_DATA]


def test_server_must_connack_first() -> None:
    decoder = Decoder(MQTT_3_1_1, peer=Peer.SERVER)
    decoder.receive_data(encode(PubAck(1), MQTT_3_1_1))
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert decoder.data_to_send() == b""  # MQTT 3.1.1 has no DISCONNECT to say why


def test_refusing_connack_ends_the_stream() -> None:
    decoder = Decoder(MQTT_3_1_1, peer=Peer.SERVER)
    refusal = ConnAck(reason_code=ConnectReturnCode.NOT_AUTHORIZED)
    assert feed(decoder, encode(refusal, MQTT_3_1_1)) == [refusal, NEED_DATA]
    assert decoder.state is State.DISCONNECTED
    decoder.receive_data(encode(PingResp(), MQTT_3_1_1))
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()


def test_nothing_after_disconnect() -> None:
    decoder = client_stream()
    feed(decoder, encode(Disconnect()))
    decoder.receive_data(encode(PingReq()))
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert decoder.data_to_send() == b""  # the peer has gone: no DISCONNECT back


def test_every_transition_is_from_a_live_state() -> None:
    for table in TRANSITIONS.values():
        assert all(state not in (State.ERROR, State.DISCONNECTED) for state, _ in table)


# --- goodbyes ------------------------------------------------------------------------------------


def test_bad_connect_at_level_5_gets_a_connack() -> None:
    decoder = Decoder(peer=Peer.CLIENT)
    bad = bytearray(encode(Connect("c")))
    bad[9] |= 0x01  # the reserved connect flag [MQTT-3.1.2-3]
    decoder.receive_data(bytes(bad))
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    goodbye = decoder.data_to_send()
    assert decode(goodbye, MQTT_5) == (ConnAck(reason_code=RC.MALFORMED_PACKET), len(goodbye))


def test_unknown_level_gets_a_3_1_1_connack_refusal() -> None:
    """[MQTT-3.1.2-2]; 3.1.1's return code 1 is what clients of any level understand."""
    decoder = Decoder()
    decoder.receive_data(bytes.fromhex("10 0d 00 04 4d 51 54 54 06 02 00 3c 00 01 61"))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reason_code == RC.UNSUPPORTED_PROTOCOL_VERSION
    assert decoder.data_to_send() == bytes.fromhex("20 02 00 01")


def test_3_1_1_client_id_rejection_gets_return_code_2() -> None:
    decoder = Decoder()
    decoder.receive_data(bytes.fromhex("10 0c 00 04 4d 51 54 54 04 00 00 3c 00 00"))
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert decoder.data_to_send() == bytes.fromhex("20 02 00 02")


def test_other_3_1_1_connect_errors_just_close() -> None:
    decoder = Decoder()
    decoder.receive_data(bytes.fromhex("10 0d 00 04 4d 51 54 54 04 03 00 3c 00 01 61"))
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert decoder.data_to_send() == b""


def test_error_reason_goes_into_the_disconnect() -> None:
    decoder = client_stream()
    decoder.receive_data(bytes.fromhex("30 05 00 02 61 23 00"))  # wildcard in topic name: 0x90 is fine
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    assert decoder.data_to_send() == encode(Disconnect(RC.TOPIC_NAME_INVALID))


def test_reason_not_allowed_in_disconnect_is_generalised() -> None:
    decoder = Decoder(MQTT_5)  # a tap: no order checks, so a late CONNECT is parsed
    decoder.receive_data(bytes.fromhex("10 0d 00 04 4d 51 54 54 06 02 00 3c 00 01 61"))
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reason_code == RC.UNSUPPORTED_PROTOCOL_VERSION  # a CONNACK-only code
    assert decoder.data_to_send() == encode(Disconnect(RC.UNSPECIFIED_ERROR))
