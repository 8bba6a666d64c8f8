"""Strings: lengths in UTF-16 units, surrogate pairs in CESU-8 and in 4-octet UTF-8, chunking, and
UTF-8 that must be refused."""

from __future__ import annotations

import pytest

from pipework.codec.hessian import (
    Decoder,
    LocalProtocolError,
    RemoteProtocolError,
    TruncatedError,
    decode,
    encode,
)

GRIN = "\U0001f600"  # above U+FFFF: two UTF-16 units
GRIN_CESU = b"\xed\xa0\xbd\xed\xb8\x80"  # what Java's Hessian2Output writes: each surrogate on its own
GRIN_UTF8 = GRIN.encode()  # what other writers produce


def test_astral_character_counts_two_units_and_is_written_as_java_does() -> None:
    assert encode(GRIN) == b"\x02" + GRIN_CESU
    assert encode(f"x{GRIN}y") == b"\x04x" + GRIN_CESU + b"y"


@pytest.mark.parametrize("octets", [GRIN_CESU, GRIN_UTF8], ids=["cesu-8", "utf-8"])
def test_both_encodings_of_a_pair_decode(octets: bytes) -> None:
    assert decode(b"\x04a" + octets + b"b") == f"a{GRIN}b"
    d = Decoder(b"\x02" + octets + b"\x91")  # the unit count ends the string exactly at the pair's end
    assert d.read() == GRIN
    assert d.read() == 1


def test_mixed_widths() -> None:
    text = "aé€" + GRIN + "z" * 3
    data = encode(text)
    assert data[0] == len(text.encode("utf-16-le")) // 2 == 8
    assert decode(data) == text
    d = Decoder(data + encode("next"))
    assert d.read() == text
    assert d.read() == "next"


def test_unit_count_that_splits_a_four_octet_character_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="splits a character"):
        decode(b"\x02a" + GRIN_UTF8)
    with pytest.raises(RemoteProtocolError) as info:
        decode(b"\x01" + GRIN_UTF8 + b"\x4e")
    assert not isinstance(info.value, TruncatedError)


def test_pair_split_across_chunks_is_joined() -> None:
    """The spec forbids it, Java's reader copes; so do we (CESU-8 only: UTF-8 cannot split)."""
    data = b"R\x00\x01" + GRIN_CESU[:3] + b"\x01" + GRIN_CESU[3:]
    assert decode(data) == GRIN


@pytest.mark.parametrize(
    ("octets", "why"),
    [
        (b"\x01\xff", "an octet UTF-8 never uses"),
        (b"\x01\x80", "a stray continuation octet"),
        (b"\x01\xc0\x80", "an overlong NUL (Java's modified UTF-8)"),
        (b"\x01\xe0\x80\x80", "an overlong three-octet form"),
        (b"\x02\xf4\x90\x80\x80", "past U+10FFFF"),
        (b"\x01\xed\xa0\x80", "a lone high surrogate"),
        (b"\x01\xed\xb0\x80", "a lone low surrogate"),
        (b"\x02\xed\xb8\x80\xed\xa0\xbd", "a pair in the wrong order"),
        (b"\x02\xed\xa0\xbd" + GRIN_UTF8[:0] + b"a", "a high surrogate before a plain character"),
        (b"\x02a\xc3", "a sequence cut by the next value"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.hex(),
)
def test_invalid_utf8_is_refused(octets: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(octets + b"\x4e\x4e\x4e")


@pytest.mark.parametrize(
    "data",
    [b"\x05hel", b"\x03a\xc3", b"\x02\xe2\x82", b"S\x00\x05he", b"R\x00\x02ab", b"R\x00\x02ab\x01",
     b"\x30", b"\x31\x00" + b"a" * 255, b"S\x00", b"\x02" + GRIN_CESU[:4]],
    ids=lambda v: v[:8].hex(),
)
def test_truncated_strings_say_so(data: bytes) -> None:
    with pytest.raises(TruncatedError):
        decode(data)


def test_chunked_string_round_trip() -> None:
    """Over 0x8000 units the encoder writes 'R' chunks of 0x8000 units (Java's choice), the rest compactly."""
    text = "ab" * 0x4000 + "tail"
    data = encode(text)
    assert data[:3] == b"R\x80\x00"
    assert data[3 + 0x8000:] == b"\x04tail"
    assert decode(data) == text


def test_chunk_boundary_never_splits_a_pair() -> None:
    text = "a" * (0x8000 - 1) + GRIN + "b" * 0x900
    data = encode(text)
    assert data[:3] == b"R\x7f\xff"  # one unit short, so that the pair stays in the next chunk
    assert data[3 + 0x7FFF:6 + 0x7FFF] == b"S\x09\x02"
    assert decode(data) == text


def test_long_non_ascii_string() -> None:
    text = ("€" * 5000 + GRIN) * 10
    assert decode(encode(text)) == text


def test_empty_final_chunk_and_many_chunks() -> None:
    assert decode(b"R\x00\x02ab" + b"R\x00\x01c" + b"\x00") == "abc"
    assert decode(b"S\x00\x00") == ""


def test_chunk_must_be_followed_by_a_string() -> None:
    with pytest.raises(RemoteProtocolError, match="string chunk"):
        decode(b"R\x00\x01a\x91")


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(LocalProtocolError, match="lone UTF-16 surrogate"):
        encode("a\ud800b")
