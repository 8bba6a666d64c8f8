"""peek_header and peek_invocation: routing facts from the first octets, arguments never decoded."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.dubbo import (
    HEADER_SIZE,
    Event,
    Header,
    Invocation,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    Status,
    encode,
    peek_header,
    peek_invocation,
)

REQUEST = Request(42, "org.demo.Users", "find", "Ljava/lang/String;[B", ["ann", b"\x00" * 100_000],
                  {"group": "a"}, "2.1.0")
OCTETS = encode(REQUEST)
INVOCATION = Invocation(42, "org.demo.Users", "find", "2.1.0", "Ljava/lang/String;[B", "2.0.2")
# where the parameter types string ends: everything peek_invocation needs
NEEDED = HEADER_SIZE + sum(1 + len(t) for t in ("2.0.2", "org.demo.Users", "2.1.0", "find",
                                                 "Ljava/lang/String;[B"))


def test_peek_header() -> None:
    assert peek_header(b"") is None
    assert peek_header(OCTETS[:15]) is None
    assert peek_header(OCTETS) == Header(42, len(OCTETS) - HEADER_SIZE)
    assert peek_header(bytearray(OCTETS[:16])) == peek_header(memoryview(OCTETS))


def test_peek_header_refuses_other_protocols_early() -> None:
    for junk in (b"G", b"\xda\x00", b"GET / HTTP/1.1\r\n\r\n"):
        with pytest.raises(RemoteProtocolError, match="magic"):
            peek_header(junk)
    with pytest.raises(RemoteProtocolError, match="negative body length"):
        peek_header(b"\xda\xbb\x02\x14" + struct.pack(">qi", 1, -1))


def test_peek_invocation_on_partial_frames() -> None:
    for cut in range(NEEDED):
        assert peek_invocation(OCTETS[:cut]) is None, cut
    assert peek_invocation(OCTETS[:NEEDED]) == INVOCATION
    assert peek_invocation(OCTETS) == INVOCATION
    assert peek_invocation(bytearray(OCTETS[:NEEDED + 3])) == INVOCATION
    assert peek_invocation(memoryview(OCTETS)) == INVOCATION


def test_peek_invocation_never_reads_arguments() -> None:
    # garbage where the arguments should be: peek does not care, a full decode would
    broken = OCTETS[:NEEDED] + b"\x40" * (len(OCTETS) - NEEDED)
    assert peek_invocation(broken) == INVOCATION


def test_peek_invocation_errors() -> None:
    with pytest.raises(LocalProtocolError):
        peek_invocation(encode(Event(1)))
    with pytest.raises(LocalProtocolError):
        peek_invocation(encode(Response(1, value=1)))
    with pytest.raises(RemoteProtocolError, match="too large") as info:
        peek_invocation(OCTETS[:NEEDED], max_payload=1000)
    assert info.value.reply is not None
    kryo = OCTETS[:2] + b"\xc8" + OCTETS[3:]  # serialization id 8
    with pytest.raises(RemoteProtocolError, match="serialization id 8"):
        peek_invocation(kryo)
    # a complete frame whose body stops inside the strings is broken, not partial
    short = b"\xda\xbb\xc2\x00" + struct.pack(">qi", 9, 3) + b"\x05abc"
    with pytest.raises(RemoteProtocolError) as info:
        peek_invocation(short)
    assert info.value.status == Status.BAD_REQUEST
    assert info.value.reply is not None
    no_method = b"\x05" + b"2.0.2" + b"\x01s" + b"N" + b"N" + b"\x00"
    with pytest.raises(RemoteProtocolError, match="method"):
        peek_invocation(b"\xda\xbb\xc2\x00" + struct.pack(">qi", 9, len(no_method)) + no_method)
    with pytest.raises(RemoteProtocolError, match="expected a string"):
        peek_invocation(b"\xda\xbb\xc2\x00" + struct.pack(">qi", 9, 1) + b"\x91")
