"""A sans-IO HTTP/1.1 codec (RFC 9110, 9112).

Requests are parsed by llhttp through httptools (:class:`RequestDecoder`), heads are kept as raw
field lists and parsed on demand (:mod:`.head`), and responses are written by
:func:`encode_response` and the helpers of :mod:`.encode`. Every error is an :class:`HTTPError`
carrying the status to answer with.
"""

from .client import CONNECTION_OPTIONS, HOP_BY_HOP, ResponseDecoder, drop_named, forward_fields
from .encode import (
    LAST_CHUNK,
    DateCache,
    chunk,
    format_http_date,
    header_block,
    last_chunk,
    reason,
    request_line,
    status_line,
)
from .errors import HTTPError, LocalProtocolError, RemoteProtocolError
from .head import Headers, RawHeaders, RequestHead, ResponseHead
from .message import NO_BODY_STATUS, Request, Response, as_response, encode_response
from .server import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_URI,
    END,
    EndOfMessage,
    RequestDecoder,
    Upgrade,
)

__all__ = [
    "CONNECTION_OPTIONS",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_URI",
    "END",
    "HOP_BY_HOP",
    "LAST_CHUNK",
    "NO_BODY_STATUS",
    "DateCache",
    "EndOfMessage",
    "HTTPError",
    "Headers",
    "LocalProtocolError",
    "RawHeaders",
    "RemoteProtocolError",
    "Request",
    "RequestDecoder",
    "RequestHead",
    "Response",
    "ResponseDecoder",
    "ResponseHead",
    "Upgrade",
    "as_response",
    "chunk",
    "drop_named",
    "encode_response",
    "format_http_date",
    "forward_fields",
    "header_block",
    "last_chunk",
    "reason",
    "request_line",
    "status_line",
]
