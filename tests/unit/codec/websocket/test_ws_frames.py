"""Frames: the RFC 6455 5.7 examples fed whole, byte by byte and with trailing bytes; length
boundaries; masking; truncation; and every frame the RFC forbids, with its close code."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.websocket import (
    MAX_CONTROL_PAYLOAD,
    RSV1,
    RSV2,
    RSV3,
    CloseCode,
    Frame,
    LocalProtocolError,
    Opcode,
    RemoteProtocolError,
    WebSocketError,
    build_close,
    decode_frame,
    encode_frame,
    mask,
    parse_close,
)

KEY = bytes.fromhex("37fa213d")  # the masking key of the RFC's examples
HELLO = b"Hello"
BLOB_256 = bytes(range(256))
BLOB_64K = bytes(range(256)) * 256

# (hex of the frame, masking key or None, the frame): RFC 6455 5.7, in order.
RFC_EXAMPLES: list[tuple[str, bytes | None, Frame]] = [
    ("81 05 48 65 6c 6c 6f", None, Frame(Opcode.TEXT, HELLO)),
    ("81 85 37 fa 21 3d 7f 9f 4d 51 58", KEY, Frame(Opcode.TEXT, HELLO)),
    ("01 03 48 65 6c", None, Frame(Opcode.TEXT, b"Hel", fin=False)),
    ("80 02 6c 6f", None, Frame(Opcode.CONTINUATION, b"lo")),
    ("89 05 48 65 6c 6c 6f", None, Frame(Opcode.PING, HELLO)),
    ("8a 85 37 fa 21 3d 7f 9f 4d 51 58", KEY, Frame(Opcode.PONG, HELLO)),
    ("82 7e 01 00" + BLOB_256.hex(), None, Frame(Opcode.BINARY, BLOB_256)),
    ("82 7f 00 00 00 00 00 01 00 00" + BLOB_64K.hex(), None, Frame(Opcode.BINARY, BLOB_64K)),
]
IDS = ["text", "masked-text", "fragment-1", "fragment-2", "ping", "masked-pong", "256-bytes", "64-KiB"]


def wire(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


@pytest.mark.parametrize(("hex_text", "key", "frame"), RFC_EXAMPLES, ids=IDS)
def test_rfc_example_decodes_whole(hex_text: str, key: bytes | None, frame: Frame) -> None:
    data = wire(hex_text)
    assert decode_frame(data, mask_required=key is not None) == (frame, len(data))
    assert decode_frame(bytearray(data)) == (frame, len(data))
    assert decode_frame(memoryview(data)) == (frame, len(data))


@pytest.mark.parametrize(("hex_text", "key", "frame"), RFC_EXAMPLES, ids=IDS)
def test_rfc_example_encodes_exactly(hex_text: str, key: bytes | None, frame: Frame) -> None:
    assert encode_frame(frame, key) == wire(hex_text)


@pytest.mark.parametrize(("hex_text", "key", "frame"), RFC_EXAMPLES[:6], ids=IDS[:6])
def test_rfc_example_byte_by_byte(hex_text: str, key: bytes | None, frame: Frame) -> None:
    data = wire(hex_text)
    buf = bytearray()
    for i, byte in enumerate(data):
        buf.append(byte)
        got = decode_frame(buf)
        assert got == (None if i < len(data) - 1 else (frame, len(data)))


@pytest.mark.parametrize(("hex_text", "key", "frame"), RFC_EXAMPLES, ids=IDS)
def test_rfc_example_with_trailing_bytes(hex_text: str, key: bytes | None, frame: Frame) -> None:
    data = wire(hex_text)
    buf = b"\x00\x01junk" + data + b"\x81\x7f\xff"  # a prefix to skip, and the start of another frame
    assert decode_frame(buf, 6) == (frame, len(data))


@pytest.mark.parametrize(("hex_text", "key", "frame"), RFC_EXAMPLES, ids=IDS)
def test_every_prefix_is_incomplete(hex_text: str, key: bytes | None, frame: Frame) -> None:
    data = wire(hex_text)
    cuts = range(len(data)) if len(data) < 300 else [*range(20), len(data) - 1]
    for cut in cuts:
        assert decode_frame(data[:cut]) is None


@pytest.mark.parametrize(("n", "header"), [
    (0, "82 00"), (125, "82 7d"), (126, "82 7e 00 7e"), (65535, "82 7e ff ff"),
    (65536, "82 7f 00 00 00 00 00 01 00 00"),
])
def test_length_boundaries_are_minimal(n: int, header: str) -> None:
    frame = Frame(Opcode.BINARY, b"\xab" * n)
    data = encode_frame(frame)
    assert data.startswith(wire(header))
    assert len(data) == len(wire(header)) + n
    assert decode_frame(data) == (frame, len(data))


def test_flags_round_trip() -> None:
    frame = Frame(Opcode.BINARY, b"x", fin=False, rsv1=True, rsv2=True, rsv3=True)
    data = encode_frame(frame, KEY)
    assert data[0] == 0x72
    assert decode_frame(data, rsv_allowed=RSV1 | RSV2 | RSV3) == (frame, len(data))


def test_mask_matches_a_naive_loop_and_is_an_involution() -> None:
    data = bytes(range(256)) * 3 + b"tail"
    expected = bytes(b ^ KEY[i % 4] for i, b in enumerate(data))
    for n in (0, 1, 3, 4, 5, 7, 8, len(data)):
        assert mask(data[:n], KEY) == expected[:n]
        assert mask(mask(data[:n], KEY), KEY) == data[:n]
    assert mask(b"\x00\x00\x00\x00", b"\x00\x00\x00\x00") == b"\x00" * 4  # leading zero bytes survive


def test_masked_empty_payload() -> None:
    data = encode_frame(Frame(Opcode.PING), KEY)
    assert data == wire("89 80") + KEY
    assert decode_frame(data) == (Frame(Opcode.PING), 6)


# (hex, mask_required, close code, why): frames a receiver MUST fail the connection on.
BAD: list[tuple[str, bool | None, CloseCode, str]] = [
    ("83 00", None, CloseCode.PROTOCOL_ERROR, "reserved data opcode 0x3"),
    ("87 00", None, CloseCode.PROTOCOL_ERROR, "reserved data opcode 0x7"),
    ("8b 00", None, CloseCode.PROTOCOL_ERROR, "reserved control opcode 0xB"),
    ("8f 00", None, CloseCode.PROTOCOL_ERROR, "reserved control opcode 0xF"),
    ("c1 00", None, CloseCode.PROTOCOL_ERROR, "RSV1 with no extension"),
    ("a1 00", None, CloseCode.PROTOCOL_ERROR, "RSV2 with no extension"),
    ("91 00", None, CloseCode.PROTOCOL_ERROR, "RSV3 with no extension"),
    ("09 00", None, CloseCode.PROTOCOL_ERROR, "fragmented Ping (5.5)"),
    ("08 00", None, CloseCode.PROTOCOL_ERROR, "fragmented Close (5.5)"),
    ("0a 00", None, CloseCode.PROTOCOL_ERROR, "fragmented Pong (5.5)"),
    ("89 7e", None, CloseCode.PROTOCOL_ERROR, "Ping over 125 bytes, seen from the header alone"),
    ("88 7f", None, CloseCode.PROTOCOL_ERROR, "Close with a 64-bit length"),
    ("82 7e 00 7d", None, CloseCode.PROTOCOL_ERROR, "125 in a 16-bit length (5.2)"),
    ("82 7e 00 00", None, CloseCode.PROTOCOL_ERROR, "0 in a 16-bit length"),
    ("82 7f 00 00 00 00 00 00 ff ff", None, CloseCode.PROTOCOL_ERROR, "65535 in a 64-bit length"),
    ("82 7f 00 00 00 00 00 00 00 05", None, CloseCode.PROTOCOL_ERROR, "5 in a 64-bit length"),
    ("82 7f 80 00 00 00 00 00 00 00", None, CloseCode.PROTOCOL_ERROR, "64-bit length with its MSB set"),
    ("82 7f ff ff ff ff ff ff ff ff", None, CloseCode.PROTOCOL_ERROR, "2**64 - 1"),
    ("82 7f 00 00 00 01 00 00 00 00", None, CloseCode.MESSAGE_TOO_BIG, "4 GiB announced"),
    ("82 7f 00 00 00 00 00 10 00 01", None, CloseCode.MESSAGE_TOO_BIG, "1 MiB + 1 announced"),
    ("81 05 48 65 6c 6c 6f", True, CloseCode.PROTOCOL_ERROR, "unmasked frame from a client (5.1)"),
    ("81 85 37 fa 21 3d", False, CloseCode.PROTOCOL_ERROR, "masked frame from a server (5.1)"),
]


@pytest.mark.parametrize(("hex_text", "mask_required", "code", "why"), BAD, ids=[b[3] for b in BAD])
def test_bad_frame_raises_with_close_code(hex_text: str, mask_required: bool | None, code: CloseCode,
                                          why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_frame(wire(hex_text), mask_required=mask_required)
    assert info.value.close_code == code, why
    assert info.value.http_status is None


def test_limit_is_judged_by_the_header_and_is_inclusive() -> None:
    head = encode_frame(Frame(Opcode.BINARY, b"\x00" * 1000))[:4]
    assert decode_frame(head, max_size=1000) is None  # waits for the payload
    with pytest.raises(RemoteProtocolError) as info:
        decode_frame(head, max_size=999)
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(("frame", "key", "why"), [
    (Frame(Opcode.PING, b"x" * 126), None, "control frame over 125 bytes"),
    (Frame(Opcode.CLOSE, b"\x03\xe8" + b"x" * 124), None, "Close over 125 bytes"),
    (Frame(Opcode.PONG, fin=False), None, "fragmented control frame"),
    (Frame(7, b""), None, "reserved opcode"),  # type: ignore[arg-type]  # deliberately not an Opcode
    (Frame(Opcode.TEXT, b"x"), b"abc", "3-byte masking key"),
])
def test_encoding_what_the_rfc_forbids_raises(frame: Frame, key: bytes | None, why: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(frame, key)


def test_control_frame_of_exactly_125_bytes() -> None:
    frame = Frame(Opcode.PING, b"p" * MAX_CONTROL_PAYLOAD)
    data = encode_frame(frame, KEY)
    assert decode_frame(data) == (frame, len(data))


# --- the Close frame's body (5.5.1, 7.4) -----------------------------------------------------------

@pytest.mark.parametrize(("code", "reason"), [
    (1000, ""), (1001, "going"), (1002, ""), (1003, ""), (1007, ""), (1008, ""), (1009, ""), (1010, "ext"),
    (1011, ""), (1012, ""), (1013, ""), (1014, ""), (3000, "registered"), (3999, ""), (4000, "private"),
    (4999, "κόσμε"),
])
def test_valid_close_codes_round_trip(code: int, reason: str) -> None:
    body = build_close(code, reason)
    assert body == struct.pack("!H", code) + reason.encode()
    assert parse_close(body) == (code, reason)


def test_close_code_is_named_when_it_has_a_name() -> None:
    code, _ = parse_close(b"\x03\xe8")
    assert code is CloseCode.NORMAL_CLOSURE
    assert parse_close(b"") == (CloseCode.NO_STATUS_RCVD, "")
    assert build_close(CloseCode.NO_STATUS_RCVD) == b""


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_codes_are_refused_both_ways(code: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_close(struct.pack("!H", code) + b"why")
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR
    with pytest.raises(LocalProtocolError):
        build_close(code, "why")


@pytest.mark.parametrize(("body", "code"), [
    (b"\x03", CloseCode.PROTOCOL_ERROR),
    (b"\x03\xe8\xff", CloseCode.INVALID_PAYLOAD_DATA),
    (b"\x03\xe8\xce", CloseCode.INVALID_PAYLOAD_DATA),  # truncated two-byte sequence
    (b"\x03\xe8\xed\xa0\x80", CloseCode.INVALID_PAYLOAD_DATA),  # an encoded surrogate
    (b"\x03\xe8\xc0\xaf", CloseCode.INVALID_PAYLOAD_DATA),  # an overlong '/'
])
def test_malformed_close_body(body: bytes, code: CloseCode) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_close(body)
    assert info.value.close_code == code


def test_close_reason_limits() -> None:
    assert len(build_close(1000, "x" * 123)) == 125
    with pytest.raises(LocalProtocolError):
        build_close(1000, "x" * 124)
    with pytest.raises(LocalProtocolError):
        build_close(1000, "é" * 62)  # 124 UTF-8 bytes
    with pytest.raises(LocalProtocolError):
        build_close(1000, "\ud800")
    with pytest.raises(LocalProtocolError):
        build_close(CloseCode.NO_STATUS_RCVD, "a reason needs a code")


def test_error_family() -> None:
    with pytest.raises(TypeError):
        WebSocketError("abstract")
    err = RemoteProtocolError("bad", CloseCode.MESSAGE_TOO_BIG)
    assert isinstance(err, WebSocketError)
    assert repr(err) == "RemoteProtocolError('bad', MESSAGE_TOO_BIG)"
    assert repr(RemoteProtocolError("v", http_status=426)) == \
        "RemoteProtocolError('v', PROTOCOL_ERROR, http_status=426)"
    assert LocalProtocolError("x").close_code == CloseCode.PROTOCOL_ERROR
