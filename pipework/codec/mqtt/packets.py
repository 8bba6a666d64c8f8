"""The fifteen MQTT Control Packets (§3) as slotted dataclasses, for MQTT 3.1.1 and 5.0.

Theory of operation: one class per packet type holds the packet's meaning, not its bytes: no
lengths, no flag bits that other fields imply. The same object encodes for either protocol
level, except that what MQTT 3.1.1 cannot say (properties, failure reason codes, AUTH, the
MQTT 5 subscription options) makes the encoder raise LocalProtocolError rather than be
dropped silently. Fields hold MQTT 5 defaults; ``properties`` is always a
:class:`Properties`, empty for 3.1.1. Packets are mutable and not hashable, like events: a
filter that changes one should make a copy (``dataclasses.replace``).

``properties`` is built when first read: a packet made without properties, or decoded from bytes
that carry none (every MQTT 3.1.1 packet, most MQTT 5 ones), holds None in its slot, and reading
the attribute puts a new empty :class:`Properties` there. An empty Properties has 27 fields and
costs more to build, and to check for emptiness, than the rest of a PUBLISH costs to decode or
encode; most packets never need one. Only :func:`stored_properties`, which the encoder uses to
skip the check, and ``dataclasses.fields`` (whose default factory is ``_unset``) can tell.

:data:`VALID_REASON_CODES` is the spec's table of which Reason Codes each packet may carry;
the codec checks it in both directions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from .errors import ReasonCode
from .properties import Properties
from .wire import MQTT_5, PacketType


def _unset() -> Properties:
    """The default of every ``properties`` field: None in the slot, read as a new Properties."""
    return None  # type: ignore[return-value]  # only the property below ever sees it


# Each class's getter of its raw ``properties`` slot: None until the attribute is read.
_STORED: Final[dict[type, Callable[[Any], Properties | None]]] = {}
_C = TypeVar("_C", bound=type)


def _built_on_read(cls: _C) -> _C:
    """Make ``cls.properties`` build its Properties when first read (see the module's docstring).

    The slot dataclass made stays the storage; the class attribute becomes a property whose
    setter is the slot's own (C) and whose getter replaces None by a new empty Properties.
    """
    slot = cls.__dict__["properties"]
    get_stored, set_stored = slot.__get__, slot.__set__

    def get(obj: object) -> Properties:
        props: Properties | None = get_stored(obj)
        if props is None:
            props = Properties()
            set_stored(obj, props)
        return props

    target: Any = cls  # mypy knows no ``properties`` on a type variable
    target.properties = property(get, set_stored, doc="The MQTT 5.0 properties (§2.2.2).")
    _STORED[cls] = get_stored
    return cls


#: What an unbuilt ``properties`` slot holds (None, typed as what reading the attribute gives).
NO_PROPERTIES: Final = _unset()


def stored_properties(obj: Packet | Will) -> Properties | None:
    """``obj.properties`` if it was ever set or read, else None (then it has no properties)."""
    get_stored = _STORED.get(type(obj))
    if get_stored is None:  # a subclass of ours, or a class without properties
        get_stored = next((_STORED[c] for c in type(obj).__mro__ if c in _STORED), None)
        if get_stored is None:
            return None
    return get_stored(obj)


@dataclass(slots=True)
class Packet:
    """Base class of all packets; ``TYPE`` is the packet's type."""

    TYPE: ClassVar[PacketType]


@_built_on_read
@dataclass(slots=True)
class Will:
    """The Will Message of a CONNECT (§3.1.2.5, §3.1.3.2-3.1.3.4)."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class Connect(Packet):
    """CONNECT (§3.1). ``protocol_level`` is 4 (MQTT 3.1.1) or 5 and decides the wire format.

    ``clean_start`` is 3.1.1's Clean Session. A CONNECT carries its own protocol level: the
    codec writes and reads this field, not the ``protocol_level`` argument of encode/decode.
    """

    TYPE: ClassVar[PacketType] = PacketType.CONNECT
    client_id: str = ""
    protocol_level: int = MQTT_5
    clean_start: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class ConnAck(Packet):
    """CONNACK (§3.2). ``reason_code`` is a ReasonCode (MQTT 5) or a ConnectReturnCode (3.1.1)."""

    TYPE: ClassVar[PacketType] = PacketType.CONNACK
    session_present: bool = False
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class Publish(Packet):
    """PUBLISH (§3.3). ``packet_id`` is set exactly when ``qos`` > 0 [MQTT-2.2.1-2].

    An MQTT 5.0 ``topic`` may be empty when ``properties.topic_alias`` is set (§3.3.2.3.4).
    """

    TYPE: ClassVar[PacketType] = PacketType.PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class _PublishResponse(Packet):
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = field(default_factory=_unset)


@dataclass(slots=True)
class PubAck(_PublishResponse):
    """PUBACK (§3.4): the answer to a QoS 1 PUBLISH."""

    TYPE: ClassVar[PacketType] = PacketType.PUBACK


@dataclass(slots=True)
class PubRec(_PublishResponse):
    """PUBREC (§3.5): the first answer to a QoS 2 PUBLISH."""

    TYPE: ClassVar[PacketType] = PacketType.PUBREC


@dataclass(slots=True)
class PubRel(_PublishResponse):
    """PUBREL (§3.6): the publisher's answer to a PUBREC."""

    TYPE: ClassVar[PacketType] = PacketType.PUBREL


@dataclass(slots=True)
class PubComp(_PublishResponse):
    """PUBCOMP (§3.7): the last packet of the QoS 2 exchange."""

    TYPE: ClassVar[PacketType] = PacketType.PUBCOMP


@dataclass(slots=True)
class Subscription:
    """One Topic Filter and its Subscription Options (§3.8.3.1); MQTT 3.1.1 has only ``qos``.

    ``retain_handling``: 0 send retained messages on subscribe, 1 only for a new subscription,
    2 never.
    """

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@_built_on_read
@dataclass(slots=True)
class Subscribe(Packet):
    """SUBSCRIBE (§3.8): at least one subscription [MQTT-3.8.3-2]."""

    TYPE: ClassVar[PacketType] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: list[Subscription]
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class SubAck(Packet):
    """SUBACK (§3.9): one reason code per subscription, in order [MQTT-3.9.3-1]."""

    TYPE: ClassVar[PacketType] = PacketType.SUBACK
    packet_id: int
    reason_codes: list[ReasonCode]
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class Unsubscribe(Packet):
    """UNSUBSCRIBE (§3.10): at least one topic filter [MQTT-3.10.3-2]."""

    TYPE: ClassVar[PacketType] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: list[str]
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class UnsubAck(Packet):
    """UNSUBACK (§3.11). MQTT 3.1.1 has no reason codes: ``reason_codes`` is then empty."""

    TYPE: ClassVar[PacketType] = PacketType.UNSUBACK
    packet_id: int
    reason_codes: list[ReasonCode] = field(default_factory=list)
    properties: Properties = field(default_factory=_unset)


@dataclass(slots=True)
class PingReq(Packet):
    """PINGREQ (§3.12)."""

    TYPE: ClassVar[PacketType] = PacketType.PINGREQ


@dataclass(slots=True)
class PingResp(Packet):
    """PINGRESP (§3.13)."""

    TYPE: ClassVar[PacketType] = PacketType.PINGRESP


@_built_on_read
@dataclass(slots=True)
class Disconnect(Packet):
    """DISCONNECT (§3.14). MQTT 3.1.1's has no fields: reason code 0, no properties."""

    TYPE: ClassVar[PacketType] = PacketType.DISCONNECT
    reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = field(default_factory=_unset)


@_built_on_read
@dataclass(slots=True)
class Auth(Packet):
    """AUTH (§3.15), MQTT 5.0 only: a step of enhanced authentication."""

    TYPE: ClassVar[PacketType] = PacketType.AUTH
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = field(default_factory=_unset)


PACKET_CLASSES: Final[dict[PacketType, type[Packet]]] = {
    cls.TYPE: cls
    for cls in (Connect, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck,
                Unsubscribe, UnsubAck, PingReq, PingResp, Disconnect, Auth)
}
_STORED.update({cls: _STORED[_PublishResponse] for cls in (PubAck, PubRec, PubRel, PubComp)})


def _valid(table: str) -> dict[PacketType, frozenset[int]]:
    """Parse ``code: PACKET PACKET ...`` lines into packet -> allowed codes."""
    allowed: dict[PacketType, set[int]] = {}
    for line in table.strip().splitlines():
        code, _, packets = line.partition(":")
        for name in packets.split():
            allowed.setdefault(PacketType[name], set()).add(int(code, 16))
    return {ptype: frozenset(codes) for ptype, codes in allowed.items()}


# MQTT 5.0 §2.4 table 2-6: which packets may carry each Reason Code. Sending any other is a
# MUST violation ([MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1],
# [MQTT-3.9.3-2], [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]); receiving one is a Protocol Error.
VALID_REASON_CODES: Final = _valid("""
00: CONNACK PUBACK PUBREC PUBREL PUBCOMP UNSUBACK AUTH DISCONNECT SUBACK
01: SUBACK
02: SUBACK
04: DISCONNECT
10: PUBACK PUBREC
11: UNSUBACK
18: AUTH
19: AUTH
80: CONNACK PUBACK PUBREC SUBACK UNSUBACK DISCONNECT
81: CONNACK DISCONNECT
82: CONNACK DISCONNECT
83: CONNACK PUBACK PUBREC SUBACK UNSUBACK DISCONNECT
84: CONNACK
85: CONNACK
86: CONNACK
87: CONNACK PUBACK PUBREC SUBACK UNSUBACK DISCONNECT
88: CONNACK
89: CONNACK DISCONNECT
8A: CONNACK
8B: DISCONNECT
8C: CONNACK DISCONNECT
8D: DISCONNECT
8E: DISCONNECT
8F: SUBACK UNSUBACK DISCONNECT
90: CONNACK PUBACK PUBREC DISCONNECT
91: PUBACK PUBREC SUBACK UNSUBACK
92: PUBREL PUBCOMP
93: DISCONNECT
94: DISCONNECT
95: CONNACK DISCONNECT
96: DISCONNECT
97: CONNACK PUBACK PUBREC SUBACK DISCONNECT
98: DISCONNECT
99: CONNACK PUBACK PUBREC DISCONNECT
9A: CONNACK DISCONNECT
9B: CONNACK DISCONNECT
9C: CONNACK DISCONNECT
9D: CONNACK DISCONNECT
9E: SUBACK DISCONNECT
9F: CONNACK DISCONNECT
A0: DISCONNECT
A1: SUBACK DISCONNECT
A2: SUBACK DISCONNECT
""")
# MQTT 3.1.1 SUBACK return codes: "other than 0x00, 0x01, 0x02 and 0x80 are reserved and MUST
# NOT be used" (3.1.1 [MQTT-3.9.3-2]).
SUBACK_CODES_3_1_1: Final = frozenset({0x00, 0x01, 0x02, 0x80})
