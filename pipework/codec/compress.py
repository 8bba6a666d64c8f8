"""HTTP content codings: choosing one, compressing responses as they stream, bounded decompression.

Theory of operation: a response filter asks :func:`choose_encoding` which coding the request's
``Accept-Encoding`` prefers, :func:`should_compress` whether the response is worth it, and then
pushes each body chunk through a :func:`compressor`'s ``compress(chunk)``, sending what comes out
at once, and ``finish()`` at the end. Each ``compress`` ends with a flush (zlib ``Z_SYNC_FLUSH``,
brotli's flush, zstd ``FLUSH_BLOCK``), so everything sent so far decodes: a server-sent event or a
long poll is not held back, and nothing is buffered but the coder's own window. A request body is
read through a :func:`decompressor` with a limit on the output (``RemoteProtocolError`` 413 past
it), so a few kilobytes that inflate to gigabytes cost about the limit and no more.

Choosing (RFC 9110 12.5.3): codings and ``q=`` are case-insensitive; ``q=0`` refuses; ``*`` stands
for every coding not named; ``x-gzip`` is ``gzip`` (8.4.1.3); a member with a malformed ``qvalue``
is ignored. Identity is acceptable unless ``identity;q=0`` or ``*;q=0`` (without ``identity``)
says otherwise; unnamed, it ranks below every coding the client accepts (``gzip;q=0.5`` gets
gzip). The highest ``q`` wins; on a tie the server's order decides: ``br`` > ``zstd`` >
``gzip`` > identity. br first because, at the levels below, it makes the smallest text bodies
(15% under gzip 6) at twice its speed, and every browser decodes it; zstd next, the
fastest of the three but decoded only by recent browsers; gzip everywhere. A request without the
field gets identity: RFC 9110 allows any coding then, but clients that send none (scripts, probes)
often cannot decode — nginx and Envoy do the same.

Default levels, for streaming through a proxy (CPU per byte matters more than the last percent).
Measured here on 2 MiB of API JSON, flushing every 64 KiB (1 KiB) chunk, MB/s and output/input:
gzip 1/6/9 116/46/9 MB/s 0.28/0.24/0.24; br 1/4/5 264/96/62 MB/s 0.28/0.21/0.19; zstd 1/3/6
319/252/83 MB/s 0.23/0.21/0.19 (1 KiB chunks run at a third to a half of those speeds). gzip 6 is
zlib's and nginx's usual choice: level 9 buys 2% for five times the CPU. br 4 is brotli's knee:
twice gzip 6's speed and 15% smaller; 5 costs half as much CPU again for 7%. zstd 3 is its own
default, five times gzip 6's speed at br 4's ratio (zstd ranks below br on ties only because
fewer clients decode it; a gateway may pass ``available=("zstd", "br", "gzip")``).

Windows are capped so a stream costs bounded memory: gzip 32 KiB (zlib's maximum), brotli
512 KiB (``lgwin`` 19, ngx_brotli's default), zstd 1 MiB (``window_log`` 20; RFC 9659 caps
HTTP's zstd window at 8 MiB, which is also the decoder limit here).

This module is written here because the libraries (zlib, brotli, zstandard) are coders, not the
HTTP rules around them; it only drives them.
"""

from __future__ import annotations

import zlib
from typing import Any, Final, Protocol

import brotli
import zstandard

from .http1.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DECODINGS",
    "DEFAULT_LEVELS",
    "DEFAULT_MAX_DECODED",
    "ENCODINGS",
    "MIN_COMPRESS_SIZE",
    "Compressor",
    "Decompressor",
    "choose_encoding",
    "compressor",
    "decompressor",
    "parse_accept_encoding",
    "should_compress",
]

#: the codings made here, in the server's order of preference for equal q-values
ENCODINGS: Final = ("br", "zstd", "gzip")
IDENTITY: Final = "identity"
DEFAULT_LEVELS: Final = {"gzip": 6, "br": 4, "zstd": 3}
#: smaller bodies are sent as they are: below this the coding's framing (gzip's 18 bytes) eats
#: most of the saving, and the body fits one packet either way. nginx's gzip_min_length is 20,
#: which compresses bodies that gain nothing; Cloudflare and Akamai stay in the hundreds.
MIN_COMPRESS_SIZE: Final = 256
#: the most a request body may inflate to unless the caller says: nginx's client_max_body_size
#: is 1 MiB; 10 MiB leaves room for JSON uploads while bounding what a bomb can cost
DEFAULT_MAX_DECODED: Final = 10 * 1024 * 1024

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # 16 + 15: a gzip wrapper (RFC 1952), 32 KiB window
_BROTLI_LGWIN: Final = 19
_ZSTD_WINDOW_LOG: Final = 20
_ZSTD_MAX_WINDOW: Final = 8 * 1024 * 1024  # RFC 9659 section 3
#: one input byte inflates to at most ~32 KiB of zstd output (a 4-byte RLE block writes 128 KiB);
#: coders that take no output limit get their input in slices sized from this, see _Sliced
_ZSTD_MAX_RATIO: Final = 32 * 1024
_MIN_SLICE: Final = 64
#: the weight of an identity the field does not name: under the least qvalue there is (0.001)
_FALLBACK_Q: Final = 0.0001

# --- choosing a coding ----------------------------------------------------------------------------


def parse_accept_encoding(value: str | bytes) -> dict[str, float]:
    """``{coding: q}`` from an ``Accept-Encoding`` value, codings lower-cased.

    A member whose weight is not a valid ``qvalue`` (RFC 9110 12.4.2) is left out; a repeated
    coding keeps its first weight.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    out: dict[str, float] = {}
    for member in value.split(","):
        coding, *params = member.split(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q: float | None = 1.0
        for param in params:
            name, _, arg = param.partition("=")
            if name.strip().lower() == "q":
                q = _qvalue(arg.strip())
        if q is not None:
            out.setdefault("gzip" if coding == "x-gzip" else coding, q)
    return out


def _qvalue(text: str) -> float | None:
    """RFC 9110 12.4.2: ``( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )``, else None."""
    whole, dot, frac = text.partition(".")
    if whole not in ("0", "1") or len(frac) > 3 or not (frac.isdigit() or (not frac)):
        return None
    if whole == "1" and frac.strip("0"):
        return None
    if dot and not frac:
        return float(whole)
    return float(text)


def choose_encoding(accept: str | bytes | None, available: tuple[str, ...] = ENCODINGS) -> str | None:
    """The coding to answer with: one of ``available``, ``"identity"``, or None if none is acceptable.

    None means the client refused identity too (``identity;q=0`` or ``*;q=0``); the server may
    answer 406 or, as most do, send identity anyway. ``available`` is in preference order.
    """
    if accept is None:
        return IDENTITY
    weights = parse_accept_encoding(accept)
    star = weights.get("*")
    best, best_q = None, 0.0
    for coding in (*available, IDENTITY):
        q = weights.get(coding, star)
        if q is None:  # unnamed identity: acceptable, but below any coding the client accepts
            q = _FALLBACK_Q if coding == IDENTITY else 0.0
        if q > best_q:
            best, best_q = coding, q
    return best


def should_compress(
    content_type: str | bytes | None,
    content_encoding: str | bytes | None = None,
    length: int | None = None,
    min_size: int = MIN_COMPRESS_SIZE,
) -> bool:
    """Whether a response with these fields is worth compressing.

    No when it is already encoded (never twice), when its known ``length`` is under ``min_size``
    (None: unknown, chunked — yes), or when its type is not text-like: ``text/*``, JSON, JavaScript,
    XML and the ``+json``/``+xml`` types (SVG, RSS, Atom…), WebAssembly, uncompressed fonts and
    icons are; images, audio, video, archives and ``application/octet-stream`` are not.
    """
    if content_encoding and _text(content_encoding).strip().lower() not in ("", IDENTITY):
        return False
    if length is not None and length < min_size:
        return False
    if not content_type:
        return False
    media = _text(content_type).partition(";")[0].strip().lower()
    kind, _, sub = media.partition("/")
    if kind == "text":
        return True
    return media in _COMPRESSIBLE or sub.endswith(("+json", "+xml"))


_COMPRESSIBLE: Final = frozenset(
    (
        "application/json",
        "application/x-ndjson",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/xml",
        "application/wasm",
        "application/graphql",
        "application/yaml",
        "application/x-www-form-urlencoded",
        "application/vnd.ms-fontobject",
        "font/ttf",
        "font/otf",  # woff and woff2 are compressed already
        "image/bmp",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    )
)


def _text(v: str | bytes) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else v


# --- compressing ---------------------------------------------------------------------------------


class Compressor(Protocol):
    """A streaming coder for one response body."""

    encoding: str

    def compress(self, chunk: bytes, flush: bool = True) -> bytes:
        """The coded bytes for ``chunk``; with ``flush`` all input so far decodes from them."""
        ...

    def finish(self) -> bytes:
        """The last bytes of the stream; the compressor is done after this."""
        ...


class _Gzip:
    __slots__ = ("_z", "encoding")

    def __init__(self, level: int) -> None:
        self.encoding = "gzip"
        self._z = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, chunk: bytes, flush: bool = True) -> bytes:
        if not chunk:
            return b""
        out = self._z.compress(chunk)
        return out + self._z.flush(zlib.Z_SYNC_FLUSH) if flush else out

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _Brotli:
    __slots__ = ("_b", "encoding")

    def __init__(self, level: int) -> None:
        self.encoding = "br"
        self._b = brotli.Compressor(quality=level, lgwin=_BROTLI_LGWIN)

    def compress(self, chunk: bytes, flush: bool = True) -> bytes:
        if not chunk:
            return b""
        out: bytes = self._b.process(chunk)
        return out + self._b.flush() if flush else out

    def finish(self) -> bytes:
        return bytes(self._b.finish())


class _Zstd:
    __slots__ = ("_z", "encoding")

    def __init__(self, level: int) -> None:
        self.encoding = "zstd"
        params = zstandard.ZstdCompressionParameters.from_level(level, window_log=_ZSTD_WINDOW_LOG)
        self._z = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def compress(self, chunk: bytes, flush: bool = True) -> bytes:
        if not chunk:
            return b""
        out = self._z.compress(chunk)
        return out + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) if flush else out

    def finish(self) -> bytes:
        return self._z.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


_COMPRESSORS: Final[dict[str, type[_Gzip | _Brotli | _Zstd]]] = {"gzip": _Gzip, "br": _Brotli, "zstd": _Zstd}


def compressor(encoding: str, level: int | None = None) -> Compressor:
    """A new streaming compressor for ``encoding`` (``gzip``, ``br`` or ``zstd``).

    ``level`` defaults to :data:`DEFAULT_LEVELS`. Raises ``LocalProtocolError`` for another coding.
    """
    cls = _COMPRESSORS.get(encoding)
    if cls is None:
        raise LocalProtocolError(f"cannot compress with {encoding!r}: not one of {', '.join(ENCODINGS)}")
    return cls(DEFAULT_LEVELS[encoding] if level is None else level)


# --- decompressing -------------------------------------------------------------------------------


class Decompressor:
    """A bounded streaming decoder for one request body.

    ``feed(chunk)`` returns the decoded bytes so far; ``finish()`` checks that the stream ended.
    Raises ``RemoteProtocolError`` with status 413 when the output would pass ``max_size``, 400
    when the bytes are not a valid stream (or stop short, at ``finish``).
    """

    __slots__ = ("_coder", "encoding", "max_size", "size")

    def __init__(self, encoding: str, max_size: int) -> None:
        self.encoding = encoding
        self.max_size = max_size
        self.size = 0
        if encoding == "gzip":
            self._coder: _Inflate | _Unbrotli | _Sliced = _Inflate()
        elif encoding == "deflate":
            self._coder = _Inflate(None)
        elif encoding == "br":
            self._coder = _Unbrotli()
        else:
            self._coder = _Sliced(
                zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj()
            )

    def feed(self, chunk: bytes) -> bytes:
        budget = self.max_size - self.size
        try:
            out = self._coder.decode(chunk, budget + 1)
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            raise RemoteProtocolError(f"bad {self.encoding} request body: {exc}", 400) from exc
        self.size += len(out)
        if self.size > self.max_size:
            raise RemoteProtocolError(
                f"{self.encoding} request body inflates past {self.max_size} bytes", 413
            )
        return out

    def finish(self) -> None:
        if not self._coder.done():
            raise RemoteProtocolError(f"{self.encoding} request body ends before its stream does", 400)


class _Inflate:
    """zlib with ``max_length``: never more output than the budget, the rest kept as its tail.

    ``wbits`` None is HTTP's ``deflate`` (RFC 9110 8.4.1.2: the zlib format of RFC 1950), told
    from the raw deflate some clients send instead by its first two bytes (a zlib header is a
    multiple of 31 with method 8), as browsers and curl do when they decode it.
    """

    __slots__ = ("_first", "_name", "_z")

    def __init__(self, wbits: int | None = _GZIP_WBITS) -> None:
        self._name = "gzip" if wbits == _GZIP_WBITS else "deflate"
        self._z: Any = zlib.decompressobj(wbits) if wbits is not None else None
        self._first = b""  # deflate: a first byte, kept until the second tells the format

    def decode(self, data: bytes, limit: int) -> bytes:
        z = self._z
        if z is None:
            data = self._first + data
            if len(data) < 2:
                self._first = data
                return b""
            zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        out: bytes = z.decompress(z.unconsumed_tail + data, limit)
        if z.eof and z.unused_data:  # RFC 9112 says one gzip member per body here
            raise zlib.error(f"bytes after the end of the {self._name} stream")
        return out

    def done(self) -> bool:
        return self._z is not None and bool(self._z.eof)


class _Unbrotli:
    """brotli with ``output_buffer_limit``, draining until it takes input again (or the limit)."""

    __slots__ = ("_b",)

    def __init__(self) -> None:
        self._b = brotli.Decompressor()

    def decode(self, data: bytes, limit: int) -> bytes:
        b = self._b
        parts = [b.process(data, output_buffer_limit=limit)]
        size = len(parts[0])
        while size < limit and not b.can_accept_more_data():
            part = b.process(b"", output_buffer_limit=limit - size)
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    def done(self) -> bool:
        return bool(self._b.is_finished())


class _Sliced:
    """A decoder without an output limit (zstandard's) fed in slices small enough for the budget.

    A slice of n bytes makes at most ``n * _ZSTD_MAX_RATIO`` bytes, so the output passes the
    budget by at most one slice's worth (a few MiB with the minimum slice) before the caller stops.
    """

    __slots__ = ("_d",)

    def __init__(self, d: zstandard.ZstdDecompressionObj) -> None:
        self._d = d

    def decode(self, data: bytes, limit: int) -> bytes:
        parts: list[bytes] = []
        view = memoryview(data)
        pos, size = 0, 0
        while pos < len(view) and size < limit:
            step = max(_MIN_SLICE, (limit - size) // _ZSTD_MAX_RATIO)
            part = self._d.decompress(view[pos : pos + step])
            pos += step
            parts.append(part)
            size += len(part)
        if self._d.eof and (self._d.unused_data or pos < len(view)):
            raise zstandard.ZstdError("bytes after the end of the zstd frame")
        return b"".join(parts)

    def done(self) -> bool:
        return bool(self._d.eof)


#: the codings a request body may come in (deflate is decoded, never made: see ENCODINGS)
DECODINGS: Final = ("gzip", "deflate", "br", "zstd")


def decompressor(encoding: str, max_size: int = DEFAULT_MAX_DECODED) -> Decompressor:
    """A new bounded decoder for a request's ``Content-Encoding`` (``gzip``/``x-gzip``,
    ``deflate``, ``br``, ``zstd``).

    Raises ``RemoteProtocolError`` 415 for another coding (RFC 9110 15.5.16).
    """
    coding = encoding.strip().lower()
    coding = "gzip" if coding == "x-gzip" else coding
    if coding not in DECODINGS:
        raise RemoteProtocolError(f"request body in an unsupported coding {encoding!r}", 415)
    return Decompressor(coding, max_size)
