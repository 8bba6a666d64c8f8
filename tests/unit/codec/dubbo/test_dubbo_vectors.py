"""Frames laid out octet by octet as Dubbo's ExchangeCodec and DubboCodec write them: each encodes to
exactly these octets and decodes from them, whole, with trailing octets, and cut short."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.dubbo import (
    HEADER_SIZE,
    READONLY_EVENT,
    Event,
    Header,
    Message,
    Request,
    Response,
    ResponseType,
    Status,
    decode,
    encode,
    peek_header,
)
from pipework.codec.hessian import HessianObject, Long, TypedList


def s(text: str) -> bytes:
    """A compact Hessian string (x00-x1f)."""
    return bytes((len(text),)) + text.encode()


def frame(flags: int, status: int, request_id: int, body: bytes) -> bytes:
    return b"\xda\xbb" + bytes((flags, status)) + struct.pack(">qi", request_id, len(body)) + body


def exception_body() -> tuple[bytes, HessianObject]:
    """A RuntimeException as Java's Hessian2Output writes it: its cause is itself (ref #0)."""
    body = (b"C" + s("java.lang.RuntimeException") + b"\x93" + s("detailMessage") + s("cause")
            + s("stackTrace") + b"\x60" + s("boom") + b"Q\x90" + b"\x78")
    exc = HessianObject("java.lang.RuntimeException",
                        {"detailMessage": "boom", "cause": None, "stackTrace": []})
    exc.fields["cause"] = exc
    return body, exc


REQUEST_BODY = (s("2.0.2") + s("org.demo.Echo") + s("1.0.0") + s("echo") + s("Ljava/lang/String;I")
                + s("hi") + b"\x95" + b"H" + s("path") + s("org.demo.Echo") + b"Z")
REQUEST = Request(7, "org.demo.Echo", "echo", "Ljava/lang/String;I", ["hi", 5], {"path": "org.demo.Echo"},
                  "1.0.0", "2.0.2")
EXC_BODY, EXC = exception_body()

# (octets, message)
VECTORS: list[tuple[bytes, Message]] = [
    # two-way request (flags: request | two-way | Hessian 2)
    (frame(0xC2, 0, 7, REQUEST_BODY), REQUEST),
    # one-way request, no arguments, null service version
    (frame(0x82, 0, 8, s("2.0.2") + s("org.demo.Log") + b"N" + s("flush") + b"\x00" + b"HZ"),
     Request(8, "org.demo.Log", "flush", version=None, two_way=False)),
    # heartbeat request and its answer: the body is Hessian null
    (frame(0xE2, 0, 9, b"N"), Event(9)),
    (frame(0x22, 20, 9, b"N"), Event(9, request=False, two_way=False)),
    # read-only event (a provider going away), one-way
    (frame(0xA2, 0, 10, b"\x01R"), Event(10, data=READONLY_EVENT, two_way=False)),
    # responses, one per result type
    (frame(0x02, 20, 7, b"\x91" + s("hi")), Response(7, value="hi")),
    (frame(0x02, 20, 7, b"\x92"), Response(7)),
    (frame(0x02, 20, 7, b"\x90" + EXC_BODY), Response(7, exception=EXC)),
    (frame(0x02, 20, 7, b"\x94" + b"\xe5" + b"H" + s("k") + s("v") + b"Z"),
     Response(7, value=Long(5), attachments={"k": "v"})),
    (frame(0x02, 20, 7, b"\x95" + b"HZ"), Response(7, attachments={})),
    (frame(0x02, 20, 7, b"\x93" + EXC_BODY + b"HZ"), Response(7, exception=EXC, attachments={})),
    # error responses carry only a message
    (frame(0x02, 40, 7, s("Fail")), Response(7, Status.BAD_REQUEST, error_message="Fail")),
    (frame(0x02, 80, -1, b"N"), Response(-1, Status.SERVER_ERROR)),
    # a response with a list of objects
    (frame(0x02, 20, 2**62, b"\x91" + b"\x72" + s("[org.demo.User") + b"C" + s("org.demo.User") + b"\x91"
           + s("name") + b"\x60" + s("ann") + b"\x60" + s("bob")),
     Response(2**62, value=TypedList("[org.demo.User", [HessianObject("org.demo.User", {"name": "ann"}),
                                                        HessianObject("org.demo.User", {"name": "bob"})]))),
]


@pytest.mark.parametrize(("octets", "message"), VECTORS, ids=[type(m).__name__ + str(i) for i, (_, m)
                                                             in enumerate(VECTORS)])
def test_vector(octets: bytes, message: Message) -> None:
    assert encode(message) == octets
    assert decode(octets) == (message, len(octets))
    assert decode(octets + b"\xda\xbb\xc2") == (message, len(octets))  # trailing octets are left alone
    for cut in range(len(octets)):
        assert decode(octets[:cut]) is None


def test_header_struct() -> None:
    header = peek_header(VECTORS[0][0])
    assert header == Header(7, len(REQUEST_BODY), request=True, two_way=True, event=False, serialization=2)
    assert header is not None
    assert header.pack() == VECTORS[0][0][:HEADER_SIZE]
    assert header.frame_size == HEADER_SIZE + len(REQUEST_BODY)
    assert Header.STRUCT.size == HEADER_SIZE


def test_response_result_types() -> None:
    assert Response(1, value=1).result_type is ResponseType.VALUE
    assert Response(1).result_type is ResponseType.NULL_VALUE
    with_attachments = Response(1, exception=EXC, attachments={})
    assert with_attachments.result_type is ResponseType.WITH_EXCEPTION_WITH_ATTACHMENTS
    assert Response(1, Status.SERVICE_NOT_FOUND).result_type is None


def test_decoded_exception_is_circular() -> None:
    message, _ = decode(VECTORS[7][0])  # type: ignore[misc]
    assert isinstance(message, Response)
    assert message.exception["cause"] is message.exception


def test_arguments_share_references_with_each_other() -> None:
    shared = {"k": 1}
    request = Request(1, "s", "m", "Ljava/util/Map;Ljava/util/Map;", [shared, shared])
    octets = encode(request)
    assert b"Q\x90" in octets  # the second argument is a reference to the first
    message, _ = decode(octets)  # type: ignore[misc]
    assert isinstance(message, Request)
    assert message.arguments[0] is message.arguments[1]


def test_event_helpers() -> None:
    assert Event(1).is_heartbeat
    assert not Event(1, data=READONLY_EVENT).is_heartbeat
    # an event answer with an error status carries the message as its data
    octets = frame(0x22, 90, 3, s("boom"))
    assert decode(octets) == (Event(3, request=False, data="boom", two_way=False, status=90), len(octets))
    assert encode(Event(3, request=False, data="boom", status=90)) == octets
