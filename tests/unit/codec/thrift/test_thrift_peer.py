"""The ``thrift`` library (Apache Thrift's lib/py) as the independent peer: what its TBinaryProtocol and
TCompactProtocol write, over a TMemoryBuffer and a TFramedTransport, decodes to the values it was
given, and what we encode reads back through its generic protocol calls and ``skip``."""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import pytest

# thrift is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("thrift.protocol.TCompactProtocol", reason="thrift is the peer: pip install thrift")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException
from thrift.Thrift import TType as LibType
from thrift.transport.TTransport import TFramedTransport, TMemoryBuffer

from pipework.codec.thrift import (
    ApplicationErrorType,
    ApplicationException,
    Message,
    MessageType,
    Protocol,
    RemoteProtocolError,
    StreamDecoder,
    Struct,
    TList,
    TMap,
    Transport,
    TSet,
    TType,
    Value,
    decode_message,
    encode_message,
    encode_struct,
    exception_message,
    split_name,
)

LIB = {Protocol.BINARY: TBinaryProtocol, Protocol.COMPACT: TCompactProtocol}
protocols = st.sampled_from(list(LIB))
T = TType


# -- the peer's side: generic reads and writes through lib/py's TProtocol calls, no generated code --

def lib_write_value(p: Any, t: int, v: Any) -> None:
    if t == T.STRUCT:
        lib_write_struct(p, v)
    elif t in (T.LIST, T.SET):
        (p.writeListBegin if t == T.LIST else p.writeSetBegin)(v.etype, len(v.items))
        for item in v.items:
            lib_write_value(p, v.etype, item)
        (p.writeListEnd if t == T.LIST else p.writeSetEnd)()
    elif t == T.MAP:
        p.writeMapBegin(v.ktype, v.vtype, len(v.items))
        for key, item in v.items:
            lib_write_value(p, v.ktype, key)
            lib_write_value(p, v.vtype, item)
        p.writeMapEnd()
    else:
        writer = {T.BOOL: p.writeBool, T.BYTE: p.writeByte, T.I16: p.writeI16, T.I32: p.writeI32,
                  T.I64: p.writeI64, T.DOUBLE: p.writeDouble, T.STRING: p.writeBinary, T.UUID: p.writeUuid}
        writer[TType(t)](v)


def lib_write_struct(p: Any, fields: Struct) -> None:
    p.writeStructBegin("S")
    for fid, (t, value) in fields.items():
        p.writeFieldBegin("f", t, fid)
        lib_write_value(p, t, value)
        p.writeFieldEnd()
    p.writeFieldStop()
    p.writeStructEnd()


def lib_read_value(p: Any, t: int) -> Value:
    if t == T.STRUCT:
        return lib_read_struct(p)
    if t in (T.LIST, T.SET):
        etype, size = (p.readListBegin if t == T.LIST else p.readSetBegin)()
        items = [lib_read_value(p, etype) for _ in range(size)]
        (p.readListEnd if t == T.LIST else p.readSetEnd)()
        return (TList if t == T.LIST else TSet)(TType(etype), items)
    if t == T.MAP:
        ktype, vtype, size = p.readMapBegin()
        pairs = [(lib_read_value(p, ktype), lib_read_value(p, vtype)) for _ in range(size)]
        p.readMapEnd()
        return TMap(TType(ktype), TType(vtype), pairs)
    reader = {T.BOOL: p.readBool, T.BYTE: p.readByte, T.I16: p.readI16, T.I32: p.readI32,
              T.I64: p.readI64, T.DOUBLE: p.readDouble, T.STRING: p.readBinary, T.UUID: p.readUuid}
    value: Value = reader[TType(t)]()
    return value


def lib_read_struct(p: Any) -> Struct:
    p.readStructBegin()
    fields: Struct = {}
    while True:
        _, t, fid = p.readFieldBegin()
        if t == LibType.STOP:
            break
        fields[fid] = (TType(t), lib_read_value(p, t))
        p.readFieldEnd()
    p.readStructEnd()
    return fields


def lib_encode(message: Message, protocol: Protocol, *, framed: bool = False, **options: Any) -> bytes:
    buf = TMemoryBuffer()
    trans = TFramedTransport(buf) if framed else buf
    p = LIB[protocol](trans, **options)
    p.writeMessageBegin(message.name, message.type, message.seqid)
    lib_write_struct(p, message.body)
    p.writeMessageEnd()
    trans.flush()
    return bytes(buf.getvalue())


def lib_decode(
    data: bytes, protocol: Protocol, *, framed: bool = False, **options: Any
) -> tuple[Message, int]:
    """The message the peer reads from ``data``, and how many bytes it left unread."""
    buf = TMemoryBuffer(data)
    p = LIB[protocol](TFramedTransport(buf) if framed else buf, **options)
    name, mtype, seqid = p.readMessageBegin()
    body = lib_read_struct(p)
    p.readMessageEnd()
    return Message(name, MessageType(mtype), seqid, body), len(data) - buf._buffer.tell()


def lib_skip_leaves(data: bytes, protocol: Protocol) -> int:
    """Bytes left after the peer's own ``skip`` of one struct."""
    buf = TMemoryBuffer(data)
    LIB[protocol](buf).skip(LibType.STRUCT)
    left: int = len(data) - buf._buffer.tell()
    return left


# -- values for both sides --

SCALARS: dict[TType, st.SearchStrategy[Any]] = {
    T.BOOL: st.booleans(), T.BYTE: st.integers(-128, 127), T.I16: st.integers(-(2**15), 2**15 - 1),
    T.I32: st.integers(-(2**31), 2**31 - 1), T.I64: st.integers(-(2**63), 2**63 - 1),
    T.DOUBLE: st.floats(allow_nan=False), T.UUID: st.uuids(),
    # UTF-8 only: lib/py's skip() decodes every STRING as text, and fails on other bytes.
    T.STRING: st.text(st.characters(exclude_categories=["Cs"]), max_size=8).map(str.encode),
}


def values(t: TType, depth: int) -> st.SearchStrategy[Any]:
    if t in SCALARS:
        return SCALARS[t]
    if t is T.STRUCT:
        return structs(depth - 1)
    inner = st.sampled_from(list(SCALARS) + ([T.STRUCT, T.LIST, T.MAP] if depth > 1 else []))
    if t is T.MAP:
        return st.tuples(inner, inner).flatmap(lambda kv: st.lists(
            st.tuples(values(kv[0], depth - 1), values(kv[1], depth - 1)), min_size=1, max_size=3).map(
            lambda pairs: TMap(kv[0], kv[1], pairs)))
    cls = TList if t is T.LIST else TSet
    return inner.flatmap(lambda et: st.lists(values(et, depth - 1), max_size=3).map(lambda xs: cls(et, xs)))


@st.composite
def structs(draw: st.DrawFn, depth: int = 2) -> Struct:
    kinds = list(SCALARS) + ([T.STRUCT, T.LIST, T.SET, T.MAP] if depth > 0 else [])
    fields: Struct = {}
    ids = st.integers(-50, 50) | st.integers(-(2**15), 2**15 - 1)
    for fid in draw(st.lists(ids, unique=True, max_size=5)):
        t = draw(st.sampled_from(kinds))
        fields[fid] = (t, draw(values(t, depth)))
    return fields


messages = st.builds(Message, st.sampled_from(["", "ping", "Svc:getUser", "héllo"]),
                     st.sampled_from(list(MessageType)), st.integers(-(2**31), 2**31 - 1), structs())
PEER = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PEER
@given(messages, protocols)
def test_peer_bytes_decode_and_match_ours(message: Message, protocol: Protocol) -> None:
    data = lib_encode(message, protocol)
    assert decode_message(data, protocol) == message
    assert encode_message(message, protocol) == data  # the same bytes, field by field


@PEER
@given(messages, protocols)
def test_our_bytes_read_back_in_the_peer(message: Message, protocol: Protocol) -> None:
    data = encode_message(message, protocol)
    assert lib_decode(data, protocol) == (message, 0)
    header_size = len(data) - len(encode_struct(message.body, protocol))
    assert lib_skip_leaves(data[header_size:] + b"next", protocol) == 4


@PEER
@given(messages, protocols)
def test_framed_both_ways(message: Message, protocol: Protocol) -> None:
    data = lib_encode(message, protocol, framed=True)
    assert data == encode_message(message, protocol, framed=True)
    decoder = StreamDecoder(protocol, Transport.FRAMED)
    decoder.receive_data(data)
    assert decoder.next_event() == message
    assert lib_decode(encode_message(message, protocol, framed=True), protocol, framed=True)[0] == message


@PEER
@given(st.lists(messages, min_size=1, max_size=4), protocols)
def test_peer_unframed_stream_is_split_by_walking(items: list[Message], protocol: Protocol) -> None:
    stream = b"".join(lib_encode(m, protocol) for m in items)
    decoder = StreamDecoder(protocol, Transport.UNFRAMED)
    got = []
    for i in range(0, len(stream), 5):
        decoder.receive_data(stream[i:i + 5])
        while isinstance(event := decoder.next_event(), Message):
            got.append(event)
    assert got == items


def test_old_binary_header_both_ways() -> None:
    message = Message("legacy", MessageType.CALL, 3, {1: (T.STRING, b"x")})
    data = lib_encode(message, Protocol.BINARY, strictWrite=False)
    assert data == encode_message(message, Protocol.BINARY, strict=False)
    assert decode_message(data, Protocol.BINARY) == message
    assert lib_decode(data, Protocol.BINARY, strictRead=False)[0] == message
    with pytest.raises(TProtocolException):
        lib_decode(data, Protocol.BINARY, strictRead=True)
    with pytest.raises(RemoteProtocolError):
        decode_message(data, Protocol.BINARY, strict=True)  # we refuse it exactly as the peer does


@pytest.mark.parametrize("protocol", list(LIB))
def test_application_exception_both_ways(protocol: Protocol) -> None:
    buf = TMemoryBuffer()
    p = LIB[protocol](buf)
    p.writeMessageBegin("getUser", 3, 17)  # TMessageType.EXCEPTION
    TApplicationException(TApplicationException.UNKNOWN_METHOD, "Unknown function getUser").write(p)
    p.writeMessageEnd()
    message = decode_message(buf.getvalue(), protocol)
    assert ApplicationException.from_message(message) == ApplicationException(
        ApplicationErrorType.UNKNOWN_METHOD, "Unknown function getUser")

    reply = exception_message("put", 9, ApplicationErrorType.PROTOCOL_ERROR, "bad args")
    ours = encode_message(reply, protocol)
    p = LIB[protocol](TMemoryBuffer(ours))
    assert p.readMessageBegin() == ("put", 3, 9)
    exc = TApplicationException()
    exc.read(p)
    assert (exc.type, exc.message) == (TApplicationException.PROTOCOL_ERROR, "bad args")


@pytest.mark.parametrize("protocol", list(LIB))
def test_our_error_reply_reads_in_the_peer(protocol: Protocol) -> None:
    call = lib_encode(Message("put", MessageType.CALL, 77, {1: (T.I32, 1)}), protocol)
    decoder = StreamDecoder(protocol, Transport.FRAMED)
    decoder.receive_data(len(call + b"\x00").to_bytes(4, "big") + call + b"\x00")
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.reply is not None
    p = LIB[protocol](TFramedTransport(TMemoryBuffer(info.value.reply)))
    assert p.readMessageBegin() == ("put", 3, 77)
    exc = TApplicationException()
    exc.read(p)
    assert exc.type == TApplicationException.PROTOCOL_ERROR


def test_multiplexed_names() -> None:
    buf = TMemoryBuffer()
    p = TMultiplexedProtocol(TBinaryProtocol(buf), "Calculator")
    p.writeMessageBegin("add", 1, 5)
    lib_write_struct(p, {})
    p.writeMessageEnd()
    message = decode_message(buf.getvalue(), Protocol.BINARY)
    assert split_name(message.name) == ("Calculator", "add")


@pytest.mark.parametrize("protocol", list(LIB))
def test_uuid_and_empty_map_layouts_agree(protocol: Protocol) -> None:
    fields: Struct = {
        1: (T.UUID, UUID("00112233-4455-6677-8899-aabbccddeeff")),
        2: (T.MAP, TMap(T.I32, T.STRING, [])),
        3: (T.SET, TSet(T.BOOL, [True, False, True])),
    }
    message = Message("u", MessageType.REPLY, 0, fields)
    data = lib_encode(message, protocol)
    assert data == encode_message(message, protocol)
    decoded = decode_message(data, protocol)
    if protocol is Protocol.COMPACT:  # an empty compact map carries no types, for both readers
        assert decoded.body[2] == (T.MAP, TMap(T.STOP, T.STOP, []))
        assert lib_decode(data, protocol)[0].body[2] == (T.MAP, TMap(T.STOP, T.STOP, []))
    else:
        assert decoded == message
