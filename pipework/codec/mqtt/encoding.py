"""Pure MQTT packet encoding: ``encode(packet, protocol_level) -> bytes``.

Theory of operation: one function per packet type checks the packet against the MUSTs a sender
must keep, and returns the first byte of the fixed header and the body as a list of parts; the
parts are measured and joined once behind the fixed header, so a payload is copied once. What
MQTT 3.1.1 cannot express (properties, failure reason codes, AUTH, MQTT 5 subscription options)
raises LocalProtocolError instead of being dropped. MQTT 5's short forms — an acknowledgement
or DISCONNECT without a Reason Code or properties when they are 0x00 and empty — are used
whenever they apply.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from .errors import (
    CONNECT_RETURN_BY_VALUE,
    LocalProtocolError,
    ReasonCode,
)
from .packets import (
    _STORED,
    SUBACK_CODES_3_1_1,
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
    UnsubAck,
    Unsubscribe,
    Will,
    _PublishResponse,
    stored_properties,
)
from .properties import WILL_PROPERTIES, encode_properties, props_empty
from .topics import SHARED_PREFIX, topic_filter_error, topic_name_error
from .wire import (
    CONNECT_HEAD,
    MAX_PACKET_SIZE,
    MAX_UINT16,
    MAX_VARINT,
    MQTT_3_1_1,
    MQTT_5,
    PROTOCOL_LEVELS,
    PROTOCOL_NAME,
    U16,
    PacketType,
    check_level,
    check_packet_id,
    encode_binary,
    encode_utf8,
    encode_varint,
)

_Parts = list[bytes]


def _check_qos(qos: int, what: str) -> int:
    if qos not in (0, 1, 2):
        raise LocalProtocolError(f"{what} must be 0, 1 or 2, not {qos!r}")
    return qos


def _properties_or_nothing(owner: Packet | Will, ptype: int, level: int) -> bytes:
    """MQTT 5: the encoded properties. 3.1.1: b"", after checking there are none to lose."""
    get_stored = _STORED.get(type(owner))
    props = get_stored(owner) if get_stored is not None else stored_properties(owner)
    if props is None:  # never built: empty
        return b"\x00" if level == MQTT_5 else b""
    encoded = encode_properties(props, ptype)
    if level == MQTT_5:
        return encoded
    if encoded != b"\x00":
        raise LocalProtocolError(f"MQTT 3.1.1 {_name(ptype)} cannot carry properties")
    return b""


def _name(ptype: int) -> str:
    return "Will" if ptype == WILL_PROPERTIES else PacketType(ptype).name


def _check_reason(code: int, ptype: PacketType, level: int) -> bytes:
    if level == MQTT_5:
        if code not in VALID_REASON_CODES[ptype]:
            raise LocalProtocolError(f"Reason Code 0x{int(code):02X} is not valid in {ptype.name} (§2.4)")
    elif code != ReasonCode.SUCCESS:
        raise LocalProtocolError(f"MQTT 3.1.1 {ptype.name} cannot carry Reason Code 0x{int(code):02X}")
    return bytes((code,))


def _encode_connect(p: Connect, level: int) -> tuple[int, _Parts]:
    level = p.protocol_level
    if level not in PROTOCOL_LEVELS:
        check_level(level)  # raises
    if not 0 <= p.keep_alive <= MAX_UINT16:
        raise LocalProtocolError(f"keep_alive must be 0..65535, not {p.keep_alive}")
    if level == MQTT_3_1_1 and p.password is not None and p.username is None:
        raise LocalProtocolError("MQTT 3.1.1 cannot send a password without a user name "
                                 "(3.1.1 [MQTT-3.1.2-22])")
    cflags = 0x02 if p.clean_start else 0
    if type(p) is Connect and _CONNECT_STORED(p) is None:  # no properties ever built: empty
        props = b"\x00" if level == MQTT_5 else b""
    else:
        props = _properties_or_nothing(p, PacketType.CONNECT, level)
    parts = [b"", props, encode_utf8(p.client_id)]
    if (w := p.will) is not None:
        problem = topic_name_error(w.topic)
        if problem is not None:
            raise LocalProtocolError(f"Will Topic: {problem}", ReasonCode.TOPIC_NAME_INVALID)
        cflags |= 0x04 | (_check_qos(w.qos, "Will QoS") << 3) | (0x20 if w.retain else 0)
        parts += (_properties_or_nothing(w, WILL_PROPERTIES, level),
                  encode_utf8(w.topic), encode_binary(w.payload))
    if p.username is not None:
        cflags |= 0x80
        parts.append(encode_utf8(p.username))
    if p.password is not None:
        cflags |= 0x40
        parts.append(encode_binary(p.password))
    parts[0] = CONNECT_HEAD.pack(len(PROTOCOL_NAME), PROTOCOL_NAME, level, cflags, p.keep_alive)
    return 0x10, parts


def _encode_connack(p: ConnAck, level: int) -> tuple[int, _Parts]:
    if level == MQTT_5:
        code = _check_reason(p.reason_code, PacketType.CONNACK, level)
    elif p.reason_code in CONNECT_RETURN_BY_VALUE:
        code = bytes((p.reason_code,))
    else:
        raise LocalProtocolError(f"MQTT 3.1.1 CONNACK return code must be 0..5, not {p.reason_code!r}")
    flags = b"\x01" if p.session_present else b"\x00"
    return 0x20, [flags, code, _properties_or_nothing(p, PacketType.CONNACK, level)]


def _encode_publish(p: Publish, level: int) -> tuple[int, _Parts]:
    qos = _check_qos(p.qos, "QoS")
    if p.dup and not qos:
        raise LocalProtocolError("DUP MUST be 0 on a QoS 0 PUBLISH [MQTT-3.3.1-2]")
    if not qos and p.packet_id is not None:
        raise LocalProtocolError("a QoS 0 PUBLISH MUST NOT carry a Packet Identifier [MQTT-2.2.1-2]")
    if p.topic or level != MQTT_5 or p.properties.topic_alias is None:
        problem = topic_name_error(p.topic)
        if problem is not None:
            raise LocalProtocolError(problem, ReasonCode.TOPIC_NAME_INVALID)
    first = 0x30 | (0x08 if p.dup else 0) | (qos << 1) | (0x01 if p.retain else 0)
    parts = [encode_utf8(p.topic)]
    if qos:
        parts.append(U16.pack(check_packet_id(p.packet_id)))
    parts += (_properties_or_nothing(p, PacketType.PUBLISH, level), bytes(p.payload))
    return first, parts


def _encode_publish_response(p: _PublishResponse, level: int) -> tuple[int, _Parts]:
    ptype = p.TYPE
    first = 0x62 if ptype is PacketType.PUBREL else ptype << 4
    parts = [U16.pack(check_packet_id(p.packet_id))]
    code = _check_reason(p.reason_code, ptype, level)
    props = _properties_or_nothing(p, ptype, level)
    if level == MQTT_5 and (p.reason_code or props != b"\x00"):  # the short forms of §3.4.2.1
        parts.append(code)
        if props != b"\x00":
            parts.append(props)
    return first, parts


def _encode_subscribe(p: Subscribe, level: int) -> tuple[int, _Parts]:
    if not p.subscriptions:
        raise LocalProtocolError("a SUBSCRIBE needs at least one subscription [MQTT-3.8.3-2]")
    v5 = level == MQTT_5
    parts = [U16.pack(check_packet_id(p.packet_id)),
             _properties_or_nothing(p, PacketType.SUBSCRIBE, level)]
    for sub in p.subscriptions:
        problem = topic_filter_error(sub.topic_filter, shared=v5)
        if problem is not None:
            raise LocalProtocolError(problem, ReasonCode.TOPIC_FILTER_INVALID)
        options = _check_qos(sub.qos, "subscription QoS")
        if sub.retain_handling not in (0, 1, 2):
            raise LocalProtocolError(f"Retain Handling must be 0, 1 or 2, not {sub.retain_handling!r}")
        extra = ((0x04 if sub.no_local else 0) | (0x08 if sub.retain_as_published else 0)
                 | (sub.retain_handling << 4))
        if extra and not v5:
            raise LocalProtocolError("MQTT 3.1.1 has no No Local, Retain As Published or Retain Handling")
        if sub.no_local and sub.topic_filter.startswith(SHARED_PREFIX):
            raise LocalProtocolError("No Local MUST NOT be set on a Shared Subscription [MQTT-3.8.3-4]")
        parts += (encode_utf8(sub.topic_filter), bytes((options | extra,)))
    return 0x82, parts


def _encode_acks(codes: list[ReasonCode], ptype: PacketType, level: int) -> bytes:
    if not codes:
        raise LocalProtocolError(f"a {ptype.name} needs at least one reason code")
    if ptype is PacketType.SUBACK and level == MQTT_3_1_1:
        bad = [c for c in codes if c not in SUBACK_CODES_3_1_1]
        if bad:
            raise LocalProtocolError(f"MQTT 3.1.1 SUBACK return codes are 0, 1, 2 or 0x80, not {bad!r}")
        return bytes(codes)
    for c in codes:
        _check_reason(c, ptype, level)
    return bytes(codes)


def _encode_suback(p: SubAck, level: int) -> tuple[int, _Parts]:
    return 0x90, [U16.pack(check_packet_id(p.packet_id)),
                  _properties_or_nothing(p, PacketType.SUBACK, level),
                  _encode_acks(p.reason_codes, PacketType.SUBACK, level)]


def _encode_unsubscribe(p: Unsubscribe, level: int) -> tuple[int, _Parts]:
    if not p.topic_filters:
        raise LocalProtocolError("an UNSUBSCRIBE needs at least one topic filter [MQTT-3.10.3-2]")
    parts = [U16.pack(check_packet_id(p.packet_id)),
             _properties_or_nothing(p, PacketType.UNSUBSCRIBE, level)]
    for topic_filter in p.topic_filters:
        problem = topic_filter_error(topic_filter, shared=level == MQTT_5)
        if problem is not None:
            raise LocalProtocolError(problem, ReasonCode.TOPIC_FILTER_INVALID)
        parts.append(encode_utf8(topic_filter))
    return 0xA2, parts


def _encode_unsuback(p: UnsubAck, level: int) -> tuple[int, _Parts]:
    parts = [U16.pack(check_packet_id(p.packet_id)),
             _properties_or_nothing(p, PacketType.UNSUBACK, level)]
    if level == MQTT_5:
        parts.append(_encode_acks(p.reason_codes, PacketType.UNSUBACK, level))
    elif p.reason_codes:
        raise LocalProtocolError("MQTT 3.1.1 UNSUBACK carries no reason codes")
    return 0xB0, parts


def _encode_empty(p: PingReq | PingResp, level: int) -> tuple[int, _Parts]:
    return p.TYPE << 4, []


def _encode_disconnect_or_auth(p: Disconnect | Auth, level: int) -> tuple[int, _Parts]:
    ptype = p.TYPE
    if ptype is PacketType.AUTH and level != MQTT_5:
        raise LocalProtocolError("AUTH exists only in MQTT 5.0")
    code = _check_reason(p.reason_code, ptype, level)
    props = _properties_or_nothing(p, ptype, level)
    parts = []
    if level == MQTT_5 and (p.reason_code or props != b"\x00"):  # the short forms of §3.14.2.1
        parts.append(code)
        if props != b"\x00":
            parts.append(props)
    return ptype << 4, parts


# The fixed header and topic length of a PUBLISH whose Remaining Length takes one byte, two bytes.
_PUBLISH_HEAD_1: Final = struct.Struct("!BBH")
_HEADER_1: Final = struct.Struct("!BB")  # any packet's fixed header, for a body under 128 bytes
_PUBLISH_HEAD_2: Final = struct.Struct("!BBBH")
_PACKET_ID_5: Final = struct.Struct("!HB")  # a Packet Identifier, then MQTT 5's empty property list
_PUBLISH_STORED: Final = _STORED[Publish]
_CONNECT_STORED: Final = _STORED[Connect]


def _publish_fast(p: Publish, level: int, max_packet_size: int) -> bytes | None:
    """The common PUBLISH encoded in a few C calls; None when anything is unusual.

    It makes :func:`_encode_publish`'s checks with as few Python calls as it can (the topic's
    wildcards, U+0000 and emptiness are ``in`` tests; its surrogates, a failed strict encode) and
    leaves every packet it would refuse, or that carries properties, to the general path, so that
    the errors and their messages come from one place.
    """
    qos = p.qos
    topic = p.topic
    if type(topic) is not str or not topic or "\x00" in topic or "+" in topic or "#" in topic:
        return None
    try:
        data = topic.encode()
    except UnicodeEncodeError:  # a lone surrogate [MQTT-1.5.4-1]
        return None
    props = _PUBLISH_STORED(p)  # None: never built, so empty
    if props is not None and not props_empty(props):
        return None
    if qos == 0:
        if p.dup or p.packet_id is not None:
            return None
        tail = b"\x00" if level == MQTT_5 else b""
    elif qos == 1 or qos == 2:
        packet_id = p.packet_id
        if type(packet_id) is not int or not 0 < packet_id <= MAX_UINT16:
            return None
        tail = _PACKET_ID_5.pack(packet_id, 0) if level == MQTT_5 else U16.pack(packet_id)
    else:
        return None
    payload = p.payload
    if type(payload) is not bytes:
        payload = bytes(payload)
    topic_len = len(data)
    length = 2 + topic_len + len(tail) + len(payload)
    first = 0x30 | (0x08 if p.dup else 0) | (qos << 1) | (0x01 if p.retain else 0)
    if length < 0x80:
        head = _PUBLISH_HEAD_1.pack(first, length, topic_len)
    elif length < 0x4000 and length + 3 <= max_packet_size:
        head = _PUBLISH_HEAD_2.pack(first, (length & 0x7F) | 0x80, length >> 7, topic_len)
    else:
        return None  # also a topic over 65,535 bytes; the general path measures and raises
    if length + 2 > max_packet_size:
        return None
    return b"".join((head, data, tail, payload))


# Keyed by exact class; each encoder takes its own Packet subclass, hence Any.
_ENCODERS: Final[dict[type[Packet], Callable[[Any, int], tuple[int, _Parts]]]] = {
    Connect: _encode_connect,
    ConnAck: _encode_connack,
    Publish: _encode_publish,
    PubAck: _encode_publish_response,
    PubRec: _encode_publish_response,
    PubRel: _encode_publish_response,
    PubComp: _encode_publish_response,
    Subscribe: _encode_subscribe,
    SubAck: _encode_suback,
    Unsubscribe: _encode_unsubscribe,
    UnsubAck: _encode_unsuback,
    PingReq: _encode_empty,
    PingResp: _encode_empty,
    Disconnect: _encode_disconnect_or_auth,
    Auth: _encode_disconnect_or_auth,
}


def encode(packet: Packet, protocol_level: int = MQTT_5, *, max_packet_size: int = MAX_PACKET_SIZE) -> bytes:
    """The bytes of ``packet`` at ``protocol_level`` (4 or 5; a Connect uses its own field).

    Raises LocalProtocolError, with the Reason Code a receiver would report, for anything MQTT
    forbids or this level cannot express, and (0x95) when the packet would exceed
    ``max_packet_size`` — pass the peer's Maximum Packet Size: "The Client MUST NOT send packets
    exceeding Maximum Packet Size to the Server" (§3.2.2.3.6), nor the Server to the Client
    (§3.1.2.11.4).
    """
    if protocol_level not in (MQTT_3_1_1, MQTT_5):
        check_level(protocol_level)  # raises
    cls = type(packet)
    if cls is Publish:
        data = _publish_fast(packet, protocol_level, max_packet_size)  # type: ignore[arg-type]
        if data is not None:
            return data
    encoder = _ENCODERS.get(cls)
    if encoder is None:
        raise LocalProtocolError(f"not an MQTT packet: {packet!r}")
    first, parts = encoder(packet, protocol_level)
    length = sum(map(len, parts))
    if length < 0x80:
        header = _HEADER_1.pack(first, length)
    elif length > MAX_VARINT:
        raise LocalProtocolError(f"packet body of {length} bytes exceeds 268,435,455 (§2.1.4)",
                                 ReasonCode.PACKET_TOO_LARGE)
    else:
        header = bytes((first,)) + encode_varint(length)
    if len(header) + length > max_packet_size:
        raise LocalProtocolError(f"packet of {len(header) + length} bytes exceeds {max_packet_size}",
                                 ReasonCode.PACKET_TOO_LARGE)
    return b"".join((header, *parts))
