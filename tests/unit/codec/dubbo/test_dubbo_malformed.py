"""Frames that break Dubbo raise RemoteProtocolError with the right status (and the BAD_REQUEST reply
for a two-way request); messages Dubbo cannot carry raise LocalProtocolError."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pipework.codec.dubbo import (
    MAX_ARGUMENTS,
    DubboError,
    Event,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    Request,
    Response,
    Status,
    decode,
    encode,
    parse_parameter_types,
)
from pipework.codec.hessian import HessianError


def s(text: str) -> bytes:
    return bytes((len(text),)) + text.encode()


def frame(flags: int, body: bytes, status: int = 0, request_id: int = 3) -> bytes:
    return b"\xda\xbb" + bytes((flags, status)) + struct.pack(">qi", request_id, len(body)) + body


HEAD = s("2.0.2") + s("svc") + s("1.0") + s("m")

# (flags, status, body, expected status, why)
BAD: list[tuple[int, int, bytes, Status, str]] = [
    (0xC2, 0, HEAD + s("I") + b"\x91", Status.BAD_REQUEST, "no attachments after the arguments"),
    (0xC2, 0, HEAD + s("I") + b"HZ", Status.BAD_REQUEST, "an argument missing"),
    (0xC2, 0, HEAD + s("") + b"HZ" + b"\x90", Status.BAD_REQUEST, "octets after the attachments"),
    (0xC2, 0, HEAD + s("") + b"\x91", Status.BAD_REQUEST, "attachments that are not a map"),
    (0xC2, 0, HEAD + s("Ljava/lang/String") + b"\x00HZ", Status.BAD_REQUEST, "descriptor without ';'"),
    (0xC2, 0, HEAD + s("Q") + b"\x90HZ", Status.BAD_REQUEST, "descriptor of no JVM type"),
    (0xC2, 0, s("2.0.2") + b"N" + s("1.0") + s("m") + b"\x00HZ", Status.BAD_REQUEST, "null service path"),
    (0xC2, 0, s("2.0.2") + s("svc") + s("1.0") + b"N" + b"\x00HZ", Status.BAD_REQUEST, "null method"),
    (0xC2, 0, b"\x91" + s("svc") + s("1.0") + s("m") + b"\x00HZ", Status.BAD_REQUEST, "version is an int"),
    (0xC2, 0, b"", Status.BAD_REQUEST, "empty request body"),
    (0xC3, 0, HEAD + s("") + b"HZ", Status.BAD_REQUEST, "serialization id 3 (Java)"),
    (0xE2, 0, b"", Status.BAD_REQUEST, "empty event body"),
    (0xE2, 0, b"\x00" * 3, Status.BAD_REQUEST, "event body with trailing octets"),
    (0xE2, 0, b"\x30\x33" + b"a" * 51, Status.BAD_REQUEST, "event body over 50 octets"),
    (0x02, 20, b"\x96", Status.BAD_RESPONSE, "result type 6"),
    (0x02, 20, b"\x8f", Status.BAD_RESPONSE, "result type -1"),
    (0x02, 20, s("1"), Status.BAD_RESPONSE, "result type that is not an int"),
    (0x02, 20, b"\x91", Status.BAD_RESPONSE, "VALUE without a value"),
    (0x02, 20, b"\x95\x91", Status.BAD_RESPONSE, "attachments that are an int"),
    (0x02, 20, b"\x92\x90", Status.BAD_RESPONSE, "octets after NULL_VALUE"),
    (0x02, 40, b"\x91", Status.BAD_RESPONSE, "error message that is an int"),
    (0x08, 20, b"\x92", Status.BAD_RESPONSE, "serialization id 8 (Kryo)"),
]


@pytest.mark.parametrize(("flags", "status", "body", "expected", "why"), BAD, ids=[b[-1] for b in BAD])
def test_malformed_frames(flags: int, status: int, body: bytes, expected: Status, why: str) -> None:
    octets = frame(flags, body, status)
    with pytest.raises(RemoteProtocolError) as info:
        decode(octets)
    assert info.value.status == expected
    if flags & 0xE0 == 0xC0:  # a two-way request, not an event: the answer is ready
        assert info.value.reply is not None
        reply, _ = decode(info.value.reply)  # type: ignore[misc]
        assert isinstance(reply, Response)
        assert reply.request_id == 3
        assert reply.status == Status.BAD_REQUEST
        assert reply.error_message is not None
        assert reply.error_message.startswith("Fail to decode request due to: ")
    else:
        assert info.value.reply is None


def test_hessian_errors_are_chained() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode(frame(0xC2, HEAD + s("I") + b"\x40HZ"))
    assert isinstance(info.value.__cause__, HessianError)


def test_null_attachments_read_as_empty() -> None:
    message, _ = decode(frame(0xC2, HEAD + s("") + b"N"))  # type: ignore[misc]
    assert isinstance(message, Request)
    assert message.attachments == {}


def test_payload_limit_on_decode() -> None:
    octets = encode(Request(1, "svc", "m", "[B", [b"x" * 1000]))
    with pytest.raises(RemoteProtocolError, match="Data length too large"):
        decode(octets[:16], max_payload=1000)  # refused from the header alone
    assert decode(octets, max_payload=len(octets) - 16) is not None


@pytest.mark.parametrize(
    ("desc", "types"),
    [
        ("", []),
        ("I", ["I"]),
        ("Ljava/lang/String;I[[J", ["Ljava/lang/String;", "I", "[[J"]),
        ("[Lcom/x/Outer$Inner;ZBCSFD", ["[Lcom/x/Outer$Inner;", "Z", "B", "C", "S", "F", "D"]),
    ],
)
def test_parameter_types(desc: str, types: list[str]) -> None:
    assert parse_parameter_types(desc) == types


@pytest.mark.parametrize(
    "desc",
    ["L;", "Ljava/lang/String", "java.lang.String", "[", "I ", "L1abc;", "Lé;", "[" * 256 + "I",
     "I" * (MAX_ARGUMENTS + 1), "Lcom//x;"],
)
def test_parameter_types_refused(desc: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the offset or the limit
        parse_parameter_types(desc)


LOCAL: list[tuple[Message, Any]] = [
    (Request(1, "s", "m", "I", []), "0 arguments for 1"),
    (Request(1, "s", "m", "", [1]), "1 arguments for 0"),
    (Request(1, "s", "m", "Ljava;x", ["a"]), "no field descriptor"),
    (Request(1, "s", "m", "Ljava/lang/Object;", [object()]), "cannot encode"),
    (Request(1, "s", "m", serialization=3), "serialization id 3"),
    (Request(2**63, "s", "m"), "out of range"),
    (Response(1, 300), "out of range"),
    (Request("1", "s", "m"), "out of range"),  # type: ignore[arg-type]
    (Request(1, 5, "m"), "expected a string"),  # type: ignore[arg-type]
    (Event(1, data={1, 2}), "cannot encode"),
]


@pytest.mark.parametrize(("message", "match"), LOCAL, ids=[m for _, m in LOCAL])
def test_messages_dubbo_cannot_carry(message: Message, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode(message)


def test_payload_limit_on_encode() -> None:
    with pytest.raises(LocalProtocolError, match="Data length too large") as info:
        encode(Response(1, value=b"x" * 2000), max_payload=1000)
    assert info.value.status == Status.BAD_RESPONSE


def test_error_family() -> None:
    with pytest.raises(TypeError):
        DubboError("abstract")
    err = RemoteProtocolError("x", Status.SERVER_ERROR)
    assert err.status == 80
    assert repr(err) == "RemoteProtocolError('x', status=80)"
    assert LocalProtocolError("y").status == Status.BAD_REQUEST
