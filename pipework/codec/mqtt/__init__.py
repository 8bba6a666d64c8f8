"""A sans-IO codec for MQTT 3.1.1 (protocol level 4) and MQTT 5.0 (level 5).

Theory of operation: bytes in, packets out; packets in, bytes out; no sockets, no event loop,
no clock. Three layers, each usable alone:

* :func:`decode` / :func:`encode` turn one packet into bytes and back. ``decode(buf, level)``
  returns ``(packet, consumed)``, or None while ``buf`` holds less than one whole packet.
* :class:`Decoder` takes chunks of any size (``receive_data``) and hands out packets
  (``next_event`` → a packet, NEED_DATA or CLOSED), learns the protocol level from the CONNECT,
  optionally enforces the packet order of a client's or a server's stream, and on a peer's
  error queues the CONNACK or DISCONNECT that says why (``data_to_send``) before raising.
* :func:`packet_type`, :func:`peek_packet_size`, :func:`peek_client_id` and :func:`peek_topic`
  read one fact from raw bytes for a proxy that routes and forwards without decoding.

Every failure is an :class:`MQTTError` carrying an MQTT 5 :class:`ReasonCode`:
:class:`RemoteProtocolError` for the peer's bytes, :class:`LocalProtocolError` for our misuse.
Packets are slotted dataclasses (:class:`Connect` … :class:`Auth`); MQTT 5 properties are a
:class:`Properties` dataclass; topics are validated and matched by :func:`topic_name_error`,
:func:`topic_filter_error` and :func:`topic_matches`.
"""

from .decoder import CLOSED, NEED_DATA, TRANSITIONS, Decoder, Peer, Sentinel, State
from .decoding import decode
from .encoding import encode
from .errors import ConnectReturnCode, LocalProtocolError, MQTTError, ReasonCode, RemoteProtocolError
from .packets import (
    PACKET_CLASSES,
    VALID_REASON_CODES,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from .peek import packet_type, peek_client_id, peek_packet_size, peek_topic
from .properties import PROPERTY_TABLE, WILL_PROPERTIES, Properties, PropertyId, PropertySpec, PropertyType
from .topics import split_shared, topic_filter_error, topic_matches, topic_name_error
from .wire import DEFAULT_MAX_PACKET_SIZE, MAX_PACKET_SIZE, MQTT_3_1_1, MQTT_5, PacketType

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_PACKET_SIZE",
    "MAX_PACKET_SIZE",
    "MQTT_3_1_1",
    "MQTT_5",
    "NEED_DATA",
    "PACKET_CLASSES",
    "PROPERTY_TABLE",
    "TRANSITIONS",
    "VALID_REASON_CODES",
    "WILL_PROPERTIES",
    "Auth",
    "ConnAck",
    "Connect",
    "ConnectReturnCode",
    "Decoder",
    "Disconnect",
    "LocalProtocolError",
    "MQTTError",
    "Packet",
    "PacketType",
    "Peer",
    "PingReq",
    "PingResp",
    "Properties",
    "PropertyId",
    "PropertySpec",
    "PropertyType",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "ReasonCode",
    "RemoteProtocolError",
    "Sentinel",
    "State",
    "SubAck",
    "Subscribe",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "Will",
    "decode",
    "encode",
    "packet_type",
    "peek_client_id",
    "peek_packet_size",
    "peek_topic",
    "split_shared",
    "topic_filter_error",
    "topic_matches",
    "topic_name_error",
]
