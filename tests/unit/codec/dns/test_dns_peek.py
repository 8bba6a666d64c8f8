"""Fast paths: peek_id, peek_header, peek_question, set_id and error_reply on raw octets."""

from __future__ import annotations

import struct

import pytest

from pipework.codec.dns import (
    Edns,
    Header,
    LocalProtocolError,
    Name,
    Opcode,
    Rcode,
    RemoteProtocolError,
    RRType,
    decode,
    encode,
    error_reply,
    make_query,
    peek_header,
    peek_id,
    peek_question,
    set_id,
)

QUERY = encode(make_query("WWW.example.com", RRType.AAAA, id=0x1234, edns=Edns()))


def test_peek_id_and_header() -> None:
    assert peek_id(QUERY) == 0x1234
    assert peek_id(bytearray(QUERY)) == 0x1234
    assert peek_header(QUERY) == Header(id=0x1234, rd=True)


def test_peek_question_keeps_case() -> None:
    assert peek_question(QUERY) == (Name.from_text("WWW.example.com"), RRType.AAAA, 1)
    assert peek_question(memoryview(QUERY)) == peek_question(QUERY)


def test_peek_question_compressed_name() -> None:
    # A QNAME that is a pointer into the header is odd but legal: \x00 at offset 6 is the root.
    buf = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x06\x00\x01\x00\x01"
    assert peek_question(buf) == (Name(), 1, 1)


@pytest.mark.parametrize(
    "buf",
    [
        b"",
        b"\x12",
        QUERY[:11],
        struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 0),  # no question
        QUERY[:20],  # name cut short
        QUERY[:12 + 17 + 3],  # QTYPE/QCLASS cut short
    ],
)
def test_peek_question_refuses(buf: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        peek_question(buf)


def test_short_buffers() -> None:
    for fn in (peek_id, peek_header):
        with pytest.raises(RemoteProtocolError):
            fn(b"\x00" * 11)
    with pytest.raises(RemoteProtocolError):
        set_id(b"\x00" * 11, 1)


def test_set_id() -> None:
    out = set_id(QUERY, 0xBEEF)
    assert isinstance(out, bytes)
    assert out[:2] == b"\xbe\xef"
    assert out[2:] == QUERY[2:]
    assert decode(out).header.id == 0xBEEF
    assert set_id(bytearray(QUERY), 0x1234) == QUERY
    for bad in (-1, 0x10000):
        with pytest.raises(LocalProtocolError):
            set_id(QUERY, bad)


def test_error_reply_with_question() -> None:
    reply = error_reply(QUERY, Rcode.FORMERR)
    assert reply is not None
    msg = decode(reply)
    assert msg.header == Header(id=0x1234, qr=True, rd=True, rcode=Rcode.FORMERR)
    assert [(q.name, q.qtype) for q in msg.question] == [(Name.from_text("WWW.example.com"), RRType.AAAA)]
    assert msg.edns is None


def test_error_reply_to_garbage_after_the_header() -> None:
    buf = struct.pack("!HHHHHH", 7, Opcode.NOTIFY << 11 | 0x0010, 1, 0, 0, 0) + b"\xff\xff"
    reply = error_reply(buf, Rcode.REFUSED)
    assert reply is not None
    assert decode(reply).header == Header(id=7, qr=True, opcode=Opcode.NOTIFY, cd=True, rcode=Rcode.REFUSED)
    assert decode(reply).question == []


def test_error_reply_declines() -> None:
    assert error_reply(QUERY[:11]) is None
    response = bytearray(QUERY)
    response[2] |= 0x80
    assert error_reply(bytes(response)) is None  # never answer a response
    with pytest.raises(LocalProtocolError):
        error_reply(QUERY, Rcode.BADVERS)
