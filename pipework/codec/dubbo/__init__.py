"""A sans-IO codec for the Dubbo protocol (Dubbo 2.x/3.x "dubbo://", Hessian 2 bodies).

Theory of operation: bytes in, messages out; messages in, bytes out; no sockets, no clock. Three
layers, each usable alone:

* ``decode(buf)`` / ``encode(message)`` turn one frame into a ``Request``, ``Response`` or ``Event``
  and back. ``decode`` returns ``(message, consumed)``, or None while ``buf`` holds less than one
  whole frame. Bodies are Hessian 2 (``pipework.codec.hessian``): request arguments and response
  values come back as Hessian's Python values.
* ``StreamDecoder`` takes chunks of any size (``receive_data``) and hands out messages
  (``next_event`` → a message, NEED_DATA or CLOSED) or raw frames (``next_frame``).
* ``peek_header`` and ``peek_invocation`` read the header, and a request's service, version and
  method, from raw bytes without decoding arguments, for a proxy that routes and forwards.

Every failure is a ``DubboError`` carrying a response ``Status``: ``RemoteProtocolError`` for the
peer's bytes (with ``reply``, the BAD_REQUEST response to send, when the frame was a two-way
request), ``LocalProtocolError`` for our misuse. Bodies over Dubbo's 8 MiB payload limit are
refused on both sides, before they are buffered.

Why write it: the Python Dubbo packages are blocking clients that build frames in lists of ints
(dubbo-python) and have no decoder for requests or incremental framing; one of them is the
independent peer the tests check this codec against (DESIGN.md 6).
"""

from .codec import MAX_EVENT_BODY, decode, decode_body, encode
from .errors import DubboError, LocalProtocolError, RemoteProtocolError, Status
from .header import (
    DEFAULT_MAX_PAYLOAD,
    FLAG_EVENT,
    FLAG_REQUEST,
    FLAG_TWO_WAY,
    HEADER_SIZE,
    HESSIAN2,
    MAGIC,
    Header,
    peek_header,
)
from .messages import (
    DUBBO_VERSION,
    MAX_ARGUMENTS,
    READONLY_EVENT,
    Event,
    Invocation,
    Message,
    Request,
    Response,
    ResponseType,
    parse_parameter_types,
)
from .peek import peek_invocation
from .stream import CLOSED, NEED_DATA, Frame, Signal, State, StreamDecoder

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_PAYLOAD",
    "DUBBO_VERSION",
    "FLAG_EVENT",
    "FLAG_REQUEST",
    "FLAG_TWO_WAY",
    "HEADER_SIZE",
    "HESSIAN2",
    "MAGIC",
    "MAX_ARGUMENTS",
    "MAX_EVENT_BODY",
    "NEED_DATA",
    "READONLY_EVENT",
    "DubboError",
    "Event",
    "Frame",
    "Header",
    "Invocation",
    "LocalProtocolError",
    "Message",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ResponseType",
    "Signal",
    "State",
    "Status",
    "StreamDecoder",
    "decode",
    "decode_body",
    "encode",
    "parse_parameter_types",
    "peek_header",
    "peek_invocation",
]
