"""paho-mqtt as an independent peer: what a paho Client writes decodes right, and paho accepts what we encode.

The client talks to one end of a socketpair that the test holds; no broker, no network. paho
writes synchronously from connect(), publish(), subscribe() and disconnect() when no network
thread runs, so each call's bytes can be read back at once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pipework.codec.mqtt import (
    MQTT_3_1_1,
    MQTT_5,
    NEED_DATA,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    Packet,
    Peer,
    Properties,
    PubAck,
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
    encode,
)

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties as PahoProperties
    from paho.mqtt.reasoncodes import ReasonCode as PahoReasonCode
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ModuleNotFoundError:
    if os.environ.get("PIPEWORK_REQUIRE_ALL") == "1":  # CI installs every peer: a missing one fails
        raise
    pytest.skip("paho-mqtt is the independent peer: pip install paho-mqtt", allow_module_level=True)

RC = ReasonCode
Pair = tuple[socket.socket, socket.socket]


def paho_properties(packet_type: int) -> Any:
    return PahoProperties(packet_type)  # type: ignore[no-untyped-call]  # paho's Properties is untyped


class Broker:
    """The test's end of the socketpair: decodes what the paho client writes, sends our bytes."""

    def __init__(self, sock: socket.socket, client: Any) -> None:
        self.sock = sock
        self.client = client
        self.decoder = Decoder(peer=Peer.CLIENT)

    def receive(self) -> Packet:
        while True:
            event = self.decoder.next_event()
            if event is not NEED_DATA:
                assert isinstance(event, Packet)
                return event
            data = self.sock.recv(65536)
            assert data, "paho closed the connection"
            self.decoder.receive_data(data)

    def send(self, packet: Packet, level: int) -> None:
        """Write our encoding of ``packet`` and let paho read and handle it."""
        self.sock.sendall(encode(packet, level))
        assert self.client.loop_read() == mqtt.MQTT_ERR_SUCCESS


@pytest.fixture
def pair() -> Iterator[Pair]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def make_client(pair: Pair, protocol: MQTTProtocolVersion, client_id: str) -> tuple[Any, Broker]:
    ours, theirs = pair
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    # paho connects to our socketpair instead of TCP
    client._create_socket = lambda: theirs  # type: ignore[method-assign]  # a test double
    return client, Broker(ours, client)


def connected(pair: Pair, protocol: MQTTProtocolVersion) -> tuple[Any, Broker]:
    client, broker = make_client(pair, protocol, "paho-test")
    level = MQTT_5 if protocol == mqtt.MQTTv5 else MQTT_3_1_1
    assert client.connect("localhost", 1883, keepalive=15) == mqtt.MQTT_ERR_SUCCESS
    assert isinstance(broker.receive(), Connect)
    broker.send(ConnAck(), level)
    assert client.is_connected()
    return client, broker


def test_connect_3_1_1_with_will_and_credentials(pair: Pair) -> None:
    client, broker = make_client(pair, mqtt.MQTTv311, "dev-311")
    client.username_pw_set("user", "pässword")
    client.will_set("dev/status", b"offline", qos=2, retain=True)
    client.connect("localhost", 1883, keepalive=42)
    assert broker.receive() == Connect(
        "dev-311", protocol_level=MQTT_3_1_1, clean_start=True, keep_alive=42, username="user",
        password="pässword".encode(), will=Will("dev/status", b"offline", qos=2, retain=True))
    assert broker.decoder.protocol_level == MQTT_3_1_1


def test_connect_5_with_properties_and_will_properties(pair: Pair) -> None:
    client, broker = make_client(pair, mqtt.MQTTv5, "dev-5")
    client.username_pw_set("user", None)
    will_props = paho_properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = 30
    will_props.MessageExpiryInterval = 600
    will_props.ContentType = "text/plain"
    will_props.UserProperty = ("reason", "lost")
    will_props.UserProperty = ("zone", "b")
    client.will_set("dev/5/status", b"gone", qos=1, retain=False, properties=will_props)
    props = paho_properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 20
    props.MaximumPacketSize = 65536
    props.TopicAliasMaximum = 8
    props.RequestProblemInformation = 1
    props.UserProperty = ("app", "pipework")
    client.connect("localhost", 1883, keepalive=0, clean_start=False, properties=props)
    assert broker.receive() == Connect(
        "dev-5", protocol_level=MQTT_5, clean_start=False, keep_alive=0, username="user",
        will=Will("dev/5/status", b"gone", qos=1, retain=False, properties=Properties(
            will_delay_interval=30, message_expiry_interval=600, content_type="text/plain",
            user_properties=[("reason", "lost"), ("zone", "b")])),
        properties=Properties(session_expiry_interval=3600, receive_maximum=20, maximum_packet_size=65536,
                              topic_alias_maximum=8, request_problem_information=1,
                              user_properties=[("app", "pipework")]))


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish(pair: Pair, protocol: MQTTProtocolVersion, qos: int) -> None:
    client, broker = connected(pair, protocol)
    client.publish("sensors/room-1/temp", b"21.5", qos=qos, retain=qos == 1)
    packet = broker.receive()
    assert isinstance(packet, Publish)
    assert (packet.topic, packet.payload, packet.qos, packet.retain, packet.dup) == (
        "sensors/room-1/temp", b"21.5", qos, qos == 1, False)
    assert (packet.packet_id is None) is (qos == 0)
    assert packet.properties == Properties()
    level = MQTT_5 if protocol == mqtt.MQTTv5 else MQTT_3_1_1
    if qos == 2:  # complete the exchange: paho answers our PUBREC with PUBREL
        assert packet.packet_id is not None
        broker.send(PubRec(packet.packet_id), level)
        assert broker.receive() == PubRel(packet.packet_id)


def test_publish_5_with_properties(pair: Pair) -> None:
    client, broker = connected(pair, mqtt.MQTTv5)
    props = paho_properties(PacketTypes.PUBLISH)
    props.PayloadFormatIndicator = 1
    props.ResponseTopic = "replies/1"
    props.CorrelationData = b"\x00\x01"
    props.UserProperty = [("a", "1"), ("a", "2")]
    client.publish("req", "ünïcode", qos=1, properties=props)
    packet = broker.receive()
    assert isinstance(packet, Publish)
    assert packet.payload == "ünïcode".encode()
    assert packet.properties == Properties(
        payload_format_indicator=1, response_topic="replies/1", correlation_data=b"\x00\x01",
        user_properties=[("a", "1"), ("a", "2")])


def test_subscribe_and_unsubscribe_3_1_1(pair: Pair) -> None:
    client, broker = connected(pair, mqtt.MQTTv311)
    _, mid = client.subscribe([("a/+", 1), ("b/#", 2), ("$SYS/#", 0)])
    assert broker.receive() == Subscribe(mid, [Subscription("a/+", 1), Subscription("b/#", 2),
                                               Subscription("$SYS/#", 0)])
    _, mid = client.unsubscribe(["a/+", "b/#"])
    assert broker.receive() == Unsubscribe(mid, ["a/+", "b/#"])


def test_subscribe_5_with_options_and_identifier(pair: Pair) -> None:
    client, broker = connected(pair, mqtt.MQTTv5)
    props = paho_properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = 4242
    options = SubscribeOptions(qos=2, noLocal=True, retainAsPublished=True,
                               retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
    _, mid = client.subscribe([("x/+/y", options), ("$share/grp/jobs/#", SubscribeOptions(qos=1))],
                              properties=props)
    assert broker.receive() == Subscribe(
        mid, [Subscription("x/+/y", 2, no_local=True, retain_as_published=True, retain_handling=1),
              Subscription("$share/grp/jobs/#", 1)],
        Properties(subscription_identifiers=[4242]))


def test_disconnect_3_1_1(pair: Pair) -> None:
    client, broker = connected(pair, mqtt.MQTTv311)
    client.disconnect()
    assert broker.receive() == Disconnect()


def test_disconnect_5_with_reason_and_properties(pair: Pair) -> None:
    client, broker = connected(pair, mqtt.MQTTv5)
    props = paho_properties(PacketTypes.DISCONNECT)
    props.SessionExpiryInterval = 0
    props.ReasonString = "bye"
    client.disconnect(reasoncode=PahoReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"),
                      properties=props)
    assert broker.receive() == Disconnect(RC.DISCONNECT_WITH_WILL_MESSAGE,
                                          Properties(session_expiry_interval=0, reason_string="bye"))


# --- the other direction: paho decodes what we encode -------------------------------------------------


def test_paho_reads_our_connack_publish_suback_and_puback(pair: Pair) -> None:
    client, broker = make_client(pair, mqtt.MQTTv5, "")
    seen: dict[str, Any] = {}
    client.on_connect = lambda c, u, flags, rc, props: seen.update(
        connect=(flags.session_present, rc.value, props.AssignedClientIdentifier, props.TopicAliasMaximum))
    client.on_message = lambda c, u, msg: seen.setdefault("messages", []).append(
        (msg.topic, msg.payload, msg.qos, msg.retain, getattr(msg.properties, "UserProperty", None)))
    client.on_subscribe = lambda c, u, mid, codes, props: seen.update(suback=(mid, [x.value for x in codes]))
    client.on_unsubscribe = lambda c, u, mid, codes, props: seen.update(
        unsuback=(mid, [x.value for x in codes]))
    client.on_publish = lambda c, u, mid, rc, props: seen.update(puback=(mid, rc.value))
    client.connect("localhost", 1883)
    assert broker.receive() == Connect("", protocol_level=MQTT_5, keep_alive=60)

    broker.send(ConnAck(True, properties=Properties(assigned_client_identifier="auto-7",
                                                    topic_alias_maximum=5)), MQTT_5)
    assert seen["connect"] == (True, 0, "auto-7", 5)

    user_properties = [("k", "v"), ("k", "w")]
    broker.send(Publish("a/b", b"one", properties=Properties(user_properties=user_properties)), MQTT_5)
    broker.send(Publish("a/c", b"two", qos=1, retain=True, packet_id=77), MQTT_5)
    assert broker.receive() == PubAck(77)  # paho acknowledges our QoS 1 PUBLISH
    assert seen["messages"] == [("a/b", b"one", 0, False, [("k", "v"), ("k", "w")]),
                                ("a/c", b"two", 1, True, None)]

    _, mid = client.subscribe([("a/#", 1), ("b", 2)])
    assert isinstance(broker.receive(), Subscribe)
    broker.send(SubAck(mid, [RC.GRANTED_QOS_1, RC.NOT_AUTHORIZED]), MQTT_5)
    assert seen["suback"] == (mid, [1, 0x87])

    _, mid = client.unsubscribe("a/#")
    assert isinstance(broker.receive(), Unsubscribe)
    broker.send(UnsubAck(mid, [RC.NO_SUBSCRIPTION_EXISTED]), MQTT_5)
    assert seen["unsuback"] == (mid, [0x11])

    info = client.publish("out", b"x", qos=1)
    packet = broker.receive()
    assert isinstance(packet, Publish)
    broker.send(PubAck(info.mid, RC.NO_MATCHING_SUBSCRIBERS), MQTT_5)
    assert seen["puback"] == (info.mid, 0x10)


def test_paho_3_1_1_reads_our_packets(pair: Pair) -> None:
    client, broker = make_client(pair, mqtt.MQTTv311, "c311")
    seen: dict[str, Any] = {}
    client.on_connect = lambda c, u, flags, rc, props: seen.update(connect=(flags.session_present, rc.value))
    client.on_message = lambda c, u, msg: seen.update(message=(msg.topic, msg.payload, msg.qos))
    client.connect("localhost", 1883)
    broker.receive()
    broker.send(ConnAck(session_present=True), MQTT_3_1_1)
    assert seen["connect"] == (True, 0)
    broker.send(Publish("t/ü", b"\x00\xff" * 200, qos=2, packet_id=9), MQTT_3_1_1)
    assert broker.receive() == PubRec(9)
    broker.send(PubRel(9), MQTT_3_1_1)
    assert seen["message"] == ("t/ü", b"\x00\xff" * 200, 2)
