"""Looking into MQTT bytes without decoding them: packet type, size, CONNECT client id, PUBLISH topic.

Theory of operation: a proxy often needs one fact to route a connection or a message — who
the client is, where a message goes — and then only forwards bytes. These helpers read that
fact from the front of a buffer in a few struct look-ups, without building packet objects or
copying payloads, and without waiting for the whole packet when the fact comes early in it
(a client id sits before a CONNECT's will and credentials, a topic right after a PUBLISH's fixed
header). They share :func:`decode`'s contract: None means "not enough bytes yet",
RemoteProtocolError means the bytes cannot be what was asked for. They check only what they
read; a full :func:`decode` may still refuse the packet.
"""

from __future__ import annotations

from .decoding import check_first_byte
from .errors import ReasonCode, RemoteProtocolError, malformed
from .wire import (
    CONNECT_HEAD,
    MQTT_5,
    PROTOCOL_LEVELS,
    PROTOCOL_NAME,
    U16,
    Buffer,
    PacketType,
    Reader,
    read_fixed_header,
    read_varint,
)


def packet_type(first_byte: int) -> PacketType:
    """The type of the packet whose fixed header starts with ``first_byte``.

    Raises RemoteProtocolError (0x81) for the reserved type 0 or flag bits that the type
    forbids [MQTT-2.1.3-1], including a PUBLISH with QoS 3 [MQTT-3.3.1-4].
    """
    ptype = check_first_byte(first_byte, None)
    if ptype is PacketType.PUBLISH and first_byte & 0x06 == 0x06:
        raise malformed("PUBLISH has both QoS bits set [MQTT-3.3.1-4]")
    return ptype


def peek_packet_size(buf: Buffer) -> int | None:
    """The total size (fixed header included) of the packet at the front of ``buf``, or None.

    None until the fixed header is complete. Raises RemoteProtocolError for a malformed
    Remaining Length. Lets a proxy forward whole packets without decoding them.
    """
    header = read_fixed_header(buf)
    return None if header is None else header[2] + header[1]


def _available(buf: Buffer, need: int, end: int) -> bool:
    """Whether ``buf`` holds bytes up to ``need``; raise if the packet itself ends before."""
    if need > end:
        raise malformed("packet shorter than its fields (Remaining Length too small)")
    return need <= len(buf)


def _frame(buf: Buffer, expected: PacketType) -> tuple[int, int, int] | None:
    header = read_fixed_header(buf)
    if header is None:
        return None
    first, length, start = header
    ptype = packet_type(first)
    if ptype is not expected:
        raise RemoteProtocolError(f"expected {expected.name}, got {ptype.name}", ReasonCode.PROTOCOL_ERROR)
    return first, start, start + length


def _string_at(buf: Buffer, pos: int, end: int) -> str | None:
    if not _available(buf, pos + 2, end):
        return None
    n = int(U16.unpack_from(buf, pos)[0])
    if not _available(buf, pos + 2 + n, end):
        return None
    return Reader(buf, pos, pos + 2 + n).utf8()


def peek_client_id(buf: Buffer) -> str | None:
    """The Client Identifier of the CONNECT at the front of ``buf`` (MQTT 3.1.1 or 5), or None.

    Needs only the bytes up to the end of the client id. Raises RemoteProtocolError if the
    packet is not a CONNECT (0x82), names another protocol or level (0x84, [MQTT-3.1.2-1],
    [MQTT-3.1.2-2]) or is malformed up to there (0x81).
    """
    framed = _frame(buf, PacketType.CONNECT)
    if framed is None:
        return None
    _, start, end = framed
    pos = start + CONNECT_HEAD.size
    if not _available(buf, pos, end):
        return None
    name_len, name, level, _, _ = CONNECT_HEAD.unpack_from(buf, start)
    if name_len != len(PROTOCOL_NAME) or name != PROTOCOL_NAME or level not in PROTOCOL_LEVELS:
        raise RemoteProtocolError(f"not an MQTT 3.1.1 or 5.0 CONNECT (level {level})",
                                  ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)
    if level == MQTT_5:  # skip the properties: a Variable Byte Integer length, then that many bytes
        limit = min(end, len(buf))
        got = read_varint(buf, pos, limit)
        if got is None:
            if limit == end:
                raise malformed("CONNECT ends inside its Property Length")
            return None
        pos = got[1] + got[0]
    return _string_at(buf, pos, end)


def peek_topic(buf: Buffer) -> str | None:
    """The Topic Name of the PUBLISH at the front of ``buf``, or None.

    Needs only the fixed header and the topic. The topic is checked to be well-formed UTF-8
    without U+0000 (§1.5.4), not checked for wildcards; an MQTT 5.0 topic may be "" when the
    PUBLISH uses a Topic Alias. Raises RemoteProtocolError if the packet is not a PUBLISH.
    """
    framed = _frame(buf, PacketType.PUBLISH)
    if framed is None:
        return None
    _, start, end = framed
    return _string_at(buf, start, end)
