"""Content codings: Accept-Encoding choice, streaming coders checked by independent decoders."""

from __future__ import annotations

import gzip
import json
import os
import random
import time
import zlib

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.compress import (
    DEFAULT_LEVELS,
    ENCODINGS,
    choose_encoding,
    compressor,
    decompressor,
    parse_accept_encoding,
    should_compress,
)
from pipework.codec.http1.errors import LocalProtocolError, RemoteProtocolError

# --- Accept-Encoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("gzip", {"gzip": 1.0}),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", {"br": 1.0, "gzip": 0.8, "*": 0.1}),
        ("GZIP ; Q=0.5 ,BR", {"gzip": 0.5, "br": 1.0}),
        ("identity;q=0", {"identity": 0.0}),
        ("x-gzip", {"gzip": 1.0}),
        ("", {}),
        (" , ,gzip", {"gzip": 1.0}),
        ("gzip;q=0.001", {"gzip": 0.001}),
        ("gzip;q=1.000", {"gzip": 1.0}),
        ("gzip;q=0.", {"gzip": 0.0}),
        ("gzip;q=1.5, br", {"br": 1.0}),  # malformed weights drop their member
        ("gzip;q=0.0001, br", {"br": 1.0}),
        ("gzip;q=1.001, br", {"br": 1.0}),
        ("gzip;q=abc, br", {"br": 1.0}),
        ("gzip;q=-1, br", {"br": 1.0}),
        ("gzip;level=9;q=0.3", {"gzip": 0.3}),
        ("gzip;q=0.2, gzip;q=0.9", {"gzip": 0.2}),
        (b"br;q=0.5", {"br": 0.5}),
    ],
)
def test_parse_accept_encoding(value: str | bytes, parsed: dict[str, float]) -> None:
    assert parse_accept_encoding(value) == parsed


@pytest.mark.parametrize(
    ("value", "chosen"),
    [
        (None, "identity"),  # no field: identity, as nginx and Envoy do
        ("", "identity"),  # empty: only identity is acceptable
        ("gzip, deflate, br, zstd", "br"),  # ties: br > zstd > gzip
        ("gzip, zstd", "zstd"),
        ("gzip, deflate", "gzip"),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", "br"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),
        ("deflate", "identity"),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "zstd"),
        ("gzip;q=0.5, identity", "identity"),  # identity's weight beats gzip's
        ("gzip;q=0", "identity"),
        ("identity;q=0", None),
        ("*;q=0", None),
        ("*;q=0, identity;q=0.1", "identity"),
        ("GZip;Q=0.9, BR;q=0.9", "br"),
        ("x-gzip", "gzip"),
    ],
)
def test_choose_encoding(value: str | None, chosen: str | None) -> None:
    assert choose_encoding(value) == chosen


def test_choose_among_what_is_available() -> None:
    assert choose_encoding("br, gzip;q=0.5", available=("gzip",)) == "gzip"
    assert choose_encoding("br", available=("gzip",)) == "identity"
    assert choose_encoding("gzip, zstd", available=("gzip", "zstd")) == "gzip"  # caller's order


# --- what to compress ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctype", "encoding", "length", "yes"),
    [
        ("text/html; charset=utf-8", None, 5000, True),
        ("TEXT/CSS", None, None, True),  # unknown length (chunked): yes
        ("application/json", None, 300, True),
        ("application/problem+json", None, 300, True),
        ("application/atom+xml", None, 300, True),
        ("image/svg+xml", None, 300, True),
        (b"application/javascript", b"identity", 300, True),
        ("application/wasm", "", 300, True),
        ("font/ttf", None, 300, True),
        ("text/html", None, 255, False),  # under the minimum
        ("text/html", None, 256, True),
        ("text/html", "gzip", 5000, False),  # never twice
        ("text/html", b"br", 5000, False),
        ("image/png", None, 5000, False),
        ("image/jpeg", None, 5000, False),
        ("video/mp4", None, 5000, False),
        ("audio/mpeg", None, 5000, False),
        ("application/zip", None, 5000, False),
        ("application/gzip", None, 5000, False),
        ("application/octet-stream", None, 5000, False),
        ("font/woff2", None, 5000, False),
        (None, None, 5000, False),
    ],
)
def test_should_compress(ctype: str | None, encoding: str | None, length: int | None, yes: bool) -> None:
    assert should_compress(ctype, encoding, length) is yes


def test_should_compress_min_size_is_a_parameter() -> None:
    assert should_compress("text/plain", None, 20, min_size=20)
    assert not should_compress("text/plain", None, 1000, min_size=1024)


# --- round trips against independent decoders ----------------------------------------------------


def _peer_decode(encoding: str, data: bytes) -> bytes:
    """Decoded by the libraries' own one-shot decoders, not by this module."""
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return bytes(brotli.decompress(data))
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def _peer_partial(encoding: str) -> tuple[object, object]:
    """A streaming peer decoder and its feed function, for prefixes of a stream."""
    if encoding == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d, d.decompress
    if encoding == "br":
        b = brotli.Decompressor()
        return b, b.process
    z = zstandard.ZstdDecompressor().decompressobj()
    return z, z.decompress


_TEXT = b"".join(
    b"<li class='item-%d'>pipework streams %s</li>\n" % (i, b"ab" * (i % 7)) for i in range(3000)
)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_round_trip_whole_body(encoding: str) -> None:
    c = compressor(encoding)
    assert c.encoding == encoding
    data = c.compress(_TEXT) + c.finish()
    assert len(data) < len(_TEXT) // 5
    assert _peer_decode(encoding, data) == _TEXT


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_flushed_chunk_decodes_so_far(encoding: str) -> None:
    c = compressor(encoding)
    _, feed = _peer_partial(encoding)
    sent = b""
    for i in range(0, len(_TEXT), 1000):
        piece = _TEXT[i : i + 1000]
        out = c.compress(piece)
        assert out  # something to send for every chunk
        sent += feed(out)  # type: ignore[operator]
        assert sent == _TEXT[: i + len(piece)]  # the client has all of it, now
    feed(c.finish())  # type: ignore[operator]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ENCODINGS), st.lists(st.binary(max_size=3000), max_size=12), st.booleans())
def test_streaming_equals_one_shot(encoding: str, chunks: list[bytes], flush: bool) -> None:
    c = compressor(encoding)
    streamed = b"".join(c.compress(x, flush=flush) for x in chunks) + c.finish()
    assert _peer_decode(encoding, streamed) == b"".join(chunks)
    d = decompressor(encoding)
    assert b"".join(d.feed(streamed[i : i + 7]) for i in range(0, len(streamed), 7)) == b"".join(chunks)
    d.finish()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_empty_chunks_add_nothing_and_an_empty_body_round_trips(encoding: str) -> None:
    c = compressor(encoding)
    assert c.compress(b"") == b""
    assert _peer_decode(encoding, c.finish()) == b""


def test_levels_are_used_and_unknown_codings_refused() -> None:
    assert DEFAULT_LEVELS == {"gzip": 6, "br": 4, "zstd": 3}
    fast, small = compressor("gzip", 1), compressor("gzip", 9)
    assert len(small.compress(_TEXT) + small.finish()) < len(fast.compress(_TEXT) + fast.finish())
    with pytest.raises(LocalProtocolError, match="deflate"):
        compressor("deflate")


# --- decompressing request bodies ----------------------------------------------------------------


def _peer_encode(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "br":
        return bytes(brotli.compress(data))
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_decompress_peer_bodies_fed_whole_and_byte_by_byte(encoding: str) -> None:
    body = _peer_encode(encoding, _TEXT[:5000])
    d = decompressor(encoding)
    assert d.feed(body) == _TEXT[:5000]
    d.finish()
    d = decompressor(encoding.upper())
    assert b"".join(d.feed(body[i : i + 1]) for i in range(len(body))) == _TEXT[:5000]
    d.finish()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_bomb_stops_at_the_limit(encoding: str) -> None:
    bomb = _peer_encode(encoding, bytes(64 * 1024 * 1024))  # 64 MiB of zeros: a few KiB coded
    assert len(bomb) < 100_000
    d = decompressor(encoding, max_size=1024 * 1024)

    def feed_all() -> None:
        for i in range(0, len(bomb), 16384):
            d.feed(bomb[i : i + 16384])

    with pytest.raises(RemoteProtocolError, match="inflates past") as err:
        feed_all()
    assert err.value.status == 413
    assert d.size <= 1024 * 1024 + 4 * 1024 * 1024  # decoded no more than a slice past the limit


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_exactly_the_limit_passes(encoding: str) -> None:
    d = decompressor(encoding, max_size=len(_TEXT))
    assert d.feed(_peer_encode(encoding, _TEXT)) == _TEXT
    d.finish()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_corrupt_truncated_and_trailing_bodies_are_400(encoding: str) -> None:
    body = _peer_encode(encoding, os.urandom(2000))
    d = decompressor(encoding)
    d.feed(body[:-4])
    with pytest.raises(RemoteProtocolError, match="ends before") as err:
        d.finish()
    assert err.value.status == 400
    with pytest.raises(RemoteProtocolError, match="bad") as err:
        decompressor(encoding).feed(b"\xff" * 64)
    assert err.value.status == 400
    with pytest.raises(RemoteProtocolError, match="bad"):
        decompressor(encoding).feed(body + b"\x00junk" * 8)


def test_unknown_request_coding_is_415() -> None:
    with pytest.raises(RemoteProtocolError, match="unsupported") as err:
        decompressor("compress")
    assert err.value.status == 415
    decompressor("x-gzip").finish  # noqa: B018 - an alias, accepted


# --- speed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_speed_figure(encoding: str, capsys: pytest.CaptureFixture[str]) -> None:
    """MB/s at the default level with a flush per chunk (printed with -s; a floor only)."""
    rng = random.Random(1)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(2000)
    ]
    records = [
        {
            "id": i,
            "name": " ".join(rng.choices(words, k=3)),
            "tags": rng.choices(words, k=rng.randint(0, 4)),
            "score": round(rng.random() * 100, 2),
            "active": rng.random() < 0.5,
        }
        for i in range(25_000)
    ]
    body = json.dumps(records).encode()[: 2 * 1024 * 1024]  # an API's JSON, 2 MiB
    for size in (1024, 65536):
        c = compressor(encoding)
        start = time.perf_counter()
        out = sum(len(c.compress(body[i : i + size])) for i in range(0, len(body), size)) + len(c.finish())
        took = time.perf_counter() - start
        with capsys.disabled():
            print(
                f"\n{encoding} {size // 1024} KiB chunks: {len(body) / took / 1e6:.0f} MB/s,"
                f" ratio {out / len(body):.3f}"
            )
        assert len(body) / took > 1e6  # a floor that only catches a broken coder
