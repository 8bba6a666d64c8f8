"""Pure MQTT packet decoding: ``decode(buf, protocol_level) -> (packet, consumed) | None``.

Theory of operation: :func:`decode` frames one packet from the front of a buffer with
:func:`~.wire.read_fixed_header`, refuses it early if its announced size exceeds
``max_packet_size``, returns None until all of it is there, and then parses the body with one
function per packet type, each reading through a :class:`~.wire.Reader` bounded by the
packet's end. Every MUST the spec sets on received bytes is checked here and raises
RemoteProtocolError with the Reason Code the spec gives (0x81 Malformed Packet where it names
none); :mod:`.encoding` enforces the same rules on what we send, so a packet that decodes
re-encodes, and a packet that encodes decodes to an equal one.

The protocol level (4 for MQTT 3.1.1, 5 for MQTT 5.0) is an argument because the bytes alone do
not say it, except in a CONNECT, which carries its own (see :class:`~.packets.Connect`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .errors import (
    CONNECT_RETURN_BY_VALUE,
    REASON_BY_VALUE,
    ReasonCode,
    RemoteProtocolError,
    malformed,
    protocol_error,
)
from .packets import (
    NO_PROPERTIES,
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
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    _PublishResponse,
)
from .properties import WILL_PROPERTIES, Properties, read_properties
from .topics import SHARED_PREFIX, topic_filter_error, topic_name_error
from .wire import (
    CONNECT_HEAD,
    DEFAULT_MAX_PACKET_SIZE,
    MQTT_3_1_1,
    MQTT_5,
    PACKET_TYPES,
    PROTOCOL_LEVELS,
    PROTOCOL_NAME,
    Buffer,
    PacketType,
    Reader,
    check_level,
    read_fixed_header,
    read_packet_id,
)

# Bits 3-0 of the first byte that each type MUST carry ("Reserved" in §2.1.3, [MQTT-2.1.3-1],
# [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]); PUBLISH's flags are DUP, QoS and RETAIN.
_FIXED_FLAGS: Final = {
    PacketType.PUBREL: 0b0010, PacketType.SUBSCRIBE: 0b0010, PacketType.UNSUBSCRIBE: 0b0010,
}


def _reason(value: int, ptype: PacketType, level: int) -> ReasonCode:
    if ptype is PacketType.SUBACK and level == MQTT_3_1_1:
        if value not in SUBACK_CODES_3_1_1:
            raise protocol_error(f"SUBACK return code 0x{value:02X} is reserved (3.1.1 [MQTT-3.9.3-2])")
    elif value not in VALID_REASON_CODES[ptype]:
        raise protocol_error(f"Reason Code 0x{value:02X} is not valid in {ptype.name} (§2.4)")
    return REASON_BY_VALUE[value]


def _properties(r: Reader, ptype: PacketType, level: int) -> Properties:
    return read_properties(r, ptype) if level == MQTT_5 else NO_PROPERTIES


def _decode_connect(r: Reader, flags: int, _level: int) -> Connect:
    # A CONNECT carries its own level: the one the caller passed does not apply.
    if r.remaining() < CONNECT_HEAD.size:
        raise malformed("CONNECT shorter than its variable header")
    name_len, name, level, cflags, keep_alive = CONNECT_HEAD.unpack_from(r.buf, r.pos)
    if name_len != len(PROTOCOL_NAME) or name != PROTOCOL_NAME:
        raise RemoteProtocolError("protocol name is not 'MQTT' [MQTT-3.1.2-1]",
                                  ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)
    if level not in PROTOCOL_LEVELS:
        raise RemoteProtocolError(f"protocol level {level} is not 4 (3.1.1) or 5 [MQTT-3.1.2-2]",
                                  ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)
    r.pos += CONNECT_HEAD.size
    if cflags & 0x01:
        raise malformed("CONNECT reserved flag is set [MQTT-3.1.2-3]")
    will_flag, will_qos, will_retain = cflags & 0x04, (cflags >> 3) & 0x03, bool(cflags & 0x20)
    if not will_flag and (will_qos or will_retain):
        raise malformed("Will QoS or Will Retain set without the Will Flag (§3.1.2.6, §3.1.2.7)")
    if will_qos == 3:
        raise malformed("Will QoS is 3 (§3.1.2.6)")
    has_user, has_password = cflags & 0x80, cflags & 0x40
    if level == MQTT_3_1_1 and has_password and not has_user:
        raise malformed("Password Flag set without User Name Flag (3.1.1 [MQTT-3.1.2-22])")
    clean_start = bool(cflags & 0x02)
    properties = _properties(r, PacketType.CONNECT, level)
    # The payload's fields "MUST appear in the order Client Identifier, Will Properties, Will
    # Topic, Will Payload, User Name, Password" [MQTT-3.1.3-1].
    client_id = r.utf8()
    if level == MQTT_3_1_1 and not client_id and not clean_start:
        raise RemoteProtocolError("zero-length ClientId with CleanSession 0 (3.1.1 [MQTT-3.1.3-8])",
                                  ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)
    will = None
    if will_flag:
        will_properties = read_properties(r, WILL_PROPERTIES) if level == MQTT_5 else NO_PROPERTIES
        topic = r.utf8()
        problem = topic_name_error(topic)
        if problem is not None:
            raise RemoteProtocolError(f"Will Topic: {problem}", ReasonCode.TOPIC_NAME_INVALID)
        will = Will(topic, r.binary(), will_qos, will_retain, will_properties)
    username = r.utf8() if has_user else None
    password = r.binary() if has_password else None
    r.finish("CONNECT")
    return Connect(client_id, level, clean_start, keep_alive, username, password, will, properties)


def _decode_connack(r: Reader, flags: int, level: int) -> ConnAck:
    ack_flags = r.u8()
    if ack_flags & 0xFE:
        raise malformed("CONNACK reserved flags are set [MQTT-3.2.2-1]")
    value = r.u8()
    code: int
    if level == MQTT_5:
        code = _reason(value, PacketType.CONNACK, level)
    elif value in CONNECT_RETURN_BY_VALUE:
        code = CONNECT_RETURN_BY_VALUE[value]
    else:
        raise protocol_error(f"CONNACK return code {value} is reserved (3.1.1 §3.2.2.3)")
    properties = _properties(r, PacketType.CONNACK, level)
    r.finish("CONNACK")
    return ConnAck(bool(ack_flags), code, properties)


def _decode_publish(r: Reader, flags: int, level: int) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise malformed("PUBLISH has both QoS bits set [MQTT-3.3.1-4]")
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise malformed("DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]")
    topic = r.utf8()
    packet_id = read_packet_id(r) if qos else None
    properties = _properties(r, PacketType.PUBLISH, level)
    if topic or level != MQTT_5 or properties.topic_alias is None:
        problem = topic_name_error(topic)
        if problem is not None:
            raise RemoteProtocolError(problem, ReasonCode.TOPIC_NAME_INVALID)
    return Publish(topic, r.rest(), qos, bool(flags & 0x01), dup, packet_id, properties)


def _decode_publish_response(cls: type[_PublishResponse]) -> Callable[[Reader, int, int], Packet]:
    def decode(r: Reader, flags: int, level: int) -> Packet:
        packet_id = read_packet_id(r)
        # MQTT 5: "The Reason Code and Property Length can be omitted if the Reason Code is 0x00
        # (Success) and there are no Properties" (§3.4.2.1); "If the Remaining Length is less than
        # 4 there is no Property Length and the value of 0 is used" (§3.4.2.2).
        code = ReasonCode.SUCCESS
        properties = NO_PROPERTIES
        if level == MQTT_5 and r.remaining():
            code = _reason(r.u8(), cls.TYPE, level)
            if r.remaining():
                properties = read_properties(r, cls.TYPE)
        r.finish(cls.TYPE.name)
        return cls(packet_id, code, properties)
    return decode


def _decode_subscribe(r: Reader, flags: int, level: int) -> Subscribe:
    packet_id = read_packet_id(r)
    properties = _properties(r, PacketType.SUBSCRIBE, level)
    v5 = level == MQTT_5
    reserved = 0xC0 if v5 else 0xFC
    subscriptions = []
    while r.remaining():
        topic_filter = r.utf8()
        problem = topic_filter_error(topic_filter, shared=v5)
        if problem is not None:
            raise RemoteProtocolError(problem, ReasonCode.TOPIC_FILTER_INVALID)
        options = r.u8()
        if options & reserved:
            raise malformed("Subscription Options reserved bits are set [MQTT-3.8.3-5]")
        sub = Subscription(topic_filter, options & 0x03, bool(options & 0x04), bool(options & 0x08),
                           (options >> 4) & 0x03)
        if sub.qos == 3:
            raise malformed("subscription QoS is 3 (§3.8.3.1)")
        if sub.retain_handling == 3:
            raise protocol_error("Retain Handling is 3 (§3.8.3.1)")
        if sub.no_local and v5 and topic_filter.startswith(SHARED_PREFIX):
            raise protocol_error("No Local set on a Shared Subscription [MQTT-3.8.3-4]")
        subscriptions.append(sub)
    if not subscriptions:
        raise protocol_error("SUBSCRIBE without a Topic Filter [MQTT-3.8.3-2]")
    return Subscribe(packet_id, subscriptions, properties)


def _decode_suback(r: Reader, flags: int, level: int) -> SubAck:
    packet_id = read_packet_id(r)
    properties = _properties(r, PacketType.SUBACK, level)
    codes = [_reason(value, PacketType.SUBACK, level) for value in r.rest()]
    if not codes:
        raise protocol_error("SUBACK without a reason code [MQTT-3.8.4-6]")
    return SubAck(packet_id, codes, properties)


def _decode_unsubscribe(r: Reader, flags: int, level: int) -> Unsubscribe:
    packet_id = read_packet_id(r)
    properties = _properties(r, PacketType.UNSUBSCRIBE, level)
    topic_filters = []
    while r.remaining():
        topic_filter = r.utf8()
        problem = topic_filter_error(topic_filter, shared=level == MQTT_5)
        if problem is not None:
            raise RemoteProtocolError(problem, ReasonCode.TOPIC_FILTER_INVALID)
        topic_filters.append(topic_filter)
    if not topic_filters:
        raise protocol_error("UNSUBSCRIBE without a Topic Filter [MQTT-3.10.3-2]")
    return Unsubscribe(packet_id, topic_filters, properties)


def _decode_unsuback(r: Reader, flags: int, level: int) -> UnsubAck:
    packet_id = read_packet_id(r)
    if level != MQTT_5:
        r.finish("UNSUBACK")
        return UnsubAck(packet_id)
    properties = read_properties(r, PacketType.UNSUBACK)
    codes = [_reason(value, PacketType.UNSUBACK, level) for value in r.rest()]
    if not codes:
        raise protocol_error("UNSUBACK without a reason code (§3.11.3)")
    return UnsubAck(packet_id, codes, properties)


def _decode_empty(cls: type[PingReq | PingResp]) -> Callable[[Reader, int, int], Packet]:
    def decode(r: Reader, flags: int, level: int) -> Packet:
        r.finish(cls.TYPE.name)
        return cls()
    return decode


def _decode_disconnect_or_auth(cls: type[Disconnect | Auth]) -> Callable[[Reader, int, int], Packet]:
    def decode(r: Reader, flags: int, level: int) -> Packet:
        # MQTT 5: a Remaining Length of 0 means Reason Code 0x00 and no properties (§3.14.2.1,
        # §3.15.2.1); "If the Remaining Length is less than 2, a value of 0 is used" for the
        # Property Length (§3.14.2.2).
        code = ReasonCode.SUCCESS
        properties = NO_PROPERTIES
        if level == MQTT_5 and r.remaining():
            code = _reason(r.u8(), cls.TYPE, level)
            if r.remaining():
                properties = read_properties(r, cls.TYPE)
        r.finish(cls.TYPE.name)
        return cls(code, properties)
    return decode


_Decoder = Callable[[Reader, int, int], Packet]
_DECODERS: Final[dict[int, _Decoder]] = {
    PacketType.CONNECT: _decode_connect,
    PacketType.CONNACK: _decode_connack,
    PacketType.PUBLISH: _decode_publish,
    PacketType.PUBACK: _decode_publish_response(PubAck),
    PacketType.PUBREC: _decode_publish_response(PubRec),
    PacketType.PUBREL: _decode_publish_response(PubRel),
    PacketType.PUBCOMP: _decode_publish_response(PubComp),
    PacketType.SUBSCRIBE: _decode_subscribe,
    PacketType.SUBACK: _decode_suback,
    PacketType.UNSUBSCRIBE: _decode_unsubscribe,
    PacketType.UNSUBACK: _decode_unsuback,
    PacketType.PINGREQ: _decode_empty(PingReq),
    PacketType.PINGRESP: _decode_empty(PingResp),
    PacketType.DISCONNECT: _decode_disconnect_or_auth(Disconnect),
    PacketType.AUTH: _decode_disconnect_or_auth(Auth),
}


def check_first_byte(first: int, level: int | None) -> PacketType:
    """The packet type of a fixed header's first byte, after checking its flag bits."""
    ptype = PACKET_TYPES[first >> 4]
    if ptype is None:
        raise malformed("packet type 0 is reserved (§2.1.2)")
    if ptype is PacketType.AUTH and level == MQTT_3_1_1:
        raise malformed("packet type 15 is reserved in MQTT 3.1.1 (3.1.1 §2.2.1)")
    if ptype is not PacketType.PUBLISH and first & 0x0F != _FIXED_FLAGS.get(ptype, 0):
        raise malformed(f"{ptype.name} fixed header flags are 0x{first & 0x0F:X} [MQTT-2.1.3-1]")
    return ptype


_new = object.__new__


def _publish_fast(buf: Buffer, first: int, start: int, end: int, level: int) -> Publish | None:
    """The common PUBLISH, decoded in a few C calls: None when anything is unusual.

    This is the hot path of every broker and proxy, so it does :func:`_decode_publish`'s checks
    with as few Python calls as it can: the topic's UTF-8 is checked by one strict decode (which
    refuses overlong forms and surrogates, [MQTT-1.5.4-1]) and one search for U+0000
    [MQTT-1.5.4-2]; wildcards [MQTT-3.3.2-2] and the empty name [MQTT-4.7.3-1] are two ``in``
    tests. It accepts only packets that :func:`_decode_publish` accepts with the same result and
    hands everything else (any failure, MQTT 5 properties, an empty topic) to it, so errors and
    their messages come from one place.
    """
    qos = (first >> 1) & 0x03
    if qos == 3 or (first & 0x08 and not qos):
        return None
    pos = start + 2
    topic_end = pos + ((buf[start] << 8) | buf[start + 1]) if pos <= end else end + 1
    if topic_end > end:
        return None
    raw = buf[pos:topic_end]
    try:
        topic = raw.decode()
    except UnicodeDecodeError:
        return None
    if not topic or "\x00" in topic or "+" in topic or "#" in topic:
        return None
    packet_id = None
    if qos:
        pos = topic_end + 2
        if pos > end:
            return None
        packet_id = (buf[topic_end] << 8) | buf[topic_end + 1]
        if not packet_id:
            return None
    else:
        pos = topic_end
    if level == MQTT_5:  # only an empty property list: anything else takes the general path
        if pos >= end or buf[pos]:
            return None
        pos += 1
    # Built field by field, which is quicker than the dataclass's __init__; ``properties`` is
    # built on its first read (see packets.py), which most PUBLISH packets never see.
    packet = _new(Publish)
    packet.topic = topic
    packet.payload = buf[pos:end] if type(buf) is bytes else bytes(memoryview(buf)[pos:end])
    packet.qos = qos
    packet.retain = first & 0x01 != 0
    packet.dup = first & 0x08 != 0
    packet.packet_id = packet_id
    packet.properties = NO_PROPERTIES
    return packet


# The packet id of a PUBACK, PUBREC, PUBREL or PUBCOMP with nothing else in it (3.1.1, and the
# short form of MQTT 5's, §3.4.2.1): first byte and Remaining Length 2.
_ACK_CLASSES: Final[dict[int, type[_PublishResponse]]] = {
    0x40: PubAck, 0x50: PubRec, 0x62: PubRel, 0x70: PubComp,
}


def _ack_fast(buf: Buffer, first: int, start: int, end: int) -> _PublishResponse | None:
    """A short-form acknowledgement, decoded in a few C calls; None for any other packet."""
    cls = _ACK_CLASSES.get(first)
    if cls is None or end - start != 2:
        return None
    packet_id = (buf[start] << 8) | buf[start + 1]
    if not packet_id:
        return None  # [MQTT-2.2.1-3]: the general path raises
    packet = _new(cls)
    packet.packet_id = packet_id
    packet.reason_code = ReasonCode.SUCCESS
    packet.properties = NO_PROPERTIES
    return packet


def decode_body(buf: Buffer, first: int, start: int, end: int, protocol_level: int) -> Packet:
    """Decode the packet whose first byte is ``first`` and whose body is ``buf[start:end]``."""
    packet: Packet | None
    if first >> 4 == PacketType.PUBLISH:
        packet = _publish_fast(buf, first, start, end, protocol_level)
        if packet is not None:
            return packet
    elif end - start == 2:
        packet = _ack_fast(buf, first, start, end)
        if packet is not None:
            return packet
    check_first_byte(first, protocol_level)
    return _DECODERS[first >> 4](Reader(buf, start, end), first & 0x0F, protocol_level)


def decode(buf: Buffer | memoryview, protocol_level: int = MQTT_5, *,
           max_packet_size: int = DEFAULT_MAX_PACKET_SIZE) -> tuple[Packet, int] | None:
    """Decode the packet at the front of ``buf``: ``(packet, bytes consumed)``, or None.

    The contract: None means ``buf`` does not yet hold a whole packet (the caller waits for
    more bytes); bytes after the packet are left alone (``consumed`` says where the next one
    starts). RemoteProtocolError means the bytes break MQTT, with the Reason Code that says how;
    in particular 0x95 Packet too large as soon as the fixed header announces a packet bigger
    than ``max_packet_size`` bytes, before its body arrives. LocalProtocolError means a bad
    ``protocol_level`` (only 4 and 5 exist). A CONNECT is decoded at its own level.
    """
    if protocol_level != MQTT_3_1_1 and protocol_level != MQTT_5:
        check_level(protocol_level)
    data: Buffer = buf if type(buf) is bytes else bytes(buf) if isinstance(buf, memoryview) else buf
    header = read_fixed_header(data)
    if header is None:
        return None
    first, length, start = header
    end = start + length
    if end > max_packet_size:
        raise RemoteProtocolError(f"packet of {end} bytes exceeds the limit of {max_packet_size}",
                                  ReasonCode.PACKET_TOO_LARGE)
    if end > len(data):
        return None
    if first >> 4 == PacketType.PUBLISH:  # decode_body's first test, without its call
        packet = _publish_fast(data, first, start, end, protocol_level)
        if packet is not None:
            return packet, end
    return decode_body(data, first, start, end, protocol_level), end
