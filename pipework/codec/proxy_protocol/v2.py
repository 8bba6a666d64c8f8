"""Version 2, the binary header: a 16-byte head, the addresses, then TLVs (spec 2.2).

Theory of operation: the head is the 12-byte signature ``\\r\\n\\r\\n\\0\\r\\nQUIT\\n``, the
version and command byte, the family and transport byte, and the length of the rest, so the whole
header is "always exactly 16 + this value" bytes. :func:`decode_v2` checks the head as soon as it
has it and refuses what the spec says to refuse: "The highest four bits contains the version. As
of this specification, it must always be sent as \\x2 and the receiver must only accept this
value"; other commands "are unassigned and must not be emitted by senders. Receivers must drop
connections presenting unexpected values here"; other families and transports "must be rejected
as invalid by receivers". A length past the caller's ``max_size`` is refused before the rest is
buffered. Then the address block of the family, then the TLVs (:mod:`.tlv`), then the checksum.

A PROXY header's length must leave room for its addresses. For LOCAL "the receiver must accept
this connection as valid and must use the real connection endpoints and discard the protocol
block including the family" and "Receivers MUST always consider this field to skip the
appropriate number of bytes": when the length is too short for the family's addresses the block
is skipped whole (no addresses, no TLVs), otherwise it is read as for PROXY.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from .errors import LocalProtocolError, Reason, RemoteProtocolError
from .header import (
    TLV,
    UNIX_ADDRESS_SIZE,
    Address,
    Command,
    Family,
    ProxyHeader,
    TLVType,
    Transport,
    inet_pair,
)
from .tlv import check_tlvs, crc32c, encode_tlvs, split_tlvs

SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_HEAD: Final = struct.Struct("!12sBBH")
HEAD_SIZE: Final = _HEAD.size  # 16
#: The largest header the 16-bit length allows.
MAX_V2_SIZE: Final = HEAD_SIZE + 0xFFFF
_INET: Final = struct.Struct("!4s4sHH")
_INET6: Final = struct.Struct("!16s16sHH")
_UNIX: Final = struct.Struct("!108s108s")
_ADDRESS_SIZES: Final = {Family.UNSPEC: 0, Family.INET: _INET.size, Family.INET6: _INET6.size,
                         Family.UNIX: _UNIX.size}
_TLV_HEAD_SIZE: Final = 3


def _error(msg: str, reason: Reason) -> RemoteProtocolError:
    return RemoteProtocolError(msg, reason, 2)


def decode_v2(buf: bytes | bytearray, *, max_size: int = MAX_V2_SIZE,
              verify_checksum: bool = True) -> tuple[ProxyHeader, int] | None:
    """A v2 header at the start of ``buf`` and its length, or None while it is incomplete.

    Raises RemoteProtocolError as soon as the bytes cannot be a valid v2 header, when it would be
    longer than ``max_size``, or when its PP2_TYPE_CRC32C does not match (unless told not to
    verify: the spec's MUST applies to receivers that support the checksum).
    """
    head = bytes(buf[: len(SIGNATURE)])
    if not SIGNATURE.startswith(head):
        raise _error("not the v2 signature", Reason.SIGNATURE)
    if len(buf) < HEAD_SIZE:
        if len(buf) > len(SIGNATURE):
            _check_version_command(buf[len(SIGNATURE)])
        return None
    _, ver_cmd, fam, length = _HEAD.unpack_from(buf)
    command = _check_version_command(ver_cmd)
    family, transport = fam >> 4, fam & 0x0F
    if family > Family.UNIX or transport > Transport.DGRAM:
        raise _error(f"family/transport byte {fam:#04x}: family 0-3 and transport 0-2 only", Reason.FAMILY)
    size = HEAD_SIZE + length
    if size > max_size:
        raise _error(f"header of {size} bytes exceeds the limit of {max_size}", Reason.TOO_LONG)
    if len(buf) < size:
        return None
    raw = bytes(buf[:size])
    header = _parse_block(raw, Command(command), Family(family), Transport(transport))
    if verify_checksum and header.crc32c is not None:
        _verify(raw, header.crc32c)
    return header, size


def _check_version_command(ver_cmd: int) -> int:
    if ver_cmd >> 4 != 2:
        raise _error(f"version {ver_cmd >> 4}: 'the receiver must only accept' 2", Reason.VERSION)
    if ver_cmd & 0x0F > Command.PROXY:
        raise _error(f"command {ver_cmd & 0x0F} is neither LOCAL nor PROXY", Reason.COMMAND)
    return ver_cmd & 0x0F


def _parse_block(raw: bytes, command: Command, family: Family, transport: Transport) -> ProxyHeader:
    need = _ADDRESS_SIZES[family]
    if len(raw) - HEAD_SIZE < need:
        if command is Command.LOCAL:
            return ProxyHeader(Command.LOCAL, family, transport)  # the block is discarded
        raise _error(f"{len(raw) - HEAD_SIZE} bytes cannot hold {family.name} addresses ({need})",
                     Reason.ADDRESS)
    source: Address | None = None
    destination: Address | None = None
    if family is Family.INET or family is Family.INET6:
        layout, kind = (_INET, IPv4Address) if family is Family.INET else (_INET6, IPv6Address)
        src, dst, sport, dport = layout.unpack_from(raw, HEAD_SIZE)
        source, destination = (kind(src), sport), (kind(dst), dport)
    elif family is Family.UNIX:
        src, dst = _UNIX.unpack_from(raw, HEAD_SIZE)
        source, destination = src.rstrip(b"\x00"), dst.rstrip(b"\x00")
    tlvs = split_tlvs(raw, HEAD_SIZE + need, len(raw))
    check_tlvs(tlvs)
    return ProxyHeader(command, family, transport, source, destination, tlvs)


def _verify(raw: bytes, expected: int) -> None:
    """Spec 2.2.3: "replace the 32 bits of the checksum field in the received PROXY header with all
    '0's and calculate a CRC32c checksum value of the whole PROXY header"."""
    where = _crc_offset(raw)
    zeroed = raw[:where] + b"\x00\x00\x00\x00" + raw[where + 4 :]
    if crc32c(zeroed) != expected:
        raise _error(f"PP2_TYPE_CRC32C {expected:#010x} does not match the header's {crc32c(zeroed):#010x}",
                     Reason.CHECKSUM)


def _crc_offset(raw: bytes) -> int:
    """Where the CRC32C TLV's value starts in a header already checked to hold exactly one."""
    family = raw[13] >> 4
    pos = HEAD_SIZE + _ADDRESS_SIZES[Family(family)]
    while raw[pos] != TLVType.CRC32C:
        pos += _TLV_HEAD_SIZE + int.from_bytes(raw[pos + 1 : pos + 3], "big")
    return pos + _TLV_HEAD_SIZE


def encode_v2(header: ProxyHeader, *, checksum: bool = False) -> bytes:
    """The v2 header. With ``checksum`` a PP2_TYPE_CRC32C TLV is appended if ``header`` has none;
    a CRC32C TLV present (appended or not) always gets the header's checksum, whatever value it
    held. Raises LocalProtocolError for addresses that do not match the family or a header
    longer than 65535 bytes after its head."""
    tlvs = header.tlvs
    if checksum and not any(t.type == TLVType.CRC32C for t in tlvs):
        tlvs = (*tlvs, TLV(TLVType.CRC32C, bytes(4)))
    tlvs = tuple(TLV(t.type, bytes(4)) if t.type == TLVType.CRC32C else t for t in tlvs)
    body = _encode_addresses(header) + encode_tlvs(tlvs)
    if len(body) > 0xFFFF:
        raise LocalProtocolError(f"{len(body)} bytes after the head: the length field holds 65535",
                                 Reason.TOO_LONG, 2)
    fam = (Family(header.family) << 4) | Transport(header.transport)
    raw = _HEAD.pack(SIGNATURE, 0x20 | Command(header.command), fam, len(body)) + body
    if any(t.type == TLVType.CRC32C for t in tlvs):
        where = _crc_offset(raw)
        raw = raw[:where] + crc32c(raw).to_bytes(4, "big") + raw[where + 4 :]
    return raw


def _encode_addresses(header: ProxyHeader) -> bytes:
    family, src, dst = header.family, header.source, header.destination
    if family is Family.UNSPEC:
        if src is not None or dst is not None:
            raise LocalProtocolError("family UNSPEC carries no addresses", Reason.ADDRESS, 2)
        return b""
    if family is Family.UNIX:
        paths = (src, dst)
        if not all(isinstance(p, bytes) and len(p) <= UNIX_ADDRESS_SIZE for p in paths):
            raise LocalProtocolError(f"UNIX addresses are paths of at most {UNIX_ADDRESS_SIZE} bytes",
                                     Reason.ADDRESS, 2)
        return _UNIX.pack(*paths)
    (src_ip, src_port), (dst_ip, dst_port) = inet_pair(src, family, 2), inet_pair(dst, family, 2)
    return (_INET if family is Family.INET else _INET6).pack(src_ip.packed, dst_ip.packed, src_port, dst_port)
