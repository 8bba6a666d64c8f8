"""Names: text form, case-insensitive helpers, compression on read and write, hostile pointers."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.dns import (
    LocalProtocolError,
    Name,
    RemoteProtocolError,
    is_subdomain,
    name_to_wire,
    names_equal,
)
from pipework.codec.dns.names import MAX_POINTER_HOPS, Compressor, NameCache, read_name


def rfc1035_4_1_4() -> bytes:
    """The compression example of RFC 1035 4.1.4: F.ISI.ARPA at 20, FOO.F.ISI.ARPA at 40 as FOO and a
    pointer to 20, ARPA at 64 as a pointer to 26, the root at 92."""
    buf = bytearray(93)
    buf[20:32] = b"\x01F\x03ISI\x04ARPA\x00"
    buf[40:46] = b"\x03FOO\xc0\x14"
    buf[64:66] = b"\xc0\x1a"
    buf[92] = 0
    return bytes(buf)


def test_rfc1035_compression_example() -> None:
    buf = rfc1035_4_1_4()
    assert read_name(buf, 20) == (Name((b"F", b"ISI", b"ARPA")), 32)
    assert read_name(buf, 40) == (Name((b"FOO", b"F", b"ISI", b"ARPA")), 46)
    assert read_name(buf, 64) == (Name((b"ARPA",)), 66)
    assert read_name(buf, 92) == (Name(), 93)


def test_cache_gives_the_same_names() -> None:
    buf = rfc1035_4_1_4()
    cache: NameCache = {}
    for offset in (20, 40, 64, 92, 40):
        assert read_name(buf, offset, cache) == read_name(buf, offset)
    assert cache[20][0] == Name.from_text("F.ISI.ARPA")
    assert cache[26] == (Name((b"ARPA",)), 6)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("www.example.com", (b"www", b"example", b"com")),
        ("www.example.com.", (b"www", b"example", b"com")),
        (".", ()),
        ("", ()),
        (r"a\.b.c", (b"a.b", b"c")),
        (r"\065\\x.", (b"A\\x",)),
        (r"sp\032ace.", (b"sp ace",)),
    ],
)
def test_from_text(text: str, labels: tuple[bytes, ...]) -> None:
    assert Name.from_text(text) == Name(labels)


@pytest.mark.parametrize(
    ("labels", "text"),
    [
        ((b"www", b"Example", b"com"), "www.Example.com."),
        ((), "."),
        ((b"a.b", b"c"), r"a\.b.c."),
        ((b"\x00\xff", b'q"'), r'\000\255.q\".'),
        ((b"sp ace",), r"sp\032ace."),
    ],
)
def test_to_text_round_trips(labels: tuple[bytes, ...], text: str) -> None:
    name = Name(labels)
    assert name.to_text() == str(name) == text
    assert Name.from_text(text) == name
    assert repr(name) == f"Name({text!r})"


@pytest.mark.parametrize(
    "text", ["a..b", ".a", "a" * 64 + ".com", ".".join(["a" * 63] * 4), "caf\u00e9.com", "x\\", r"\256.com"]
)
def test_from_text_refuses(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        Name.from_text(text)


def test_longest_name_fits() -> None:
    # 3 labels of 63 and one of 61: 3*64 + 62 + 1 = 255 octets.
    name = Name.from_text(".".join(["a" * 63] * 3 + ["b" * 61]))
    assert name.wire_length() == 255
    assert len(name_to_wire(name)) == 255


def test_case_insensitive_helpers() -> None:
    a = Name.from_text("WWW.Example.COM")
    b = Name.from_text("www.example.com")
    assert a != b  # == is exact: case travels untouched
    assert names_equal(a, b)
    assert a.equals(b)
    assert a.lower() == b
    assert hash(a.lower()) == hash(b.lower())
    assert not names_equal(a, Name.from_text("www.example.org"))
    assert not names_equal(a, Name.from_text("example.com"))
    # RFC 4343: only ASCII letters fold.
    assert not Name((b"\xc9",)).equals(Name((b"\xe9",)))


def test_subdomain() -> None:
    name = Name.from_text("a.B.example.com")
    assert is_subdomain(name, Name.from_text("EXAMPLE.com"))
    assert name.is_subdomain_of(name)
    assert name.is_subdomain_of(Name())
    assert not is_subdomain(name, Name.from_text("xample.com"))
    assert not is_subdomain(Name.from_text("com"), Name.from_text("example.com"))


def test_compressor_uses_longest_suffix() -> None:
    out = bytearray(12)
    comp = Compressor()
    comp.write(out, Name.from_text("www.example.com"))
    comp.write(out, Name.from_text("mail.example.com"))
    comp.write(out, Name.from_text("www.example.com"))
    comp.write(out, Name.from_text("com"))
    assert bytes(out[12:]) == (
        b"\x03www\x07example\x03com\x00"  # at 12; example.com at 16, com at 24
        + b"\x04mail\xc0\x10"
        + b"\xc0\x0c"
        + b"\xc0\x18"
    )


def test_compressor_is_case_exact_and_respects_no_compress() -> None:
    out = bytearray(12)
    comp = Compressor()
    comp.write(out, Name.from_text("example.com"), compress=False)
    comp.write(out, Name.from_text("EXAMPLE.com"))
    comp.write(out, Name.from_text("example.com"))
    assert bytes(out[12:]) == (
        b"\x07example\x03com\x00" + b"\x07EXAMPLE\x03com\x00" + b"\x07example\xc0\x21"  # com at 33
    )


def test_compressor_forget() -> None:
    out = bytearray(12)
    comp = Compressor()
    comp.write(out, Name.from_text("a.example"))
    mark = len(out)
    comp.write(out, Name.from_text("b.test"))
    del out[mark:]
    comp.forget(mark)
    comp.write(out, Name.from_text("b.test"))
    assert bytes(out[mark:]) == b"\x01b\x04test\x00"


def test_compressor_never_points_past_14_bits() -> None:
    out = bytearray(0x4000)
    comp = Compressor()
    comp.write(out, Name.from_text("far.example"))
    comp.write(out, Name.from_text("far.example"))
    assert out[0x4000:] == b"\x03far\x07example\x00" * 2


@pytest.mark.parametrize("name", [Name((b"a" * 64,)), Name((b"",)), Name((b"a" * 63,) * 4)])
def test_compressor_refuses_bad_names(name: Name) -> None:
    with pytest.raises(LocalProtocolError):
        Compressor().write(bytearray(), name)


# -- hostile input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buf", "offset", "why"),
    [
        (b"\xc0\x00", 0, "points to itself"),
        (b"\x01a\xc0\x00", 0, "loops back into its own run"),
        (b"\x00\x01a\xc0\x01", 1, "loops back into its own run after a jump"),
        (b"\xc0\x04\x00\x00\x00", 0, "points forward"),
        (b"\x01a\xc0\xff", 0, "points out of bounds"),
        (b"\x03ab", 0, "label runs past the end"),
        (b"\x01a", 0, "no root label"),
        (b"\x01a\xc0", 0, "pointer cut in half"),
        (b"", 0, "empty"),
        (b"\x40abc\x00", 0, "extended label type 01"),
        (b"\x80abc\x00", 0, "label type 10"),
    ],
)
def test_read_name_refuses(buf: bytes, offset: int, why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        read_name(buf, offset)
    assert info.value.rcode == 1, why


def test_two_names_pointing_at_each_other() -> None:
    # Name A at 0 points to 2, name B at 2 points to 0: each points forward or into a loop.
    buf = b"\xc0\x02\xc0\x00"
    for offset in (0, 2):
        with pytest.raises(RemoteProtocolError):
            read_name(buf, offset)


def test_name_longer_than_255_refused() -> None:
    buf = (b"\x3f" + b"a" * 63) * 4 + b"\x00"  # 4*64 + 1 = 257 octets
    with pytest.raises(RemoteProtocolError, match="255"):
        read_name(buf, 0)


def test_name_longer_than_255_through_pointers_refused() -> None:
    # 200 octets of labels, then a name that adds 60 more and points back at them.
    first = (b"\x31" + b"a" * 49) * 4 + b"\x00"
    second = b"\x3b" + b"b" * 59 + b"\xc0\x00"
    buf = first + second
    assert read_name(buf, 0)[0].wire_length() == 201
    with pytest.raises(RemoteProtocolError, match="255"):
        read_name(buf, len(first))
    with pytest.raises(RemoteProtocolError, match="255"):
        read_name(buf, len(first), {0: read_name(buf, 0)})  # through a cache hit as well


def test_pointer_chain_limit() -> None:
    # A root octet at 0, then pointers: the one at 2k points to 2(k-1), so reading at 2k takes k hops.
    buf = bytearray(b"\x00\x00")
    for k in range(1, MAX_POINTER_HOPS + 2):
        buf += struct.pack("!H", 0xC000 | 2 * (k - 1))
    with pytest.raises(RemoteProtocolError, match="compression pointers"):
        read_name(bytes(buf), 2 * (MAX_POINTER_HOPS + 1))
    assert read_name(bytes(buf), 2 * MAX_POINTER_HOPS) == (Name(), 2 * MAX_POINTER_HOPS + 2)


def test_label_of_64_is_a_reserved_type() -> None:
    # 64 = 0x40: a length byte above 63 is not a label at all.
    with pytest.raises(RemoteProtocolError):
        read_name(b"\x40" + b"a" * 64 + b"\x00", 0)
