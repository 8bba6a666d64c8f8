"""A sans-IO codec for HAProxy's PROXY protocol, versions 1 (text) and 2 (binary with TLVs).

Theory of operation: no sockets, no event loop, no clock. A proxy that accepts connections from
a trusted load balancer reads the header that opens each connection with :func:`decode` (buffer
in, ``(header, consumed)`` or None out) or a :class:`Receiver` (``receive_data`` /
``next_event``), then treats the rest as the application's bytes. A proxy that passes client
addresses upstream writes one with :func:`encode` before anything else. Both versions share one
frozen :class:`ProxyHeader`: LOCAL or PROXY, the family (UNSPEC, INET, INET6, UNIX) and transport
(STREAM, DGRAM), the two addresses, and v2's TLVs (ALPN, authority, CRC32C, NOOP, unique ID, SSL
with its sub-TLVs, netns, and any other type kept as bytes). The CRC32C TLV is verified on decode
and computed on encode.

Every failure is a :class:`ProxyProtocolError` carrying a :class:`Reason` and the header version:
:class:`RemoteProtocolError` for received bytes (the protocol has no replies: the only answer is
to close), :class:`LocalProtocolError` for a header we cannot encode. The spec's limits are
named: :data:`MAX_V1_LENGTH` (107 bytes), :data:`MAX_V2_SIZE` (16 + 65535) and
:data:`MAX_UNIQUE_ID_LENGTH` (128).

Why write it: the ``proxy-protocol`` package is built around its asyncio reader and socket
wrappers, signals an incomplete header by exception with a read hint, and accepts headers the
spec refuses (it reads ``+080`` as port 80 and silently keeps a TLV cut short). HAProxy's own
spec examples and that package are the peers the tests check this codec against (DESIGN.md 6).
"""

from .codec import NEED_DATA, VERSIONS, Receiver, Sentinel, decode, encode
from .errors import LocalProtocolError, ProxyProtocolError, Reason, RemoteProtocolError
from .header import (
    MAX_UNIQUE_ID_LENGTH,
    TLV,
    UNIX_ADDRESS_SIZE,
    Address,
    Command,
    Family,
    InetAddress,
    ProxyHeader,
    SSLClient,
    SSLInfo,
    TLVType,
    Transport,
)
from .tlv import MAX_TLV_VALUE, crc32c, parse_ssl, ssl_info, ssl_tlv
from .v1 import MAX_V1_LENGTH, decode_v1, encode_v1
from .v2 import HEAD_SIZE, MAX_V2_SIZE, SIGNATURE, decode_v2, encode_v2

__all__ = [
    "HEAD_SIZE",
    "MAX_TLV_VALUE",
    "MAX_UNIQUE_ID_LENGTH",
    "MAX_V1_LENGTH",
    "MAX_V2_SIZE",
    "NEED_DATA",
    "SIGNATURE",
    "TLV",
    "UNIX_ADDRESS_SIZE",
    "VERSIONS",
    "Address",
    "Command",
    "Family",
    "InetAddress",
    "LocalProtocolError",
    "ProxyHeader",
    "ProxyProtocolError",
    "Reason",
    "Receiver",
    "RemoteProtocolError",
    "SSLClient",
    "SSLInfo",
    "Sentinel",
    "TLVType",
    "Transport",
    "crc32c",
    "decode",
    "decode_v1",
    "decode_v2",
    "encode",
    "encode_v1",
    "encode_v2",
    "parse_ssl",
    "ssl_info",
    "ssl_tlv",
]
