"""The ClientHello message: its fields, and the parser of its body.

Theory of operation: :func:`parse_client_hello` takes the body of one whole ClientHello
handshake message (the record layer and the 4-byte handshake header already taken off by
:mod:`.reader`) and returns a frozen :class:`ClientHello`. The layout is RFC 8446 4.1.2, which
TLS 1.2 shares (RFC 5246 7.4.1.2)::

    struct {
        ProtocolVersion legacy_version;            /* client_version in TLS 1.2 */
        Random random;                             /* 32 bytes */
        opaque legacy_session_id<0..32>;
        CipherSuite cipher_suites<2..2^16-2>;
        opaque legacy_compression_methods<1..2^8-1>;
        Extension extensions<8..2^16-1>;           /* absent altogether in some TLS 1.2 hellos */
    } ClientHello;

Every length is checked against what holds it: RFC 8446 4, "Peers which receive a message which
cannot be parsed according to the syntax (e.g., have a length extending beyond the message
boundary or contain an out-of-range length) MUST terminate the connection with a "decode_error"
alert". Extensions are kept in wire order as ``(type, data)`` pairs; three are read further:
server_name (RFC 6066 3), application_layer_protocol_negotiation (RFC 7301 3.1) and
supported_versions (RFC 8446 4.2.1). The rest (key shares, signature algorithms, GREASE values
of RFC 8701...) are the backend's business: a pass-through proxy forwards them untouched and
must not refuse a hello a server would accept, so nothing is checked beyond what routing reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from .errors import Alert, RemoteProtocolError

SERVER_NAME: Final = 0
ALPN: Final = 16
PRE_SHARED_KEY: Final = 41
SUPPORTED_VERSIONS: Final = 43
HOST_NAME: Final = 0  # RFC 6066 3: enum { host_name(0), (255) } NameType

_U16: Final = struct.Struct("!H")
_EXT_HEAD: Final = struct.Struct("!HH")  # extension_type, extension_data's length
_RANDOM_SIZE: Final = 32
_MAX_SESSION_ID: Final = 32


@dataclass(frozen=True, slots=True)
class ClientHello:
    """A parsed ClientHello. Integers are the wire's code points (0x0303 is TLS 1.2, 0x1301 is
    TLS_AES_128_GCM_SHA256); unknown and GREASE values are kept as sent.

    Attributes:
        server_name: the SNI host_name, lower-cased ASCII (an IDNA A-label as the client sent
            it, ``xn--...``), or None without the extension.
        alpn: the ALPN protocol names in the client's order (empty without the extension),
            decoded as ISO-8859-1 so that any byte string maps to one str and back.
        versions: supported_versions in the client's order, or ``(legacy_version,)`` without it.
        cipher_suites: the cipher suites in the client's order.
        legacy_version: the version field of the hello body (0x0303 for TLS 1.2 and 1.3).
        random, session_id, compression_methods: as sent.
        extensions: every extension as ``(type, data)``, in wire order.
        raw: every byte the hello took on the wire, its record headers included: forward these
            untouched.
    """

    server_name: str | None
    alpn: tuple[str, ...]
    versions: tuple[int, ...]
    cipher_suites: tuple[int, ...]
    legacy_version: int
    random: bytes = field(repr=False)
    session_id: bytes = field(repr=False)
    compression_methods: bytes = field(repr=False)
    extensions: tuple[tuple[int, bytes], ...] = field(repr=False)
    raw: bytes = field(repr=False)

    def extension(self, ext_type: int) -> bytes | None:
        """The data of the extension of type ``ext_type``, or None when the hello has none."""
        for t, data in self.extensions:
            if t == ext_type:
                return data
        return None


def _error(msg: str, alert: Alert = Alert.DECODE_ERROR) -> RemoteProtocolError:
    return RemoteProtocolError(msg, alert)


def _vector(buf: bytes, pos: int, end: int, size_len: int, what: str) -> tuple[bytes, int]:
    """The variable-length vector at ``pos`` (RFC 8446 3.4: a ``size_len``-byte length, then the
    bytes) and the offset after it; raises decode_error when it runs past ``end``."""
    if pos + size_len > end:
        raise _error(f"the ClientHello ends inside the length of {what}")
    n = int.from_bytes(buf[pos : pos + size_len], "big")
    start = pos + size_len
    if start + n > end:
        raise _error(f"{what} claims {n} bytes, {end - start} are left")
    return buf[start : start + n], start + n


def parse_client_hello(body: bytes, raw: bytes) -> ClientHello:
    """The ClientHello whose body (after the handshake header) is ``body``; ``raw`` is kept as
    the wire bytes. Raises RemoteProtocolError (decode_error, illegal_parameter or
    protocol_version) for a body that is not a well-formed ClientHello."""
    end = len(body)
    if end < 2 + _RANDOM_SIZE:
        raise _error(f"a ClientHello of {end} bytes has no room for its version and random")
    legacy_version = _U16.unpack_from(body)[0]
    if legacy_version >> 8 != 3:
        # RFC 8446 D.5: "Implementations MUST NOT send any records with a version less than
        # 0x0300"; RFC 6176: SSL 2.0 "MUST NOT" be negotiated.
        raise _error(f"legacy_version {legacy_version:#06x} is not TLS", Alert.PROTOCOL_VERSION)
    random = body[2 : 2 + _RANDOM_SIZE]
    session_id, pos = _vector(body, 2 + _RANDOM_SIZE, end, 1, "legacy_session_id")
    if len(session_id) > _MAX_SESSION_ID:
        raise _error(f"legacy_session_id<0..32> of {len(session_id)} bytes", Alert.ILLEGAL_PARAMETER)
    suites, pos = _vector(body, pos, end, 2, "cipher_suites")
    if not suites or len(suites) % 2:
        raise _error(f"cipher_suites<2..2^16-2> of {len(suites)} bytes")
    compression, pos = _vector(body, pos, end, 1, "legacy_compression_methods")
    if not compression:
        raise _error("legacy_compression_methods<1..2^8-1> is empty")
    extensions: tuple[tuple[int, bytes], ...] = ()
    ext: dict[int, bytes] = {}
    if pos < end:  # RFC 5246 7.4.1.2: a TLS 1.2 hello may end here, without extensions
        block, pos = _vector(body, pos, end, 2, "extensions")
        if pos != end:
            raise _error(f"{end - pos} bytes after the extensions")
        extensions, ext = _split_extensions(block)
    server_name = _server_name(ext[SERVER_NAME]) if SERVER_NAME in ext else None
    alpn = _alpn(ext[ALPN]) if ALPN in ext else ()
    versions = _versions(ext[SUPPORTED_VERSIONS]) if SUPPORTED_VERSIONS in ext else (legacy_version,)
    return ClientHello(server_name, alpn, versions, struct.unpack(f"!{len(suites) // 2}H", suites),
                       legacy_version, random, session_id, compression, extensions, raw)


def _split_extensions(block: bytes) -> tuple[tuple[tuple[int, bytes], ...], dict[int, bytes]]:
    """The extensions in wire order, and by type."""
    out: list[tuple[int, bytes]] = []
    unpack = _EXT_HEAD.unpack_from
    pos, end = 0, len(block)
    while pos < end:
        if pos + 4 > end:
            raise _error("the extensions end inside an extension header")
        ext_type, n = unpack(block, pos)
        pos += 4
        if pos + n > end:
            raise _error(f"extension {ext_type} claims {n} bytes, {end - pos} are left")
        out.append((ext_type, block[pos : pos + n]))
        pos += n
    by_type = dict(out)
    if len(by_type) != len(out):
        # RFC 8446 4.2: "There MUST NOT be more than one extension of the same type in a given
        # extension block."
        twice = next(t for t, _ in out if sum(1 for u, _ in out if u == t) > 1)
        raise _error(f"extension {twice} appears twice", Alert.ILLEGAL_PARAMETER)
    if PRE_SHARED_KEY in by_type and out[-1][0] != PRE_SHARED_KEY:
        # RFC 8446 4.2.11: "The "pre_shared_key" extension MUST be the last extension in the
        # ClientHello ... Servers MUST check that it is the last extension and otherwise fail the
        # handshake with an "illegal_parameter" alert."
        raise _error("pre_shared_key is not the last extension", Alert.ILLEGAL_PARAMETER)
    return tuple(out), by_type


def _server_name(data: bytes) -> str:
    """RFC 6066 3: ``ServerName server_name_list<1..2^16-1>``, each entry a NameType byte and,
    for host_name, ``opaque HostName<1..2^16-1>``."""
    names, pos = _vector(data, 0, len(data), 2, "server_name_list")
    if pos != len(data) or not names:
        raise _error("server_name_list<1..2^16-1> does not fill the server_name extension")
    host: bytes | None = None
    pos, end = 0, len(names)
    while pos < end:
        name_type = names[pos]
        name, pos = _vector(names, pos + 1, end, 2, "a server name")
        if name_type != HOST_NAME:
            continue  # no other NameType is defined; its entry is skipped, as unknown
        if host is not None:
            # RFC 6066 3: "The ServerNameList MUST NOT contain more than one name of the same
            # name_type."
            raise _error("two host_names in server_name_list", Alert.ILLEGAL_PARAMETER)
        host = name
    if host is None:
        raise _error("server_name without a host_name", Alert.ILLEGAL_PARAMETER)
    # RFC 6066 3: HostName is "represented as a byte string using ASCII encoding"; an empty name
    # is out of range (<1..2^16-1>), and a NUL would let "a.test\0.evil" route as another name.
    if not host or not host.isascii() or b"\x00" in host:
        raise _error(f"host_name {host[:64]!r} is not a non-empty ASCII name", Alert.ILLEGAL_PARAMETER)
    return host.decode("ascii").lower()


def _alpn(data: bytes) -> tuple[str, ...]:
    """RFC 7301 3.1: ``ProtocolName protocol_name_list<2..2^16-1>``, ``opaque ProtocolName<1..2^8-1>``."""
    names, pos = _vector(data, 0, len(data), 2, "protocol_name_list")
    if pos != len(data) or len(names) < 2:
        raise _error("protocol_name_list<2..2^16-1> does not fill the ALPN extension")
    out: list[str] = []
    pos, end = 0, len(names)
    while pos < end:
        name, pos = _vector(names, pos, end, 1, "a protocol name")
        if not name:
            # RFC 7301 3.1: "Empty strings MUST NOT be included and byte strings MUST NOT be
            # truncated."
            raise _error("an empty ALPN protocol name", Alert.DECODE_ERROR)
        out.append(name.decode("latin-1"))
    return tuple(out)


def _versions(data: bytes) -> tuple[int, ...]:
    """RFC 8446 4.2.1: in a ClientHello, ``ProtocolVersion versions<2..254>``."""
    versions, pos = _vector(data, 0, len(data), 1, "supported_versions")
    if pos != len(data) or len(versions) < 2 or len(versions) % 2:
        raise _error(f"supported_versions<2..254> of {len(versions)} bytes")
    return struct.unpack(f"!{len(versions) // 2}H", versions)
