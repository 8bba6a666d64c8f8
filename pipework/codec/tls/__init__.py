"""A sans-IO reader of the TLS ClientHello, for routing TLS by name without terminating it.

Theory of operation: no sockets, no event loop, no clock, no logging. A proxy that passes TLS
through (SNI routing, as nginx's ``ssl_preread`` or HAProxy's ``req.ssl_sni`` do) feeds the
first bytes of a connection to a :class:`ClientHelloReader` until ``receive_data`` returns the
:class:`ClientHello`, routes on its ``server_name`` and ``alpn``, then forwards ``hello.raw``
and the reader's ``trailing_data`` untouched, followed by the rest of the stream: the codec
encodes nothing, since the hello must reach the backend exactly as the client signed it into
its transcript. :func:`peek` tells from the first six bytes whether a connection looks like TLS,
for protocol detection on a shared port; :func:`decode` parses a buffer in one call.

TLS 1.0 to 1.3 are read (RFC 5246 7.4.1.2 and RFC 8446 4.1.2 share the hello's layout, and
supported_versions, RFC 8446 4.2.1, gives 1.3's versions), with the record layer of RFC 8446 5.1,
server_name (RFC 6066 3) and ALPN (RFC 7301 3.1). Encrypted ClientHello (ECH) is passed as one
more extension: its outer hello's server_name is the public name, which is what a pass-through
proxy routes on.

Every failure is a :class:`TLSError`: :class:`RemoteProtocolError` for bytes that cannot be an
acceptable ClientHello (non-TLS bytes, another message, lengths past their data, a hello over
:data:`MAX_HELLO_SIZE`, an SSL 2.0 hello), carrying the :class:`Alert` a TLS server would send;
:class:`LocalProtocolError` for misuse.

Why write it: Python's ``ssl`` module cannot parse a hello without terminating, and the TLS
libraries that can (tlslite-ng, scapy) are whole stacks, far too slow to sit in front of every
connection. Python's ``ssl`` module and ``openssl s_client`` are the independent peers the tests
check this reader against (DESIGN.md 6).
"""

from .errors import Alert, LocalProtocolError, RemoteProtocolError, TLSError
from .hello import ALPN, PRE_SHARED_KEY, SERVER_NAME, SUPPORTED_VERSIONS, ClientHello, parse_client_hello
from .reader import (
    CLIENT_HELLO,
    HANDSHAKE,
    MAX_HELLO_SIZE,
    MAX_RECORD,
    NEED_DATA,
    ClientHelloReader,
    Sentinel,
    decode,
    encode_alert,
    peek,
)

__all__ = [
    "ALPN",
    "CLIENT_HELLO",
    "HANDSHAKE",
    "MAX_HELLO_SIZE",
    "MAX_RECORD",
    "NEED_DATA",
    "PRE_SHARED_KEY",
    "SERVER_NAME",
    "SUPPORTED_VERSIONS",
    "Alert",
    "ClientHello",
    "ClientHelloReader",
    "LocalProtocolError",
    "RemoteProtocolError",
    "Sentinel",
    "TLSError",
    "decode",
    "encode_alert",
    "parse_client_hello",
    "peek",
]
