"""Property tests: generated values round-trip in both protocols; arbitrary bytes decode or raise the
codec's error, nothing else; ``skip`` agrees with decoding; any chunking gives the same messages."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.thrift import (
    NEED_DATA,
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
    decode_message,
    decode_message_prefix,
    decode_struct,
    encode_message,
    encode_struct,
    peek_header,
    skip,
)

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T = TType
SCALARS = [T.BOOL, T.BYTE, T.I16, T.I32, T.I64, T.DOUBLE, T.STRING, T.UUID]
CONTAINERS = [T.STRUCT, T.LIST, T.SET, T.MAP]
protocols = st.sampled_from([Protocol.BINARY, Protocol.COMPACT])


def types_for(depth: int) -> list[TType]:
    return SCALARS + CONTAINERS if depth > 0 else SCALARS


def value_of(t: TType, depth: int) -> st.SearchStrategy[Any]:
    """Values of type ``t``, nesting at most ``depth`` more levels."""
    if t is T.BOOL:
        return st.booleans()
    if t is T.BYTE:
        return st.integers(-(2**7), 2**7 - 1)
    if t is T.I16:
        return st.integers(-(2**15), 2**15 - 1)
    if t is T.I32:
        return st.integers(-(2**31), 2**31 - 1)
    if t is T.I64:
        return st.integers(-(2**63), 2**63 - 1)
    if t is T.DOUBLE:
        return st.floats(allow_nan=False)
    if t is T.STRING:
        return st.binary(max_size=12)
    if t is T.UUID:
        return st.uuids()
    if t is T.STRUCT:
        return structs(depth - 1)
    elements = st.sampled_from(types_for(depth - 1))
    if t is T.MAP:
        def make_map(kv: tuple[TType, TType]) -> st.SearchStrategy[TMap]:
            pairs = st.lists(st.tuples(value_of(kv[0], depth - 1), value_of(kv[1], depth - 1)), max_size=3)
            # An empty map carries no types in the compact protocol: they come back as STOP.
            return pairs.map(lambda items: TMap(kv[0], kv[1], items) if items else TMap(T.STOP, T.STOP, []))
        return st.tuples(elements, elements).flatmap(make_map)
    cls = TList if t is T.LIST else TSet
    return elements.flatmap(lambda et: st.lists(value_of(et, depth - 1), max_size=4).map(
        lambda items: cls(et, items)))


@st.composite
def structs(draw: st.DrawFn, depth: int = 3) -> Struct:
    ids = draw(st.lists(st.integers(-20, 40) | st.integers(-(2**15), 2**15 - 1), unique=True, max_size=5))
    fields: Struct = {}
    for fid in ids:
        t = draw(st.sampled_from(types_for(depth)))
        fields[fid] = (t, draw(value_of(t, depth)))
    return fields


messages = st.builds(
    Message,
    st.text(max_size=10).filter(lambda name: "\ud800" not in name),
    st.sampled_from(list(MessageType)),
    st.integers(-(2**31), 2**31 - 1),
    structs(),
)


@FAST
@given(structs(), protocols)
def test_struct_round_trip(fields: Struct, protocol: Protocol) -> None:
    data = encode_struct(fields, protocol)
    decoded = decode_struct(data, protocol)
    assert decoded == fields
    assert list(decoded) == list(fields)  # wire order is kept
    assert encode_struct(decoded, protocol) == data
    assert skip(data, protocol) == len(data)


@FAST
@given(structs())
def test_both_protocols_carry_the_same_values(fields: Struct) -> None:
    binary = decode_struct(encode_struct(fields, Protocol.BINARY), Protocol.BINARY)
    compact = decode_struct(encode_struct(fields, Protocol.COMPACT), Protocol.COMPACT)
    assert binary == compact == fields


@FAST
@given(messages, protocols, st.booleans())
def test_message_round_trip(message: Message, protocol: Protocol, strict: bool) -> None:
    data = encode_message(message, protocol, strict=strict)
    assert decode_message(data, protocol) == message
    header = peek_header(data, protocol)
    assert header is not None
    assert (header.name, header.type, header.seqid) == (message.name, message.type, message.seqid)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, max_size=5), protocols, st.sampled_from(list(Transport)),
       st.lists(st.integers(1, 50), min_size=1, max_size=8))
def test_stream_reassembles_any_chunking(
    items: list[Message], protocol: Protocol, transport: Transport, sizes: list[int]
) -> None:
    framed = transport is Transport.FRAMED
    stream = b"".join(encode_message(m, protocol, framed=framed) for m in items)
    decoder = StreamDecoder(protocol, transport)
    got: list[object] = []
    pos = i = 0
    while pos < len(stream):
        decoder.receive_data(stream[pos:pos + sizes[i % len(sizes)]])
        pos, i = pos + sizes[i % len(sizes)], i + 1
        while (event := decoder.next_event()) is not NEED_DATA:
            got.append(event)
    assert got == items


def _decodes_or_raises(data: bytes, protocol: Protocol) -> None:
    """The fuzz invariant: a message, or RemoteProtocolError; what decodes re-encodes stably."""
    try:
        message, end = decode_message_prefix(data, protocol)
    except RemoteProtocolError:
        return
    assert 0 < end <= len(data)
    once = encode_message(message, protocol)
    assert encode_message(decode_message(once, protocol), protocol) == once


def _skip_agrees(data: bytes, protocol: Protocol) -> None:
    """``skip`` accepts everything ``decode_struct`` accepts, and ends where it ends."""
    try:
        end = skip(data, protocol)
    except RemoteProtocolError:
        end = -1
    try:
        fields, used = decode_message_prefix(b"\x82\x21\x00\x00" + data if protocol is Protocol.COMPACT
                                             else b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00" + data,
                                             protocol)
    except RemoteProtocolError:
        return
    assert end == used - (4 if protocol is Protocol.COMPACT else 12)
    # compare encodings, not values: a mutated double may be NaN, which equals nothing
    again = decode_struct(data[:end], protocol)
    assert encode_struct(fields.body, protocol) == encode_struct(again, protocol)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), protocols)
def test_fuzz_arbitrary_bytes(data: bytes, protocol: Protocol) -> None:
    _decodes_or_raises(data, protocol)
    _skip_agrees(data, protocol)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), protocols)
def test_fuzz_bodies_behind_a_valid_header(body: bytes, protocol: Protocol) -> None:
    head = encode_message(Message("f", MessageType.CALL, 1, {}), protocol)[:-1]
    _decodes_or_raises(head + body, protocol)
    _skip_agrees(body, protocol)


@FAST
@given(messages, protocols, st.data())
def test_fuzz_mutated_messages(message: Message, protocol: Protocol, data: st.DataObject) -> None:
    raw = bytearray(encode_message(message, protocol))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _decodes_or_raises(bytes(raw), protocol)
    try:
        header = peek_header(bytes(raw), protocol)
    except RemoteProtocolError:
        return
    if header is not None:
        _skip_agrees(bytes(raw[header.body_offset:]), protocol)


@FAST
@given(st.binary(max_size=200), protocols, st.sampled_from(list(Transport)), st.integers(1, 16))
def test_fuzz_stream_decoder(data: bytes, protocol: Protocol, transport: Transport, size: int) -> None:
    decoder = StreamDecoder(protocol, transport)
    reply: object = None
    try:
        for i in range(0, len(data), size):
            decoder.receive_data(data[i:i + size])
            while (event := decoder.next_event()) is not NEED_DATA:
                assert isinstance(event, Message)
        decoder.receive_data(b"")
        decoder.next_event()
    except RemoteProtocolError as exc:
        reply = exc.reply
    assert reply is None or isinstance(reply, bytes)
