"""gRPC per-message compression: ``identity``, ``gzip`` and ``deflate``, decompression bounded.

Theory of operation: a gRPC call names the compression of its messages in the ``grpc-encoding``
header, and each message says in its Compressed-Flag whether it used it (PROTOCOL-HTTP2.md,
"Message-Encoding"; doc/compression.md). The codings every gRPC implementation ships are
``gzip`` (RFC 1952) and ``deflate``, which in gRPC means the zlib format (RFC 1950: gRPC core
and grpc-java write a zlib header, not raw deflate). Both are zlib streams here, read with
``zlib.decompressobj`` and a ``max_length``, so a small message that inflates to gigabytes (a
decompression bomb: deflate reaches ~1000:1) stops after ``max_size + 1`` bytes of output, never
allocating more.

What a peer can get wrong, and the gRPC status it means (doc/statuscodes.md): a coding we do not
support is UNIMPLEMENTED ("Compression mechanism used by client not supported by the server");
bytes that do not inflate, stop short, or run on after the stream's end are INTERNAL ("Could
not decompress, but compression algorithm supported"); output over the limit is
RESOURCE_EXHAUSTED. zstd and snappy, which some implementations add, are not built in.
"""

from __future__ import annotations

import zlib
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError, StatusCode, exhausted, malformed

IDENTITY: Final = "identity"
GZIP: Final = "gzip"
DEFLATE: Final = "deflate"

# zlib's wbits for each coding: 16 + 15 reads and writes a gzip wrapper, 15 a zlib wrapper.
_WBITS: Final = {GZIP: 16 + zlib.MAX_WBITS, DEFLATE: zlib.MAX_WBITS}

#: The codings this module compresses and decompresses, in the order we prefer them; the value
#: of a ``grpc-accept-encoding`` header that advertises them is ``",".join(SUPPORTED_ENCODINGS)``.
SUPPORTED_ENCODINGS: Final = (GZIP, DEFLATE, IDENTITY)

#: zlib level 6 (its default): most of level 9's ratio at about half the CPU.
DEFAULT_LEVEL: Final = 6


def normalize_encoding(encoding: str | bytes | None) -> str:
    """A ``grpc-encoding`` header value as a coding name: None or empty is ``identity``; names
    are case-insensitive (they are HTTP content-codings, RFC 9110 8.4.1)."""
    if encoding is None:
        return IDENTITY
    if isinstance(encoding, bytes):
        encoding = encoding.decode("latin-1")
    return encoding.strip().lower() or IDENTITY


def compress(data: bytes, encoding: str, level: int = DEFAULT_LEVEL) -> bytes:
    """``data`` compressed with ``encoding`` (``gzip`` or ``deflate``).

    Raises LocalProtocolError for ``identity`` (send such a message with the flag clear instead)
    or a coding we cannot write (UNIMPLEMENTED).
    """
    wbits = _WBITS.get(normalize_encoding(encoding))
    if wbits is None:
        raise LocalProtocolError(f"cannot compress with {encoding!r}: not one of gzip, deflate",
                                 StatusCode.UNIMPLEMENTED)
    packer = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def decompress(data: bytes, encoding: str, max_size: int) -> bytes:
    """The message that ``data``, compressed with ``encoding``, holds; at most ``max_size`` bytes.

    Raises RemoteProtocolError: UNIMPLEMENTED for a coding we do not speak (``identity`` included:
    a compressed message needs a compression), INTERNAL for data that does not inflate or has
    bytes after its end, RESOURCE_EXHAUSTED when the output would pass ``max_size``.
    """
    name = normalize_encoding(encoding)
    wbits = _WBITS.get(name)
    if wbits is None:
        if name == IDENTITY:
            # PROTOCOL-HTTP2.md: "If the Message-Encoding header is omitted then the
            # Compressed-Flag must be 0"; grpc-go answers INTERNAL.
            raise malformed("compressed message on a call without grpc-encoding")
        raise RemoteProtocolError(f"grpc-encoding {encoding!r} is not supported", StatusCode.UNIMPLEMENTED)
    unpacker = zlib.decompressobj(wbits)
    try:
        # max_length caps the output: a bomb stops here, one byte past the limit.
        out = unpacker.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise malformed(f"{name} message does not decompress: {exc}") from None
    if len(out) > max_size:
        raise exhausted(f"message decompresses to more than {max_size} bytes")
    if not unpacker.eof:
        raise malformed(f"{name} message ends before its compressed stream does")
    if unpacker.unused_data:
        raise malformed(f"{len(unpacker.unused_data)} bytes after the end of the {name} stream")
    return out
