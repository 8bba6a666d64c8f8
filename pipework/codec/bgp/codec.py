"""Pure BGP message decoding and encoding: ``decode(buf) -> (message, consumed) | None``, ``encode``.

Theory of operation: :func:`decode` checks the 19-octet header at the front of ``buf`` as soon as
it is there (:func:`~.wire.read_header`), returns None until the whole message is buffered, and
then parses the body with one function per type, each working on offsets into ``buf``. Every MUST
the RFCs set on received bytes is checked here and raises RemoteProtocolError carrying the
NOTIFICATION section 6 of RFC 4271 names; :func:`encode` enforces the same rules on what we send
and raises LocalProtocolError, so a message that encodes decodes to an equal one.

Whether AS numbers in UPDATEs are 2 or 4 octets is not in the bytes: it is what the OPENs
negotiated (both sides announced the 4-octet AS capability, RFC 6793 3), so both functions take
``four_octet_as``. It defaults to True, which every current speaker negotiates; pass False on a
session with a peer that lacks the capability. ``max_size`` is 4096 unless both peers announced
the Extended Message capability (RFC 8654), when it may be 65535.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from typing import Final

from .capabilities import FourOctetAS, parameters_to_wire, read_parameters
from .errors import (
    ErrorCode,
    HeaderSubcode,
    LocalProtocolError,
    OpenSubcode,
    RemoteProtocolError,
    RouteRefreshSubcode,
    header_error,
    open_error,
)
from .messages import Keepalive, Message, Notification, Open, RouteRefresh, Update
from .update import read_update, update_to_wire
from .wire import (
    BGP_VERSION,
    HEADER_SIZE,
    MAX_AS4,
    MAX_MESSAGE_SIZE,
    U16,
    Buffer,
    MessageType,
    afi_name,
    frame,
    read_header,
    safi_name,
)

# OPEN's fixed fields after the header: Version, My AS, Hold Time, BGP Identifier, Opt Parm Len.
OPEN_HEAD: Final = struct.Struct("!BHHIB")
# NOTIFICATION's fixed fields: Error code, Error subcode.
NOTIFICATION_HEAD: Final = struct.Struct("!BB")
# ROUTE-REFRESH: AFI, Reserved (RFC 7313's Message Subtype), SAFI.
ROUTE_REFRESH_BODY: Final = struct.Struct("!HBB")
KEEPALIVE_BYTES: Final = frame(MessageType.KEEPALIVE, b"")
_KEEPALIVE: Final = Keepalive()
# Message types as module constants: the dispatch below runs once per message.
_UPDATE_T: Final = MessageType.UPDATE
_KEEPALIVE_T: Final = MessageType.KEEPALIVE
_OPEN_T: Final = MessageType.OPEN
_NOTIFICATION_T: Final = MessageType.NOTIFICATION


def _read_open(buf: Buffer, pos: int, end: int) -> Open:
    version, my_as, hold_time, bgp_id, opt_len = OPEN_HEAD.unpack_from(buf, pos)
    if pos + OPEN_HEAD.size + opt_len != end:
        # The Optional Parameters Length must account for the rest of the message exactly.
        raise header_error(f"OPEN optional parameters length {opt_len} disagrees with the message length",
                           HeaderSubcode.BAD_MESSAGE_LENGTH, U16.pack(end - pos + HEADER_SIZE))
    if version != BGP_VERSION:
        # RFC 4271 6.2: "If the version number in the Version field of the received OPEN message is
        # not supported, then the Error Subcode MUST be set to Unsupported Version Number. The Data
        # field is a 2-octet unsigned integer, which indicates the largest, locally-supported version
        # number less than the version the remote BGP peer bid".
        raise open_error(f"BGP version {version} (RFC 4271 6.2)", OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
                         U16.pack(BGP_VERSION))
    if hold_time in (1, 2):
        # RFC 4271 4.2: "An implementation MUST reject Hold Time values of one or two seconds."
        raise open_error(f"hold time {hold_time} (RFC 4271 6.2)", OpenSubcode.UNACCEPTABLE_HOLD_TIME)
    if bgp_id == 0:
        # RFC 6286 2.2: "If the BGP Identifier field of the OPEN message is zero ... the Error
        # Subcode is set to "Bad BGP Identifier"."
        raise open_error("BGP identifier 0.0.0.0 (RFC 6286 2.2)", OpenSubcode.BAD_BGP_IDENTIFIER)
    caps = read_parameters(buf, pos + OPEN_HEAD.size, end)
    asn = my_as
    for cap in caps:
        if isinstance(cap, FourOctetAS):
            asn = cap.asn  # RFC 6793 4.1: a NEW speaker takes the peer's AS from the capability
            break
    if asn == 0 or my_as == 0:
        # RFC 7607 2: zero as the peer AS in an OPEN is "Bad Peer AS".
        raise open_error("AS 0 in OPEN (RFC 7607 2)", OpenSubcode.BAD_PEER_AS)
    return Open(asn, IPv4Address(bgp_id), hold_time, caps, version)


def _read_route_refresh(buf: Buffer, pos: int, end: int) -> RouteRefresh:
    if end - pos != ROUTE_REFRESH_BODY.size:
        if buf[pos + 2] in (1, 2):
            # RFC 7313 5: for the BoRR/EoRR subtypes "the BGP speaker MUST send a NOTIFICATION message
            # with the Error Code of "ROUTE-REFRESH Message Error" and the subcode of "Invalid Message
            # Length". The Data field of the NOTIFICATION message MUST contain the complete
            # ROUTE-REFRESH message."
            raise RemoteProtocolError("ROUTE-REFRESH body is not 4 octets (RFC 7313 5)",
                                      ErrorCode.ROUTE_REFRESH_MESSAGE_ERROR,
                                      RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
                                      bytes(buf[pos - HEADER_SIZE:end]))
        raise header_error("ROUTE-REFRESH body is not 4 octets (RFC 2918 3)",
                           HeaderSubcode.BAD_MESSAGE_LENGTH, U16.pack(end - pos + HEADER_SIZE))
    afi, subtype, safi = ROUTE_REFRESH_BODY.unpack_from(buf, pos)
    return RouteRefresh(afi_name(afi), safi_name(safi), subtype)


def decode_body(kind: MessageType, buf: Buffer, pos: int, end: int, four_octet_as: bool = True) -> Message:
    """The message of type ``kind`` whose body is ``buf[pos:end]`` (header already checked)."""
    if kind is _UPDATE_T:
        return read_update(buf, pos, end, four_octet_as)
    if kind is _KEEPALIVE_T:
        return _KEEPALIVE
    if kind is _OPEN_T:
        return _read_open(buf, pos, end)
    if kind is _NOTIFICATION_T:
        code, subcode = NOTIFICATION_HEAD.unpack_from(buf, pos)
        return Notification(code, subcode, bytes(buf[pos + 2:end]))
    return _read_route_refresh(buf, pos, end)


def decode(buf: Buffer, *, four_octet_as: bool = True,
           max_size: int = MAX_MESSAGE_SIZE) -> tuple[Message, int] | None:
    """Decode the message at the front of ``buf``: ``(message, octets consumed)``, or None while
    ``buf`` holds less than one whole message.

    Raises RemoteProtocolError, carrying the NOTIFICATION to send, for a bad header (as soon as
    the 19 header octets are in) or a malformed body. Bytes after the message are left alone.
    """
    header = read_header(buf, 0, max_size)
    if header is None:
        return None
    kind, length = header
    if len(buf) < length:
        return None
    return decode_body(kind, buf, HEADER_SIZE, length, four_octet_as), length


def _open_to_wire(msg: Open) -> bytes:
    def bad(why: str, subcode: OpenSubcode) -> LocalProtocolError:
        return LocalProtocolError(why, ErrorCode.OPEN_MESSAGE_ERROR, subcode)

    if msg.version != BGP_VERSION:
        raise bad(f"BGP version {msg.version}: only 4 exists", OpenSubcode.UNSUPPORTED_VERSION_NUMBER)
    if not 0 < msg.asn <= MAX_AS4:
        raise bad(f"AS {msg.asn} outside 1..4294967295 (RFC 7607 2)", OpenSubcode.BAD_PEER_AS)
    four = msg.capability(FourOctetAS)
    if four is not None and four.asn != msg.asn:
        raise bad(f"4-octet AS capability says {four.asn}, the OPEN {msg.asn}", OpenSubcode.BAD_PEER_AS)
    if four is None and msg.asn != msg.my_as:
        raise bad(f"AS {msg.asn} needs the 4-octet AS capability (RFC 6793 3)", OpenSubcode.BAD_PEER_AS)
    if not (msg.hold_time == 0 or 3 <= msg.hold_time <= 0xFFFF):
        # RFC 4271 4.2: "The Hold Time MUST be either zero or at least three seconds."
        raise bad(f"hold time {msg.hold_time}: 0 or 3..65535 (RFC 4271 4.2)",
                  OpenSubcode.UNACCEPTABLE_HOLD_TIME)
    bgp_id = int(msg.bgp_id)
    if bgp_id == 0:
        raise bad("BGP identifier 0.0.0.0 (RFC 6286 2.1)", OpenSubcode.BAD_BGP_IDENTIFIER)
    params = parameters_to_wire(msg.capabilities)
    if len(params) > 0xFF:
        # RFC 9072's extended Optional Parameters Length is not implemented.
        raise bad(f"optional parameters of {len(params)} octets exceed 255", OpenSubcode.UNSPECIFIC)
    return OPEN_HEAD.pack(msg.version, msg.my_as, msg.hold_time, bgp_id, len(params)) + params


def encode(message: Message, *, four_octet_as: bool = True, max_size: int = MAX_MESSAGE_SIZE) -> bytes:
    """The wire form of ``message``, header included.

    Raises LocalProtocolError for a message that BGP cannot carry or :func:`decode` would
    refuse: a hold time of 1 or 2, an AS that needs 4 octets on a 2-octet session, a missing
    mandatory attribute, a message over ``max_size`` octets.
    """
    if type(message) is Keepalive:
        return KEEPALIVE_BYTES
    if type(message) is Update:
        body = update_to_wire(message, four_octet_as)
    elif type(message) is Open:
        body = _open_to_wire(message)
    elif type(message) is Notification:
        if not (0 <= message.code <= 0xFF and 0 <= message.subcode <= 0xFF):
            raise LocalProtocolError(f"NOTIFICATION code {message.code}/{message.subcode} exceeds one octet",
                                     ErrorCode.MESSAGE_HEADER_ERROR)
        body = NOTIFICATION_HEAD.pack(message.code, message.subcode) + message.data
    elif type(message) is RouteRefresh:
        if not (0 <= message.afi <= 0xFFFF and 0 <= message.safi <= 0xFF and 0 <= message.subtype <= 0xFF):
            raise LocalProtocolError("ROUTE-REFRESH field out of range",
                                     ErrorCode.ROUTE_REFRESH_MESSAGE_ERROR)
        body = ROUTE_REFRESH_BODY.pack(message.afi, message.subtype, message.safi)
    else:
        raise TypeError(f"not a BGP message: {message!r}")
    return frame(message.TYPE, body, max_size)
