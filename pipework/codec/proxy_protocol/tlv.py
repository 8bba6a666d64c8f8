"""Version 2 TLVs: splitting, checking, building, and the CRC32C checksum (spec 2.2).

Theory of operation: after the addresses, the rest of a v2 header is a run of TLVs, "The first
byte is the Type of the vector. The second two bytes represent the length in bytes of the value
... and following the length field is the number of bytes specified by the length" (spec 2.2).
:func:`split_tlvs` cuts that run into :class:`~.header.TLV` values and refuses one that runs
past the header's end. :func:`check_tlvs` then holds each registered type to its rules, so that
the header's properties can read them without failing:

- PP2_TYPE_CRC32C is "a 32-bit number" (4 bytes), at most once;
- PP2_TYPE_UNIQUE_ID is "an opaque byte sequence of up to 128 bytes";
- PP2_TYPE_AUTHORITY is "an UTF8-encoded string", PP2_TYPE_NETNS "the US-ASCII string
  representation of the namespace's name";
- PP2_TYPE_SSL is ``client`` (1 byte), ``verify`` (4 bytes), then sub-TLVs of the same format:
  VERSION, CIPHER, SIG_ALG and KEY_ALG in US-ASCII, CN in UTF-8.

Unknown types, NOOP padding and the custom, experimental and future ranges pass unchecked: "A
receiver may choose to skip over and ignore the TLVs it is not interested in".

The checksum: "calculate the CRC32c checksum of the PROXY header as described in RFC4960,
Appendix B" with the checksum field set to zeros, on both sides (2.2.3). The standard library
has only IEEE CRC-32 (zlib), so :func:`crc32c` is a table-driven loop over bytes: the one per-byte
loop in the codec, acceptable because a header is a few hundred bytes at most in practice (~30 us
here) and at most 64 KiB by the length field, and only headers carrying the TLV pay for it.
"""

from __future__ import annotations

import struct
from typing import Final

from .errors import LocalProtocolError, Reason, RemoteProtocolError
from .header import MAX_UNIQUE_ID_LENGTH, TLV, SSLInfo, TLVType

_TLV_HEAD: Final = struct.Struct("!BH")
_SSL_HEAD: Final = struct.Struct("!BI")
#: The largest value a TLV length (16 bits) can announce.
MAX_TLV_VALUE: Final = 0xFFFF
_ASCII_TYPES: Final = frozenset({TLVType.SSL_VERSION, TLVType.SSL_CIPHER, TLVType.SSL_SIG_ALG,
                                 TLVType.SSL_KEY_ALG, TLVType.NETNS})
_UTF8_TYPES: Final = frozenset({TLVType.AUTHORITY, TLVType.SSL_CN})


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli, reflected (RFC 4960 B)
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE: Final = _crc32c_table()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC32C (Castagnoli, RFC 4960 Appendix B / RFC 3720 B.4) of ``data``, continuing ``crc``."""
    table = _CRC32C_TABLE
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def split_tlvs(buf: bytes | bytearray, start: int, end: int) -> tuple[TLV, ...]:
    """The TLVs in ``buf[start:end]``. Raises RemoteProtocolError for one that runs past ``end``."""
    tlvs = []
    pos = start
    while pos < end:
        if end - pos < _TLV_HEAD.size:
            raise RemoteProtocolError(f"{end - pos} bytes left after the TLVs: too few for a TLV header",
                                      Reason.TLV, 2)
        kind, length = _TLV_HEAD.unpack_from(buf, pos)
        value_end = pos + _TLV_HEAD.size + length
        if value_end > end:
            raise RemoteProtocolError(f"TLV {kind:#04x} of {length} bytes runs past the header",
                                      Reason.TLV, 2)
        tlvs.append(TLV(kind, bytes(buf[pos + _TLV_HEAD.size : value_end])))
        pos = value_end
    return tuple(tlvs)


def _check_text(tlv: TLV) -> None:
    try:
        tlv.value.decode("ascii" if tlv.type in _ASCII_TYPES else "utf-8")
    except UnicodeDecodeError:
        kind = "US-ASCII" if tlv.type in _ASCII_TYPES else "UTF-8"
        raise RemoteProtocolError(f"TLV {tlv.type:#04x} is not {kind}: {tlv.value[:32]!r}",
                                  Reason.TLV, 2) from None


def check_tlvs(tlvs: tuple[TLV, ...]) -> None:
    """Hold every TLV of a registered type to the spec's rules (see the module doc)."""
    crcs = 0
    for tlv in tlvs:
        kind = tlv.type
        if kind == TLVType.CRC32C:
            crcs += 1
            if len(tlv.value) != 4 or crcs > 1:
                raise RemoteProtocolError("PP2_TYPE_CRC32C must be one 32-bit value", Reason.TLV, 2)
        elif kind == TLVType.UNIQUE_ID and len(tlv.value) > MAX_UNIQUE_ID_LENGTH:
            raise RemoteProtocolError(f"PP2_TYPE_UNIQUE_ID of {len(tlv.value)} bytes: 'up to 128 bytes'",
                                      Reason.TLV, 2)
        elif kind in _ASCII_TYPES or kind in _UTF8_TYPES:
            _check_text(tlv)
        elif kind == TLVType.SSL:
            parse_ssl(tlv.value)


def parse_ssl(value: bytes) -> SSLInfo:
    """The PP2_TYPE_SSL value, its sub-TLVs checked. Raises RemoteProtocolError if malformed."""
    if len(value) < _SSL_HEAD.size:
        raise RemoteProtocolError(f"PP2_TYPE_SSL of {len(value)} bytes: client and verify take 5",
                                  Reason.TLV, 2)
    client, verify = _SSL_HEAD.unpack_from(value)
    subs = split_tlvs(value, _SSL_HEAD.size, len(value))
    for sub in subs:
        if sub.type in _ASCII_TYPES or sub.type in _UTF8_TYPES:
            _check_text(sub)
    return SSLInfo(client, verify, subs)


def encode_tlvs(tlvs: tuple[TLV, ...]) -> bytes:
    """The TLVs on the wire. Raises LocalProtocolError for a type or value that does not fit, or
    a registered type that breaks its rules."""
    parts: list[bytes] = []
    for tlv in tlvs:
        if not 0 <= tlv.type <= 0xFF or len(tlv.value) > MAX_TLV_VALUE:
            raise LocalProtocolError(f"TLV type {tlv.type!r} or its {len(tlv.value)} bytes do not fit",
                                     Reason.TLV, 2)
        parts += (_TLV_HEAD.pack(tlv.type, len(tlv.value)), tlv.value)
    try:
        check_tlvs(tlvs)
    except RemoteProtocolError as exc:
        raise LocalProtocolError(str(exc), Reason.TLV, 2) from None
    return b"".join(parts)


def ssl_tlv(info: SSLInfo) -> TLV:
    """``info`` as the PP2_TYPE_SSL TLV to put in a header."""
    if not 0 <= info.client <= 0xFF or not 0 <= info.verify <= 0xFFFFFFFF:
        raise LocalProtocolError("SSL client is one byte and verify four", Reason.TLV, 2)
    return TLV(TLVType.SSL, _SSL_HEAD.pack(info.client, info.verify) + encode_tlvs(info.tlvs))


def ssl_info(*, version: str | None = None, cn: str | None = None, cipher: str | None = None,
             sig_alg: str | None = None, key_alg: str | None = None, client: int = 0x01,
             verify: int = 0) -> SSLInfo:
    """An :class:`~.header.SSLInfo` from its strings, sub-TLVs in the order HAProxy writes them."""
    subs = [TLV(TLVType.SSL_VERSION, version.encode("ascii")) if version is not None else None,
            TLV(TLVType.SSL_CN, cn.encode()) if cn is not None else None,
            TLV(TLVType.SSL_CIPHER, cipher.encode("ascii")) if cipher is not None else None,
            TLV(TLVType.SSL_SIG_ALG, sig_alg.encode("ascii")) if sig_alg is not None else None,
            TLV(TLVType.SSL_KEY_ALG, key_alg.encode("ascii")) if key_alg is not None else None]
    return SSLInfo(client, verify, tuple(s for s in subs if s is not None))
