"""One entry point for both versions: ``decode(buf)``, ``encode(header)`` and a stream ``Receiver``.

Theory of operation: the first byte tells the versions apart, as the spec's detection rule does
("if the incoming byte count is 16 or above and the 13 first bytes match the protocol signature
block followed by the protocol version 2 ... otherwise, if the incoming byte count is 8 or above,
and the 5 first characters match the US-ASCII representation of "PROXY" then the protocol must
be parsed as version 1 ... otherwise the protocol is not covered by this specification and the
connection must be dropped"), decided on the first byte so that a wrong prefix is refused at once
("It is recommended to abort the connection as soon as possible"). A receiver accepts only the
versions it is configured for: "The receiver MUST be configured to only receive the protocol
described in this specification and MUST not try to guess whether the protocol header is
present or not" (spec 2), so a connection without a header is an error, never application data.

:func:`decode` works on a buffer the caller keeps; :class:`Receiver` is the same with the
``receive_data`` / ``next_event`` shape of the other stream codecs, for the I/O layer, which
also applies the spec's "short timeout" on the header's arrival.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from typing import Final

from .errors import LocalProtocolError, Reason, RemoteProtocolError
from .header import ProxyHeader
from .v1 import decode_v1, encode_v1
from .v2 import MAX_V2_SIZE, decode_v2, encode_v2

VERSIONS: Final = frozenset({1, 2})
_FIRST_BYTES: Final = {0x0D: 2, 0x50: 1}  # "\r" of the v2 signature, "P" of "PROXY "


def decode(buf: bytes | bytearray, *, versions: Collection[int] = VERSIONS, max_size: int = MAX_V2_SIZE,
           verify_checksum: bool = True) -> tuple[ProxyHeader, int] | None:
    """The header at the start of ``buf`` and how many bytes it took, or None while ``buf`` holds
    a proper prefix of one. What follows the header is application data, the caller's.

    ``versions``: the versions this receiver accepts. ``max_size`` bounds a v2 header (a v1 line
    is at most 107 bytes by the spec). Raises RemoteProtocolError as soon as ``buf`` cannot start
    an acceptable header; the caller closes the connection.
    """
    if not buf:
        return None
    version = _FIRST_BYTES.get(buf[0])
    if version is None:
        raise RemoteProtocolError(f"{bytes(buf[:8])!r} starts no PROXY protocol header", Reason.SIGNATURE)
    if version not in versions:
        raise RemoteProtocolError(f"a version {version} header, but this receiver accepts {sorted(versions)}",
                                  Reason.SIGNATURE, version)
    if version == 1:
        return decode_v1(buf)
    return decode_v2(buf, max_size=max_size, verify_checksum=verify_checksum)


def encode(header: ProxyHeader, *, checksum: bool = False) -> bytes:
    """``header`` in its ``version``'s format; with ``checksum`` a v2 header gets PP2_TYPE_CRC32C.

    Raises LocalProtocolError for what that version cannot carry.
    """
    if header.version == 1:
        if checksum:
            raise LocalProtocolError("version 1 has no checksum", Reason.TLV, 1)
        return encode_v1(header)
    if header.version == 2:
        return encode_v2(header, checksum=checksum)
    raise LocalProtocolError(f"version {header.version!r} is neither 1 nor 2", Reason.VERSION)


class Sentinel(Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA


class Receiver:
    """Reads the header that opens a connection from chunks of any size.

    ``next_event`` returns the header once (then the caller takes ``trailing_data``, the first
    bytes of the application stream, and stops using the receiver) or NEED_DATA. Arguments as
    for :func:`decode`.
    """

    __slots__ = ("_buf", "_eof", "_error", "_header", "_max_size", "_verify", "_versions")

    def __init__(self, *, versions: Collection[int] = VERSIONS, max_size: int = MAX_V2_SIZE,
                 verify_checksum: bool = True) -> None:
        if not versions or not VERSIONS.issuperset(versions):
            raise LocalProtocolError(f"versions must be a non-empty subset of {{1, 2}}, not {versions!r}",
                                     Reason.VERSION)
        self._versions, self._max_size, self._verify = frozenset(versions), max_size, verify_checksum
        self._buf = bytearray()
        self._eof = False
        self._header: ProxyHeader | None = None
        self._error: RemoteProtocolError | None = None

    @property
    def header(self) -> ProxyHeader | None:
        """The header, once decoded."""
        return self._header

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes after the header (the application's), and whether the peer's EOF was seen."""
        return bytes(self._buf), self._eof

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes; ``b""`` means EOF. Raises LocalProtocolError after EOF or a failure."""
        if self._eof or self._error is not None:
            raise LocalProtocolError("receive_data after EOF or a failure", Reason.LINE)
        if data:
            self._buf += data
        else:
            self._eof = True

    def next_event(self) -> ProxyHeader | Sentinel:
        """The header, or NEED_DATA. Raises RemoteProtocolError (again on every later call) for
        bytes that cannot be an acceptable header, or EOF before the header is complete."""
        if self._error is not None:
            raise self._error
        if self._header is not None:
            raise LocalProtocolError("the header was already returned: take trailing_data", Reason.LINE)
        try:
            result = decode(self._buf, versions=self._versions, max_size=self._max_size,
                            verify_checksum=self._verify)
            if result is None:
                if self._eof:
                    raise RemoteProtocolError(f"the connection closed {len(self._buf)} bytes into the header",
                                              Reason.LINE)
                return NEED_DATA
        except RemoteProtocolError as exc:
            self._error = exc
            raise
        self._header, consumed = result
        del self._buf[:consumed]
        return self._header
