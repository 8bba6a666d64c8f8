"""ClientHellos made by Python's own ssl module (OpenSSL), read whole, byte by byte, with trailing
bytes and split across records; malformed and truncated input raises the codec's error."""

from __future__ import annotations

import ssl
import struct

import pytest

from pipework.codec.tls import (
    ALPN,
    MAX_HELLO_SIZE,
    NEED_DATA,
    SERVER_NAME,
    Alert,
    ClientHello,
    ClientHelloReader,
    LocalProtocolError,
    RemoteProtocolError,
    TLSError,
    decode,
    encode_alert,
    peek,
)


def make_hello(name: str | None = "a.test", alpn: list[str] | None = None,
               version: ssl.TLSVersion | None = None) -> bytes:
    """The first flight of a real TLS client: an SSLObject over memory BIOs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


TLS13 = make_hello("A.Test", ["h2", "http/1.1"])
TLS12 = make_hello("b.test", ["http/1.1"], ssl.TLSVersion.TLSv1_2)


def read_all(data: bytes) -> ClientHello:
    hello = ClientHelloReader().receive_data(data)
    assert isinstance(hello, ClientHello)
    return hello


def records(body: bytes, sizes: list[int]) -> bytes:
    """``body`` (handshake bytes) cut into handshake records of the given sizes, the rest last."""
    out, pos = [], 0
    for n in [*sizes, len(body) - sum(sizes)]:
        out.append(struct.pack("!BHH", 22, 0x0301, n) + body[pos : pos + n])
        pos += n
    return b"".join(out)


def handshake(raw: bytes) -> bytes:
    """The handshake bytes of a one-record hello."""
    assert len(raw) == 5 + int.from_bytes(raw[3:5], "big")
    return raw[5:]


def test_tls13_hello_whole() -> None:
    hello = read_all(TLS13)
    assert hello.server_name == "a.test"  # lower-cased
    assert hello.alpn == ("h2", "http/1.1")
    assert hello.versions[0] == 0x0304
    assert 0x0303 in hello.versions
    assert hello.legacy_version == 0x0303
    assert 0x1301 in hello.cipher_suites
    assert hello.raw == TLS13
    assert hello.extension(SERVER_NAME) is not None
    assert hello.extension(0xFFFE) is None
    assert dict(hello.extensions)[ALPN] == b"\x00\x0c\x02h2\x08http/1.1"
    assert len(hello.random) == 32


def test_tls12_hello_versions_are_the_legacy_version() -> None:
    hello = read_all(TLS12)
    assert (hello.server_name, hello.alpn, hello.versions) == ("b.test", ("http/1.1",), (0x0303,))
    assert 0x1301 not in hello.cipher_suites


def test_no_sni_no_alpn() -> None:
    hello = read_all(make_hello(None))
    assert hello.server_name is None
    assert hello.alpn == ()


def test_idna_a_label_is_kept_as_sent() -> None:
    assert read_all(make_hello("xn--bcher-kva.test")).server_name == "xn--bcher-kva.test"


@pytest.mark.parametrize("raw", [TLS13, TLS12])
def test_byte_by_byte(raw: bytes) -> None:
    reader = ClientHelloReader()
    for i in range(len(raw) - 1):
        assert reader.receive_data(raw[i : i + 1]) is NEED_DATA
        assert reader.next_event() is NEED_DATA
    hello = reader.receive_data(raw[-1:])
    assert hello == read_all(raw)
    assert reader.next_event() is hello
    assert reader.trailing_data == b""


def test_trailing_bytes_are_kept_apart() -> None:
    reader = ClientHelloReader()
    hello = reader.receive_data(TLS13 + b"\x17\x03\x03early")
    assert isinstance(hello, ClientHello)
    assert hello.raw == TLS13
    assert reader.trailing_data == b"\x17\x03\x03early"
    with pytest.raises(LocalProtocolError):
        reader.receive_data(b"more")


def test_decode_whole_buffer() -> None:
    assert decode(TLS13[:100]) is None
    assert decode(b"") is None
    hello = decode(TLS13 + b"rest")
    assert hello is not None
    assert len(hello.raw) == len(TLS13)


@pytest.mark.parametrize("sizes", [[1], [4], [3], [100], [1, 1, 1, 1]])
def test_hello_split_across_records(sizes: list[int]) -> None:
    raw = records(handshake(TLS13), sizes)
    whole = read_all(TLS13)
    for feed in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
        reader = ClientHelloReader()
        results = [reader.receive_data(chunk) for chunk in feed]
        hello = results[-1]
        assert all(r is NEED_DATA for r in results[:-1])
        assert isinstance(hello, ClientHello)
        assert hello.raw == raw
        assert (hello.server_name, hello.alpn, hello.cipher_suites) == (
            whole.server_name, whole.alpn, whole.cipher_suites)


@pytest.mark.parametrize("cut", [1, 5, 6, 9, 50, len(TLS13) - 1])
def test_truncated_input_raises_at_eof(cut: int) -> None:
    reader = ClientHelloReader()
    assert reader.receive_data(TLS13[:cut]) is NEED_DATA
    with pytest.raises(RemoteProtocolError, match="closed"):
        reader.receive_data(b"")
    with pytest.raises(RemoteProtocolError):  # again on every later call
        reader.next_event()


@pytest.mark.parametrize(("first", "alert"), [
    (b"G", Alert.UNEXPECTED_MESSAGE),  # an HTTP request fails on its first byte
    (b"\x17\x03\x03\x00\x05hello", Alert.UNEXPECTED_MESSAGE),  # application data first
    (b"\x16\x02", Alert.PROTOCOL_VERSION),  # record major version 2
    (b"\x16\x03\x01\x40\x01", Alert.RECORD_OVERFLOW),  # a 2^14 + 1 byte record
    (b"\x16\x03\x01\x00\x00", Alert.UNEXPECTED_MESSAGE),  # an empty handshake record
    (b"\x16\x03\x01\x00\x04\x02", Alert.UNEXPECTED_MESSAGE),  # a ServerHello
    (b"\x80\x2e\x01\x03\x01", Alert.PROTOCOL_VERSION),  # an SSL 2.0 compatible hello
])
def test_refused_as_soon_as_the_bytes_prove_it(first: bytes, alert: Alert) -> None:
    reader = ClientHelloReader()
    with pytest.raises(RemoteProtocolError) as info:
        reader.receive_data(first)
    assert info.value.alert is alert
    assert isinstance(info.value, TLSError)


def test_oversized_hello_refused_from_its_announced_length() -> None:
    big = b"\x01" + (70_000).to_bytes(3, "big")
    with pytest.raises(RemoteProtocolError, match="limit") as info:
        ClientHelloReader().receive_data(struct.pack("!BHH", 22, 0x0301, 4) + big)
    assert info.value.alert is Alert.ILLEGAL_PARAMETER
    with pytest.raises(RemoteProtocolError, match="more than 500"):
        ClientHelloReader(max_size=500).receive_data(TLS13)
    assert MAX_HELLO_SIZE == 4 * (5 + 2**14)


def test_handshake_bytes_after_the_hello_in_its_record() -> None:
    hs = handshake(TLS13) + b"\x0f\x00\x00\x00"
    with pytest.raises(RemoteProtocolError, match="after the ClientHello") as info:
        ClientHelloReader().receive_data(records(hs, []))
    assert info.value.alert is Alert.UNEXPECTED_MESSAGE


def body_of(raw: bytes) -> bytearray:
    return bytearray(handshake(raw)[4:])


def rebuild(body: bytes) -> bytes:
    return records(b"\x01" + len(body).to_bytes(3, "big") + body, [])


def with_extensions(exts: list[tuple[int, bytes]]) -> bytes:
    """A minimal TLS 1.2 hello body with the given extensions."""
    block = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in exts)
    return (b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + struct.pack("!H", len(block)) + block)


def sni(*names: tuple[int, bytes]) -> bytes:
    entries = b"".join(bytes((t,)) + struct.pack("!H", len(n)) + n for t, n in names)
    return struct.pack("!H", len(entries)) + entries


@pytest.mark.parametrize(("body", "alert"), [
    (with_extensions([(0, sni((0, b"a.test"))), (0, sni((0, b"b.test")))]), Alert.ILLEGAL_PARAMETER),
    (with_extensions([(0, sni((0, b"a.test"), (0, b"b.test")))]), Alert.ILLEGAL_PARAMETER),
    (with_extensions([(0, sni((0, b"a.test\x00.evil")))]), Alert.ILLEGAL_PARAMETER),
    (with_extensions([(0, sni((0, "ä.test".encode())))]), Alert.ILLEGAL_PARAMETER),
    (with_extensions([(0, sni((0, b"")))]), Alert.ILLEGAL_PARAMETER),
    (with_extensions([(0, b"\x00\x00")]), Alert.DECODE_ERROR),
    (with_extensions([(16, b"\x00\x03\x02h2\x00")]), Alert.DECODE_ERROR),  # truncated name
    (with_extensions([(16, b"\x00\x01\x00")]), Alert.DECODE_ERROR),  # empty name
    (with_extensions([(43, b"\x03\x03\x04\x03")]), Alert.DECODE_ERROR),  # odd length
    (with_extensions([(41, b""), (0, sni((0, b"a.test")))]), Alert.ILLEGAL_PARAMETER),  # psk not last
    (with_extensions([])[:-2] + b"\x00\x05", Alert.DECODE_ERROR),  # extensions past the message
    (with_extensions([]) + b"x", Alert.DECODE_ERROR),  # bytes after the extensions
    (b"\x02\x00" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00", Alert.PROTOCOL_VERSION),
    (b"\x03\x03" + bytes(32) + b"\x21" + bytes(33) + b"\x00\x02\x13\x01\x01\x00", Alert.ILLEGAL_PARAMETER),
    (b"\x03\x03" + bytes(32) + b"\x00\x00\x01\x13\x01\x00", Alert.DECODE_ERROR),  # odd suites
    (b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x00", Alert.DECODE_ERROR),  # no compression
    (b"\x03\x03" + bytes(20), Alert.DECODE_ERROR),
])
def test_malformed_bodies(body: bytes, alert: Alert) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        ClientHelloReader().receive_data(rebuild(body))
    assert info.value.alert is alert, info.value


def test_minimal_hellos() -> None:
    bare = b"\x03\x01" + bytes(32) + b"\x00\x00\x02\x00\x2f\x01\x00"  # TLS 1.0, no extensions
    hello = read_all(rebuild(bare))
    assert (hello.versions, hello.cipher_suites, hello.extensions) == ((0x0301,), (0x2F,), ())
    hello = read_all(rebuild(with_extensions([(0, sni((1, b"other"), (0, b"X.test")))])))
    assert hello.server_name == "x.test"  # an unknown name type is skipped
    hello = read_all(rebuild(with_extensions([(16, b"\x00\x03\x02\xff\xfe")])))
    assert hello.alpn == ("\xff\xfe",)  # any bytes: ISO-8859-1, one str per byte string


def test_peek() -> None:
    assert peek(TLS13) is True
    assert peek(TLS12[:6]) is True
    for prefix in (b"", b"\x16", b"\x16\x03", b"\x16\x03\x01\x02"):
        assert peek(prefix) is None
    for other in (b"GET / HTTP/1.1\r\n", b"\x16\x02", b"\x16\x03\x09", b"\x16\x03\x01\x00\x00\x01",
                  b"\x16\x03\x01\x00\x10\x02", b"SSH-2.0-", b"\x80\x2e\x01\x03\x01"):
        assert peek(other) is False, other


def test_alert_record_and_errors() -> None:
    assert encode_alert(Alert.DECODE_ERROR) == b"\x15\x03\x03\x00\x02\x02\x32"
    with pytest.raises(TypeError):
        TLSError("abstract")
    with pytest.raises(LocalProtocolError):
        ClientHelloReader(max_size=0)
    assert "DECODE_ERROR" in repr(RemoteProtocolError("x"))
    reader = ClientHelloReader()
    with pytest.raises(RemoteProtocolError):
        reader.receive_data(b"GET /")
    assert not reader.looks_like_tls
    assert reader.received_data == b"GET /"
