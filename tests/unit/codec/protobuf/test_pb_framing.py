"""gRPC Length-Prefixed-Message framing: fed whole, byte by byte, pipelined and cut short;
compression both ways; limits and bombs refused with the gRPC status that names them."""

from __future__ import annotations

import gzip
import zlib

import pytest

from pipework.codec.protobuf import (
    CLOSED,
    DEFAULT_MAX_MESSAGE_SIZE,
    NEED_DATA,
    LocalProtocolError,
    MessageDecoder,
    MessageReceived,
    RemoteProtocolError,
    State,
    StatusCode,
    compress,
    decompress,
    encode_message,
    frame,
)

# The encoding guide's Test1 { a: 150 } as one uncompressed gRPC message.
TEST1 = bytes.fromhex("08 96 01")
TEST1_FRAMED = bytes.fromhex("00 00 00 00 03 08 96 01")


def drain(decoder: MessageDecoder) -> list[MessageReceived]:
    out: list[MessageReceived] = []
    while True:
        event = decoder.next_event()
        if event is NEED_DATA or event is CLOSED:
            return out
        assert isinstance(event, MessageReceived)
        out.append(event)


def test_frame_vectors() -> None:
    assert frame(TEST1) == TEST1_FRAMED
    assert encode_message(TEST1) == TEST1_FRAMED
    assert encode_message(TEST1, "identity") == TEST1_FRAMED
    assert frame(b"") == bytes(5)
    assert frame(b"\x1f\x8b", compressed=True) == bytes.fromhex("01 00 00 00 02 1f 8b")
    assert frame(memoryview(b"ab")) == b"\x00\x00\x00\x00\x02ab"


def test_whole() -> None:
    d = MessageDecoder()
    assert d.next_event() is NEED_DATA
    d.receive_data(TEST1_FRAMED)
    assert d.next_event() == MessageReceived(TEST1, compressed=False)
    assert d.next_event() is NEED_DATA
    d.receive_data(b"")
    assert d.next_event() is CLOSED
    assert d.next_event() is CLOSED
    assert d.state is State.CLOSED


def test_empty_message() -> None:
    d = MessageDecoder()
    d.receive_data(bytes(5))
    assert d.next_event() == MessageReceived(b"")


@pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
def test_byte_by_byte(encoding: str | None) -> None:
    messages = [TEST1, b"x" * 300, b""]
    stream = b"".join(encode_message(m, encoding) for m in messages)
    d = MessageDecoder(encoding)
    got: list[bytes] = []
    for i in range(len(stream)):
        d.receive_data(stream[i : i + 1])
        got += [event.data for event in drain(d)]
    d.receive_data(b"")
    assert d.next_event() is CLOSED
    assert got == messages


@pytest.mark.parametrize("chunk", [2, 5, 6, 64, 100_000])
def test_chunks_and_pipelining(chunk: int) -> None:
    messages = [bytes([i]) * i for i in range(200)]
    stream = b"".join(frame(m) for m in messages)
    d = MessageDecoder()
    got: list[bytes] = []
    for i in range(0, len(stream), chunk):
        d.receive_data(stream[i : i + chunk])
        got += [event.data for event in drain(d)]
    assert got == messages
    assert d.buffered == 0


def test_trailing_partial_message_then_end_of_stream() -> None:
    d = MessageDecoder()
    d.receive_data(TEST1_FRAMED + TEST1_FRAMED[:6])
    assert d.next_event() == MessageReceived(TEST1)
    assert d.next_event() is NEED_DATA
    assert d.buffered == 6
    d.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a message") as info:
        d.next_event()
    assert info.value.status is StatusCode.INTERNAL
    assert d.state is State.ERROR
    with pytest.raises(RemoteProtocolError) as again:
        d.next_event()
    assert again.value is info.value
    with pytest.raises(LocalProtocolError):
        d.receive_data(b"more")


@pytest.mark.parametrize("cut", range(1, 8))
def test_every_cut_waits_then_fails_at_the_end(cut: int) -> None:
    d = MessageDecoder()
    d.receive_data(TEST1_FRAMED[:cut])
    assert d.next_event() is NEED_DATA
    d.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        d.next_event()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "GZip", b"gzip"])
def test_compressed_messages(encoding: str | bytes) -> None:
    message = b"compress me " * 100
    framed = encode_message(message, encoding)
    assert framed[0] == 1
    assert len(framed) < len(message)
    d = MessageDecoder(encoding)
    d.receive_data(framed)
    assert d.next_event() == MessageReceived(message, compressed=True)


def test_codings_are_the_standard_formats() -> None:
    """gzip is RFC 1952 and deflate the zlib format (RFC 1950), as gRPC core and grpc-java write."""
    message = b"hello " * 50
    assert gzip.decompress(compress(message, "gzip")) == message
    assert zlib.decompress(compress(message, "deflate")) == message
    assert decompress(gzip.compress(message), "gzip", 1000) == message
    assert decompress(zlib.compress(message), "deflate", 1000) == message


def test_uncompressed_messages_on_a_compressed_stream() -> None:
    """grpc-encoding names the coding; each message's flag says whether it was used."""
    d = MessageDecoder("gzip")
    d.receive_data(frame(TEST1) + encode_message(TEST1, "gzip"))
    assert drain(d) == [MessageReceived(TEST1), MessageReceived(TEST1, compressed=True)]


def test_forwarding_without_decompressing() -> None:
    framed = encode_message(b"z" * 1000, "gzip")
    d = MessageDecoder("gzip", decompress=False)
    d.receive_data(framed)
    event = d.next_event()
    assert isinstance(event, MessageReceived)
    assert event.compressed
    assert frame(event.data, compressed=event.compressed) == framed


def test_message_over_the_limit_is_refused_from_its_prefix() -> None:
    d = MessageDecoder()
    d.receive_data(bytes.fromhex("00 00 40 00 01"))  # 4 MiB + 1 announced, nothing else sent
    with pytest.raises(RemoteProtocolError, match="larger than the limit") as info:
        d.next_event()
    assert info.value.status is StatusCode.RESOURCE_EXHAUSTED
    assert (b"grpc-status", b"8") in info.value.trailers()
    exact = MessageDecoder(max_message_size=3)
    exact.receive_data(TEST1_FRAMED)
    assert exact.next_event() == MessageReceived(TEST1)
    small = MessageDecoder(max_message_size=2)
    small.receive_data(TEST1_FRAMED)
    with pytest.raises(RemoteProtocolError):
        small.next_event()


def test_default_limit_is_grpcs() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 4 * 1024 * 1024
    d = MessageDecoder()
    d.receive_data(frame(bytes(DEFAULT_MAX_MESSAGE_SIZE)))
    event = d.next_event()
    assert isinstance(event, MessageReceived)
    assert len(event.data) == DEFAULT_MAX_MESSAGE_SIZE


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decompression_bomb_is_refused(encoding: str) -> None:
    bomb = compress(bytes(16 * 1024 * 1024), encoding, level=9)  # 16 MiB of zeros in ~16 KiB
    assert len(bomb) < 20_000
    d = MessageDecoder(encoding)
    d.receive_data(frame(bomb, compressed=True))
    with pytest.raises(RemoteProtocolError, match="decompresses to more than 4194304") as info:
        d.next_event()
    assert info.value.status is StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(RemoteProtocolError):
        decompress(compress(b"x" * 11, encoding), encoding, 10)
    assert decompress(compress(b"x" * 10, encoding), encoding, 10) == b"x" * 10


@pytest.mark.parametrize(("encoding", "payload", "status", "why"), [
    (None, compress(b"x", "gzip"), StatusCode.INTERNAL, "without grpc-encoding"),
    ("identity", compress(b"x", "gzip"), StatusCode.INTERNAL, "without grpc-encoding"),
    ("snappy", b"x", StatusCode.UNIMPLEMENTED, "not supported"),
    ("gzip", b"not gzip", StatusCode.INTERNAL, "does not decompress"),
    ("gzip", compress(b"x" * 100, "gzip")[:-4], StatusCode.INTERNAL, "ends before"),
    ("gzip", compress(b"x", "gzip") + b"junk", StatusCode.INTERNAL, "after the end"),
    ("deflate", compress(b"x", "gzip"), StatusCode.INTERNAL, "does not decompress"),
])
def test_compressed_message_failures(encoding: str | None, payload: bytes, status: StatusCode,
                                     why: str) -> None:
    d = MessageDecoder(encoding)
    d.receive_data(frame(payload, compressed=True))
    with pytest.raises(RemoteProtocolError, match=why) as info:
        d.next_event()
    assert info.value.status is status
    assert d.state is State.ERROR


@pytest.mark.parametrize("flag", [2, 0x80, 0xFF])
def test_compressed_flag_other_than_0_or_1(flag: int) -> None:
    d = MessageDecoder()
    d.receive_data(bytes([flag]) + TEST1_FRAMED[1:])
    with pytest.raises(RemoteProtocolError, match=f"Compressed-Flag {flag}") as info:
        d.next_event()
    assert info.value.status is StatusCode.INTERNAL


def test_misuse() -> None:
    d = MessageDecoder()
    d.receive_data(b"")
    d.receive_data(b"")  # a second END_STREAM is harmless
    with pytest.raises(LocalProtocolError, match="CLOSED"):
        d.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        MessageDecoder(max_message_size=-1)
    with pytest.raises(LocalProtocolError):
        MessageDecoder(max_message_size=2**32)


def test_buffer_limit() -> None:
    d = MessageDecoder(max_buffer_size=10)
    d.receive_data(bytes(10))
    with pytest.raises(LocalProtocolError, match="unread"):
        d.receive_data(b"x")
    default = MessageDecoder(max_message_size=10)
    default.receive_data(bytes(10 + 5 + 1024 * 1024))  # one message plus the read slack
    with pytest.raises(LocalProtocolError):
        default.receive_data(b"x")


def test_buffer_compacts_while_draining() -> None:
    one = frame(b"m" * 1000)
    count = 300
    d = MessageDecoder()
    d.receive_data(one * count)
    for _ in range(count):
        assert d.next_event() == MessageReceived(b"m" * 1000)
        assert len(d._buf) - d._offset == d.buffered  # internal invariant
        assert len(d._buf) <= len(one) * count
    assert d.buffered == 0
    assert len(d._buf) == 0


def test_encoder_limits_and_codings() -> None:
    with pytest.raises(LocalProtocolError, match="larger than the limit") as info:
        encode_message(bytes(DEFAULT_MAX_MESSAGE_SIZE + 1))
    assert info.value.status is StatusCode.RESOURCE_EXHAUSTED
    assert len(encode_message(bytes(100), max_message_size=100)) == 105
    with pytest.raises(LocalProtocolError) as unsupported:
        encode_message(b"x", "br")
    assert unsupported.value.status is StatusCode.UNIMPLEMENTED
    with pytest.raises(LocalProtocolError):
        compress(b"x", "identity")
