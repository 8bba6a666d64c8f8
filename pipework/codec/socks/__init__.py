"""A sans-IO SOCKS codec: SOCKS4, SOCKS4a and SOCKS5 (RFC 1928) with username/password (RFC 1929).

Theory of operation: no sockets, no event loop, no clock. A :class:`Connection` plays either side
of one TCP connection: Role.SERVER to accept SOCKS clients, Role.CLIENT to reach an upstream
through a SOCKS proxy. It follows the protocol's lock-step conversation as a transition table
(:data:`TRANSITIONS`): ``receive_data`` buffers the peer's bytes, ``next_event`` returns the
message the peer owes (NEED_DATA while it is incomplete, PAUSED when it is our turn, CLOSED when
the conversation is over) and ``send`` turns our next message into bytes. Once a CONNECT (or the
second BIND reply) succeeds the connection is ESTABLISHED and carries :class:`Data` only. Policy
(which method, whose password, where to connect) stays with the caller.

Messages are slotted dataclasses (:mod:`.messages`); :func:`encode` and the ``parse_*`` functions
of :mod:`.wire` turn single messages into bytes and back; :func:`encode_udp` and
:func:`decode_udp` handle the header of datagrams relayed for UDP ASSOCIATE.

Every failure is a :class:`SOCKSError` carrying the reply code that refuses it on the wire:
:class:`RemoteProtocolError` for the peer's bytes (a server queues that refusal for
``data_to_send`` before raising), :class:`LocalProtocolError` for our misuse.

Why write it rather than use a library: python-socks and PySocks are clients only, tied to their
own socket handling; no maintained library has a SOCKS server state machine. Both are the
independent peers the tests check this codec against (DESIGN.md 6). Not implemented: GSSAPI
authentication (RFC 1961) and the reassembly of fragmented UDP datagrams.
"""

from .connection import (
    CLOSED,
    DEFAULT_MAX_HANDSHAKE_BUFFER,
    NEED_DATA,
    PAUSED,
    SUPPORTED_METHODS,
    TRANSITIONS,
    TURN,
    Connection,
    Input,
    Role,
    Sentinel,
    State,
)
from .errors import LocalProtocolError, RemoteProtocolError, SOCKSError
from .messages import (
    MAX_NAME_LENGTH,
    SOCKS4,
    SOCKS5,
    UNSPECIFIED,
    Address,
    AddressType,
    AuthMethod,
    Command,
    Data,
    Event,
    Greeting,
    Message,
    MethodSelection,
    Reply,
    ReplyCode,
    Request,
    Socks4Code,
    Socks4Reply,
    Socks4Request,
    UserPassReply,
    UserPassRequest,
)
from .udp import END_OF_FRAGMENTS, UDPDatagram, decode_udp, encode_udp
from .wire import (
    MAX_SOCKS4_FIELD,
    encode,
    encode_address,
    parse_greeting,
    parse_method_selection,
    parse_reply,
    parse_request,
    parse_socks4_reply,
    parse_socks4_request,
    parse_userpass_reply,
    parse_userpass_request,
    read_address,
)

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_HANDSHAKE_BUFFER",
    "END_OF_FRAGMENTS",
    "MAX_NAME_LENGTH",
    "MAX_SOCKS4_FIELD",
    "NEED_DATA",
    "PAUSED",
    "SOCKS4",
    "SOCKS5",
    "SUPPORTED_METHODS",
    "TRANSITIONS",
    "TURN",
    "UNSPECIFIED",
    "Address",
    "AddressType",
    "AuthMethod",
    "Command",
    "Connection",
    "Data",
    "Event",
    "Greeting",
    "Input",
    "LocalProtocolError",
    "Message",
    "MethodSelection",
    "RemoteProtocolError",
    "Reply",
    "ReplyCode",
    "Request",
    "Role",
    "SOCKSError",
    "Sentinel",
    "Socks4Code",
    "Socks4Reply",
    "Socks4Request",
    "State",
    "UDPDatagram",
    "UserPassReply",
    "UserPassRequest",
    "decode_udp",
    "encode",
    "encode_address",
    "encode_udp",
    "parse_greeting",
    "parse_method_selection",
    "parse_reply",
    "parse_request",
    "parse_socks4_reply",
    "parse_socks4_request",
    "parse_userpass_reply",
    "parse_userpass_request",
    "read_address",
]
