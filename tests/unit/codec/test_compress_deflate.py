"""Request bodies in HTTP's ``deflate`` coding (RFC 9110 8.4.1.2: the zlib format, RFC 1950), and
the raw deflate (RFC 1951) some clients send under that name, decoded bounded."""

from __future__ import annotations

import os
import zlib

import pytest

from pipework.codec.compress import DECODINGS, decompressor
from pipework.codec.http1.errors import RemoteProtocolError

TEXT = b"".join(b"line %d of a request body that compresses well\n" % i for i in range(3000))


def raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


@pytest.mark.parametrize("encode", [zlib.compress, raw_deflate], ids=["zlib", "raw"])
def test_whole_and_byte_by_byte(encode) -> None:  # type: ignore[no-untyped-def]
    body = encode(TEXT)
    d = decompressor("deflate")
    assert d.feed(body) == TEXT
    d.finish()
    d = decompressor("Deflate")
    assert b"".join(d.feed(body[i : i + 1]) for i in range(len(body))) == TEXT
    d.finish()


@pytest.mark.parametrize("encode", [zlib.compress, raw_deflate], ids=["zlib", "raw"])
def test_bombs_truncation_trailing_bytes_and_garbage(encode) -> None:  # type: ignore[no-untyped-def]
    bomb = encode(bytes(64 * 1024 * 1024))
    d = decompressor("deflate", max_size=1024 * 1024)

    def feed_all() -> None:
        for i in range(0, len(bomb), 16384):
            d.feed(bomb[i : i + 16384])

    with pytest.raises(RemoteProtocolError, match="inflates past") as err:
        feed_all()
    assert err.value.status == 413
    assert d.size <= 1024 * 1024 + 1
    body = encode(os.urandom(3000))
    d = decompressor("deflate")
    d.feed(body[:-10])
    with pytest.raises(RemoteProtocolError, match="ends before") as err:
        d.finish()
    assert err.value.status == 400
    with pytest.raises(RemoteProtocolError, match="after the end of the deflate stream"):
        decompressor("deflate").feed(body + b"junk")
    with pytest.raises(RemoteProtocolError, match="bad deflate") as err:
        decompressor("deflate").feed(b"\xff" * 64)
    assert err.value.status == 400


def test_an_empty_body_is_not_a_stream() -> None:
    d = decompressor("deflate")
    assert d.feed(b"") == b""
    with pytest.raises(RemoteProtocolError, match="ends before"):
        d.finish()
    assert DECODINGS == ("gzip", "deflate", "br", "zstd")
