"""MQTT 5.0 properties (§2.2.2): the typed, optional fields of variable headers and will messages.

Theory of operation: a property list is a Variable Byte Integer length followed by
``identifier, value`` pairs. :data:`PROPERTY_TABLE` says, for each of the 27 identifiers, its
attribute name in :class:`Properties`, its data type and the packets that may carry it;
reading and writing are driven by that table. The spec's rules on receipt are:

* §2.2.2.2 "A Control Packet which contains an Identifier which is not valid for its packet
  type, or contains a value not of the specified data type, is a Malformed Packet" — unknown
  identifiers, identifiers not allowed in this packet and values running past the property
  list raise RemoteProtocolError 0x81.
* Each property's own section: "It is a Protocol Error to include <it> more than once", except
  User Property (any number, order kept: [MQTT-3.3.2-18]) and Subscription Identifier (several
  in a PUBLISH, §3.3.2.3.8, at most one in a SUBSCRIBE, §3.8.2.1.2) — raise 0x82; so do the
  out-of-range values the spec calls Protocol Errors (a 0 Receive Maximum, Maximum Packet Size,
  Topic Alias or Subscription Identifier; a flag byte other than 0 or 1).

The encoder applies the same rules and raises LocalProtocolError. Properties whose order does
not matter are written in identifier order; user properties keep theirs.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, NamedTuple

from .errors import LocalProtocolError, malformed, protocol_error
from .topics import topic_name_error
from .wire import (
    MAX_UINT16,
    MAX_UINT32,
    MAX_VARINT,
    U16,
    U32,
    PacketType,
    Reader,
    encode_binary,
    encode_utf8,
    encode_varint,
)

# The pseudo packet type of a CONNECT's Will Properties (§3.1.3.2), which have their own rules.
WILL_PROPERTIES: Final = 0


class PropertyId(IntEnum):
    """MQTT 5.0 property identifiers (§2.2.2.2, table 2-4)."""

    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


class PropertyType(IntEnum):
    """The data types of §1.5 that property values use."""

    BYTE = 1
    TWO_BYTE_INTEGER = 2
    FOUR_BYTE_INTEGER = 4
    VARIABLE_BYTE_INTEGER = 5
    UTF8_STRING = 6
    BINARY_DATA = 7
    UTF8_STRING_PAIR = 8


class PropertySpec(NamedTuple):
    """One row of :data:`PROPERTY_TABLE`."""

    name: str  # the attribute of Properties
    type: PropertyType
    contexts: frozenset[int]  # PacketType values, or WILL_PROPERTIES


@dataclass(slots=True, kw_only=True, repr=False)
class Properties:
    """The properties of one MQTT 5.0 packet or will; None (or empty) means absent.

    Integers stay integers (flag bytes are 0 or 1) so that a decoded packet re-encodes to the
    same values. ``user_properties`` keeps order and repeats; ``subscription_identifiers`` holds
    the repeatable Subscription Identifier.
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: list[int] = field(default_factory=list)
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: list[tuple[str, str]] = field(default_factory=list)
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name in self.__slots__
                           if (value := getattr(self, name)) is not None and value != [])
        return f"Properties({fields})"

    def is_empty(self) -> bool:
        """True when no property is set."""
        return (_GET_SCALARS(self) == _NO_SCALARS and not self.subscription_identifiers
                and not self.user_properties)


def _ctx(*names: str) -> frozenset[int]:
    return frozenset(WILL_PROPERTIES if n == "WILL" else PacketType[n] for n in names)


_T = PropertyType
_ACKS = ("PUBACK", "PUBREC", "PUBREL", "PUBCOMP")
PROPERTY_TABLE: Final[dict[PropertyId, PropertySpec]] = {
    PropertyId(pid): PropertySpec(PropertyId(pid).name.lower(), kind, contexts)
    for pid, kind, contexts in (
        (0x01, _T.BYTE, _ctx("PUBLISH", "WILL")),
        (0x02, _T.FOUR_BYTE_INTEGER, _ctx("PUBLISH", "WILL")),
        (0x03, _T.UTF8_STRING, _ctx("PUBLISH", "WILL")),
        (0x08, _T.UTF8_STRING, _ctx("PUBLISH", "WILL")),
        (0x09, _T.BINARY_DATA, _ctx("PUBLISH", "WILL")),
        (0x0B, _T.VARIABLE_BYTE_INTEGER, _ctx("PUBLISH", "SUBSCRIBE")),
        (0x11, _T.FOUR_BYTE_INTEGER, _ctx("CONNECT", "CONNACK", "DISCONNECT")),
        (0x12, _T.UTF8_STRING, _ctx("CONNACK")),
        (0x13, _T.TWO_BYTE_INTEGER, _ctx("CONNACK")),
        (0x15, _T.UTF8_STRING, _ctx("CONNECT", "CONNACK", "AUTH")),
        (0x16, _T.BINARY_DATA, _ctx("CONNECT", "CONNACK", "AUTH")),
        (0x17, _T.BYTE, _ctx("CONNECT")),
        (0x18, _T.FOUR_BYTE_INTEGER, _ctx("WILL")),
        (0x19, _T.BYTE, _ctx("CONNECT")),
        (0x1A, _T.UTF8_STRING, _ctx("CONNACK")),
        (0x1C, _T.UTF8_STRING, _ctx("CONNACK", "DISCONNECT")),
        (0x1F, _T.UTF8_STRING, _ctx("CONNACK", *_ACKS, "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH")),
        (0x21, _T.TWO_BYTE_INTEGER, _ctx("CONNECT", "CONNACK")),
        (0x22, _T.TWO_BYTE_INTEGER, _ctx("CONNECT", "CONNACK")),
        (0x23, _T.TWO_BYTE_INTEGER, _ctx("PUBLISH")),
        (0x24, _T.BYTE, _ctx("CONNACK")),
        (0x25, _T.BYTE, _ctx("CONNACK")),
        (0x26, _T.UTF8_STRING_PAIR, _ctx(*(t.name for t in PacketType if t.value not in (12, 13)), "WILL")),
        (0x27, _T.FOUR_BYTE_INTEGER, _ctx("CONNECT", "CONNACK")),
        (0x28, _T.BYTE, _ctx("CONNACK")),
        (0x29, _T.BYTE, _ctx("CONNACK")),
        (0x2A, _T.BYTE, _ctx("CONNACK")),
    )
}
# The table's names are the dataclass's fields, except for the two repeatable properties.
_ATTR: Final = {PropertyId.SUBSCRIPTION_IDENTIFIER: "subscription_identifiers",
                PropertyId.USER_PROPERTY: "user_properties"}

# Byte properties whose only values are 0 and 1 (§3.1.2.11.6, §3.1.2.11.7, §3.2.2.3.4-3.2.2.3.13).
_FLAGS: Final = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
# Integer properties for which 0 is a Protocol Error (§3.1.2.11.3, §3.1.2.11.4, §3.3.2.3.4, §3.8.2.1.2).
_NONZERO: Final = frozenset({0x0B, 0x21, 0x23, 0x27})
_LIMIT: Final = {_T.BYTE: 0xFF, _T.TWO_BYTE_INTEGER: MAX_UINT16, _T.FOUR_BYTE_INTEGER: MAX_UINT32,
                 _T.VARIABLE_BYTE_INTEGER: MAX_VARINT}
# (id byte, attribute, type, contexts) of the single-valued properties, in identifier order.
_SCALARS: Final = tuple(
    (bytes((pid,)), spec.name, spec.type, spec.contexts)
    for pid, spec in PROPERTY_TABLE.items() if pid not in _ATTR
)
_BY_ID: Final[dict[int, tuple[str, PropertyType, frozenset[int]]]] = {
    int(pid): (_ATTR.get(pid, spec.name), spec.type, spec.contexts) for pid, spec in PROPERTY_TABLE.items()
}


def _value_error(pid: int, value: object) -> str | None:
    """Why ``value`` is not allowed for property ``pid`` (a Protocol Error), or None."""
    if pid in _FLAGS and value not in (0, 1):
        return f"property {PropertyId(pid).name} must be 0 or 1, not {value!r}"
    if pid in _NONZERO and value == 0:
        return f"property {PropertyId(pid).name} must not be 0"
    if pid == PropertyId.RESPONSE_TOPIC and isinstance(value, str):  # other types: _encode_value
        problem = topic_name_error(value)
        if problem is not None:
            return f"Response Topic: {problem} [MQTT-3.3.2-14]"
    return None


def read_properties(r: Reader, context: int) -> Properties:
    """Read a property list for a packet of type ``context`` (or WILL_PROPERTIES)."""
    length = r.varint()
    props = Properties()
    if length == 0:
        return props
    end = r.pos + length
    if end > r.end:
        raise malformed("Property Length runs past the end of the packet (§2.2.2.1)")
    packet_end, r.end = r.end, end  # values may not run past the property list
    seen: set[int] = set()
    while r.pos < end:
        pid = r.varint()
        spec = _BY_ID.get(pid)
        if spec is None or context not in spec[2]:
            raise malformed(f"property 0x{pid:02X} is not valid in {_context_name(context)} (§2.2.2.2)")
        name, kind, _ = spec
        if kind is _T.UTF8_STRING_PAIR:
            props.user_properties.append((r.utf8(), r.utf8()))  # order kept [MQTT-3.3.2-18]
            continue
        value: int | str | bytes
        if kind is _T.BYTE:
            value = r.u8()
        elif kind is _T.TWO_BYTE_INTEGER:
            value = r.u16()
        elif kind is _T.FOUR_BYTE_INTEGER:
            value = r.u32()
        elif kind is _T.VARIABLE_BYTE_INTEGER:
            value = r.varint()
        elif kind is _T.UTF8_STRING:
            value = r.utf8()
        else:
            value = r.binary()
        problem = _value_error(pid, value)
        if problem is not None:
            raise protocol_error(problem)
        if pid == PropertyId.SUBSCRIPTION_IDENTIFIER:
            assert isinstance(value, int)
            if context != PacketType.PUBLISH and props.subscription_identifiers:
                raise protocol_error("Subscription Identifier included more than once (§3.8.2.1.2)")
            props.subscription_identifiers.append(value)
            continue
        if pid in seen:
            raise protocol_error(f"property {PropertyId(pid).name} included more than once (§2.2.2.2)")
        seen.add(pid)
        setattr(props, name, value)
    r.end = packet_end
    return props


def _context_name(context: int) -> str:
    return "Will Properties" if context == WILL_PROPERTIES else PacketType(context).name


def _encode_value(pid: bytes, kind: PropertyType, value: object) -> bytes:
    if kind in _LIMIT:
        if type(value) is not int or not 0 <= value <= _LIMIT[kind]:
            raise LocalProtocolError(f"property 0x{pid[0]:02X} value {value!r} does not fit {kind.name}")
        if kind is _T.BYTE:
            return pid + bytes((value,))
        if kind is _T.TWO_BYTE_INTEGER:
            return pid + U16.pack(value)
        if kind is _T.FOUR_BYTE_INTEGER:
            return pid + U32.pack(value)
        return pid + encode_varint(value)
    if kind is _T.UTF8_STRING:
        if not isinstance(value, str):
            raise LocalProtocolError(f"property 0x{pid[0]:02X} must be a str, not {type(value).__name__}")
        return pid + encode_utf8(value)
    if not isinstance(value, bytes | bytearray):
        raise LocalProtocolError(f"property 0x{pid[0]:02X} must be bytes, not {type(value).__name__}")
    return pid + encode_binary(bytes(value))


_GET_SCALARS: Final = operator.attrgetter(*(name for _, name, _, _ in _SCALARS))
_NO_SCALARS: Final = (None,) * len(_SCALARS)
_SUBSCRIPTION_IDENTIFIER: Final = bytes((PropertyId.SUBSCRIPTION_IDENTIFIER,))
_USER_PROPERTY: Final = bytes((PropertyId.USER_PROPERTY,))
_EMPTY: Final = b"\x00"


def props_empty(props: Properties) -> bool:
    """``props.is_empty()`` without the method call, for the encoders' fast paths."""
    return (_GET_SCALARS(props) == _NO_SCALARS and not props.subscription_identifiers
            and not props.user_properties)


def encode_properties(props: Properties, context: int | None) -> bytes:
    """The encoded property list (length included) of ``props`` for a packet of type ``context``.

    ``context`` None skips the "allowed in this packet" check. Raises LocalProtocolError for a
    property the packet may not carry or a value the spec forbids.
    """
    values = _GET_SCALARS(props)
    if values == _NO_SCALARS and not props.subscription_identifiers and not props.user_properties:
        return _EMPTY  # the common case, without a Python-level loop over 25 attributes
    parts: list[bytes] = []
    for (pid, name, kind, contexts), value in zip(_SCALARS, values, strict=True):
        if value is None:
            continue
        if context is not None and context not in contexts:
            raise LocalProtocolError(f"property {name} is not valid in {_context_name(context)} (§2.2.2.2)")
        problem = _value_error(pid[0], value)
        if problem is not None:
            raise LocalProtocolError(problem)
        parts.append(_encode_value(pid, kind, value))
    if props.subscription_identifiers:
        if context is not None and context not in (PacketType.PUBLISH, PacketType.SUBSCRIBE):
            raise LocalProtocolError(f"Subscription Identifier is not valid in {_context_name(context)}")
        if context == PacketType.SUBSCRIBE and len(props.subscription_identifiers) > 1:
            raise LocalProtocolError("a SUBSCRIBE carries at most one Subscription Identifier (§3.8.2.1.2)")
        for sid in props.subscription_identifiers:
            if type(sid) is not int or not 0 < sid <= MAX_VARINT:
                raise LocalProtocolError(f"Subscription Identifier must be 1..268,435,455, not {sid!r}")
            parts.append(_SUBSCRIPTION_IDENTIFIER + encode_varint(sid))
    if props.user_properties:
        if context in (PacketType.PINGREQ, PacketType.PINGRESP):
            raise LocalProtocolError("PINGREQ and PINGRESP carry no properties")
        for key, value in props.user_properties:
            parts.append(_USER_PROPERTY + encode_utf8(key) + encode_utf8(value))
    if not parts:
        return _EMPTY
    body = b"".join(parts)
    return encode_varint(len(body)) + body
