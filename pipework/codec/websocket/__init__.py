"""A sans-IO codec for WebSocket (RFC 6455) with permessage-deflate (RFC 7692).

Theory of operation: bytes in, events out; events in, bytes out; no sockets, no event loop, no
clock. Three layers, each usable alone:

* :func:`decode_frame` / :func:`encode_frame` turn one frame into bytes and back.
  ``decode_frame(buf)`` returns ``(frame, consumed)``, or None while ``buf`` holds less than one
  whole frame; it checks everything one frame can break (opcodes, RSV bits, minimal lengths,
  control-frame rules, masking by role) as soon as the header is in.
* :class:`Connection` (one per role, after the handshake) takes chunks of any size
  (``receive_data``; b"" is the end of stream) and hands out events (``next_event`` →
  :class:`Message`, :class:`Ping`, :class:`Pong`, :class:`Close`, NEED_DATA or CLOSED): it
  reassembles fragments up to ``max_message_size``, validates text as UTF-8 as it arrives,
  decompresses permessage-deflate within that limit, and follows the closing handshake.
  ``send(event)`` returns the frames' bytes, masked when we are the client. On a peer's error
  it queues its Close (1002, 1007, 1009; ``data_to_send``) before raising.
* The opening handshake's helpers: :func:`accept_key`, :func:`make_key`,
  :func:`validate_request` / :func:`response_headers` for a server,
  :func:`request_headers` / :func:`validate_response` for a client, subprotocol and extension
  header parsing, and permessage-deflate negotiation (:func:`negotiate_deflate`,
  :class:`DeflateOffer`, :class:`DeflateParams`).

Every failure is a :class:`WebSocketError` carrying a :class:`CloseCode` (and an HTTP status for
a failed handshake): :class:`RemoteProtocolError` for the peer's bytes, :class:`LocalProtocolError`
for our misuse. Why this is written here rather than taken from `websockets` or `wsproto`:
DESIGN.md 6 — a proxy needs a fast codec that fits the house shape; those libraries are the
independent peers its tests check it against.
"""

from .connection import TRANSITIONS, Connection, Input, State
from .deflate import EXTENSION_NAME, DeflateOffer, DeflateParams, Extension, negotiate_deflate
from .errors import CloseCode, LocalProtocolError, RemoteProtocolError, WebSocketError, close_code_error
from .events import CLOSED, NEED_DATA, Close, Event, Message, Ping, Pong, Role, Sentinel
from .frames import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_CLOSE_REASON,
    MAX_CONTROL_PAYLOAD,
    RSV1,
    RSV2,
    RSV3,
    Frame,
    Opcode,
    build_close,
    decode_frame,
    encode_frame,
    mask,
    parse_close,
)
from .handshake import (
    GUID,
    HandshakeRequest,
    HandshakeResponse,
    accept_key,
    format_extensions,
    header_values,
    make_key,
    parse_extensions,
    parse_subprotocols,
    request_headers,
    response_headers,
    select_subprotocol,
    validate_request,
    validate_response,
)

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EXTENSION_NAME",
    "GUID",
    "MAX_CLOSE_REASON",
    "MAX_CONTROL_PAYLOAD",
    "NEED_DATA",
    "RSV1",
    "RSV2",
    "RSV3",
    "TRANSITIONS",
    "Close",
    "CloseCode",
    "Connection",
    "DeflateOffer",
    "DeflateParams",
    "Event",
    "Extension",
    "Frame",
    "HandshakeRequest",
    "HandshakeResponse",
    "Input",
    "LocalProtocolError",
    "Message",
    "Opcode",
    "Ping",
    "Pong",
    "RemoteProtocolError",
    "Role",
    "Sentinel",
    "State",
    "WebSocketError",
    "accept_key",
    "build_close",
    "close_code_error",
    "decode_frame",
    "encode_frame",
    "format_extensions",
    "header_values",
    "make_key",
    "mask",
    "negotiate_deflate",
    "parse_close",
    "parse_extensions",
    "parse_subprotocols",
    "request_headers",
    "response_headers",
    "select_subprotocol",
    "validate_request",
    "validate_response",
]
