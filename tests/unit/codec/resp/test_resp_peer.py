"""redis-py and hiredis as independent peers: commands they encode decode here, replies we encode
parse there to the Python values they would return from a real Redis, and our commands are the
bytes redis-py sends."""

from __future__ import annotations

import os
from typing import Any

import pytest

# redis (and hiredis, its C parser) are optional: without them this module is skipped (an error
# under PIPEWORK_REQUIRE_ALL=1, DESIGN.md 7), so their imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("redis", reason="redis-py is the peer: pip install redis")
    pytest.importorskip("hiredis", reason="hiredis is the peer: pip install hiredis")

import hiredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis._parsers.encoders import Encoder
from redis._parsers.resp2 import _RESP2Parser
from redis._parsers.resp3 import _RESP3Parser
from redis._parsers.socket import SocketBuffer
from redis.connection import Connection
from redis.exceptions import ResponseError

from pipework.codec.resp import (
    MAX_INTEGER,
    MIN_INTEGER,
    NEED_DATA,
    NULL,
    NULL_ARRAY,
    NULL_BULK_STRING,
    RESP2,
    RESP3,
    Array,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Decoder,
    Double,
    Integer,
    Map,
    Null,
    Peer,
    Push,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
    command_args,
    encode,
    encode_command,
)


class MemorySocket:
    """Just enough of a socket for redis-py's SocketBuffer: recv() from a bytes buffer, a few
    bytes at a time so that its parser also meets values split across reads."""

    def __init__(self, data: bytes, chunk: int = 5) -> None:
        self.data, self.chunk = bytearray(data), chunk

    def recv(self, size: int) -> bytes:
        out = bytes(self.data[: min(size, self.chunk)])
        del self.data[: len(out)]
        return out

    def settimeout(self, timeout: object) -> None:
        pass


def redis_py_parse(wire: bytes, protocol: int) -> list[Any]:
    parser = (_RESP3Parser if protocol == RESP3 else _RESP2Parser)(socket_read_size=5)
    sock = MemorySocket(wire)
    parser._sock = sock
    parser._buffer = SocketBuffer(sock, 5, None)  # type: ignore[arg-type]
    parser.encoder = Encoder("utf-8", "strict", False)
    out = []
    while sock.data or parser._buffer.unread_bytes():
        kwargs = {"push_request": True} if protocol == RESP3 else {}
        out.append(parser.read_response(disable_decoding=True, **kwargs))
    return out


_NOT_YET = object()


def hiredis_parse(wire: bytes) -> list[Any]:
    reader = hiredis.Reader(notEnoughData=_NOT_YET)  # its default, False, is also RESP3's #f
    out = []
    for i in range(0, len(wire), 3):
        reader.feed(wire[i : i + 3])
        while (reply := reader.gets()) is not _NOT_YET:
            out.append(reply)
    return out


class Err:
    """An error reply as the peers return it: redis-py drops a known code ("ERR ") from the text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, tuple) and other[0] == "error" and self.text.endswith(other[1])

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Err({self.text!r})"


def as_python(value: Value, peer: str) -> Any:
    """What redis-py (``peer="redis"``) or hiredis returns for ``value``, errors as ("error", text)."""
    if isinstance(value, (SimpleString, BulkString)):
        return value.value
    if isinstance(value, (SimpleError, BulkError)):
        return Err(value.value.decode())
    if isinstance(value, (Integer, Boolean, Double)):
        return value.value
    if isinstance(value, BigNumber):
        return value.value if peer == "redis" else str(value.value).encode()
    if isinstance(value, Null):
        return None
    if isinstance(value, VerbatimString):
        return value.value
    if isinstance(value, (Array, Set, Push)):
        return [as_python(item, peer) for item in value.items]
    if isinstance(value, Map):
        return {as_python(k, peer): as_python(v, peer) for k, v in value.pairs}
    raise AssertionError(value)


def normalise(reply: Any) -> Any:
    if isinstance(reply, (ResponseError, hiredis.ReplyError)):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [normalise(r) for r in reply]
    if isinstance(reply, dict):
        return {normalise(k): normalise(v) for k, v in reply.items()}
    return reply


REPLIES: list[Value] = [
    SimpleString(b"OK"), SimpleError(b"ERR unknown command"), SimpleError(b"WRONGTYPE Operation"),
    Integer(-42), BulkString(b"bin\r\n\x00"), Array((Integer(1), Array((BulkString(b"a"), Array())))),
]
# RESP2's two nulls; redis-py's RESP3 parser expects RESP3's "_" instead and cannot read these.
RESP2_NULLS: list[Value] = [NULL_BULK_STRING, NULL_ARRAY, Array((NULL_BULK_STRING, Integer(1)))]
RESP3_REPLIES: list[Value] = [
    NULL, Boolean(True), Boolean(False), Double(3.25), Double(-1e300), BigNumber(-(10**40)),
    VerbatimString(b"txt", b"some\r\ntext"),
    Map(((BulkString(b"a"), Integer(1)), (Integer(2), Set((NULL,))))),
    Set((BulkString(b"x"), Integer(3))), Push((BulkString(b"message"), BulkString(b"ch"), BulkString(b"hi"))),
]


@pytest.mark.parametrize("protocol", [RESP2, RESP3])
def test_our_replies_parse_in_redis_py(protocol: int) -> None:
    values = REPLIES + ([*RESP3_REPLIES, BulkError(b"SYNTAX bad")] if protocol == RESP3 else RESP2_NULLS)
    wire = b"".join(encode(v, protocol) for v in values)
    assert [normalise(r) for r in redis_py_parse(wire, protocol)] == [as_python(v, "redis") for v in values]


def test_our_replies_parse_in_hiredis() -> None:
    values = REPLIES + RESP2_NULLS + RESP3_REPLIES  # hiredis has no bulk errors
    wire = b"".join(encode(v) for v in values)
    assert [normalise(r) for r in hiredis_parse(wire)] == [as_python(v, "hiredis") for v in values]


ARGS: list[tuple[Any, ...]] = [
    ("PING",), ("SET", "key", "value"), ("SET", b"k\r\n\x00", b"\xff" * 300, 42, -7, 2.5),
    ("HSET", "h", "f1", "é", "f2", ""), ("EVAL", "return 1", 0),
]


@pytest.mark.parametrize("args", ARGS)
def test_commands_from_redis_py_and_hiredis_decode_here(args: tuple[Any, ...]) -> None:
    expected = tuple(a if isinstance(a, bytes) else str(a).encode() for a in args)
    for wire in (b"".join(Connection().pack_command(*args)), hiredis.pack_command(args)):
        decoder = Decoder(peer=Peer.CLIENT)
        for i in range(len(wire)):
            decoder.receive_data(wire[i : i + 1])
        event = decoder.next_event()
        assert event is not NEED_DATA
        assert command_args(event) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("args", ARGS)
def test_our_commands_are_redis_py_bytes(args: tuple[Any, ...]) -> None:
    assert encode_command(*args) == b"".join(Connection().pack_command(*args))


key_scalars = st.one_of(
    st.binary(max_size=8).map(BulkString), st.integers(MIN_INTEGER, MAX_INTEGER).map(Integer),
)
scalars = st.one_of(
    key_scalars, st.binary(max_size=8).filter(lambda b: b"\r" not in b and b"\n" not in b).map(SimpleString),
    st.just(NULL), st.booleans().map(Boolean), st.floats(allow_nan=False).map(Double),
    st.integers(min_value=2**64, max_value=2**80).map(BigNumber),
)
values = st.recursive(
    scalars,
    lambda c: st.one_of(
        st.lists(c, max_size=3).map(tuple).map(Array),
        st.lists(c, max_size=3).map(tuple).map(Set),
        st.dictionaries(key_scalars, c, max_size=3).map(lambda d: Map(tuple(d.items()))),
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=4))
def test_generated_replies_agree_with_both_peers(replies: list[Value]) -> None:
    wire = b"".join(encode(v) for v in replies)
    assert [normalise(r) for r in hiredis_parse(wire)] == [as_python(v, "hiredis") for v in replies]
    assert [normalise(r) for r in redis_py_parse(wire, RESP3)] == [as_python(v, "redis") for v in replies]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=8), st.integers()), max_size=6))
def test_generated_commands_from_redis_py_decode_here(args: list[Any]) -> None:
    args = ["CMD", *args]  # redis-py splits the command name on spaces
    wire = b"".join(Connection().pack_command(*args))
    decoder = Decoder(peer=Peer.CLIENT)
    decoder.receive_data(wire)
    event = decoder.next_event()
    assert command_args(event) == tuple(  # type: ignore[arg-type]
        a if isinstance(a, bytes) else str(a).encode() for a in args)
