"""Property tests: generated messages and streams round-trip; arbitrary bytes decode or raise
RemoteProtocolError, nothing else; read_field agrees with a full decode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.protobuf import (
    CLOSED,
    NEED_DATA,
    SCALAR_TYPES,
    Field,
    MessageDecoder,
    MessageReceived,
    RemoteProtocolError,
    WireType,
    decode_fields,
    decode_packed,
    decompress,
    encode_fields,
    encode_message,
    encode_packed,
    encode_varint,
    read_field,
    read_fields,
    read_varint,
    scalar_field,
    scalar_value,
    zigzag_decode,
    zigzag_encode,
)

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(st.integers(1, 20), st.integers(1, 2**29 - 1))
u64 = st.integers(0, 2**64 - 1)


def _fields(children: st.SearchStrategy[list[Field]]) -> st.SearchStrategy[list[Field]]:
    return st.lists(st.one_of(
        st.builds(Field, numbers, st.just(WireType.VARINT), u64),
        st.builds(Field, numbers, st.just(WireType.I64), u64),
        st.builds(Field, numbers, st.just(WireType.I32), st.integers(0, 2**32 - 1)),
        st.builds(Field, numbers, st.just(WireType.LEN), st.binary(max_size=20)),
        st.builds(Field, numbers, st.just(WireType.SGROUP), children),
    ), max_size=6)


messages: st.SearchStrategy[list[Field]] = st.recursive(st.just([]), _fields, max_leaves=20)


@FAST
@given(messages)
def test_fields_round_trip(fields: list[Field]) -> None:
    data = encode_fields(fields)
    assert decode_fields(data) == fields
    assert encode_fields(decode_fields(data)) == data


@FAST
@given(messages, numbers)
def test_read_field_agrees_with_decode(fields: list[Field], number: int) -> None:
    data = encode_fields(fields)
    same = [f for f in fields if f.number == number]
    assert read_fields(data, number) == same
    assert read_field(data, number) == (same[-1] if same else None)


@settings(max_examples=300, deadline=None)
@given(u64)
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert len(data) <= 10
    assert read_varint(data, 0, len(data)) == (value, len(data))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1))
def test_zigzag_round_trip(value: int) -> None:
    encoded = zigzag_encode(value)
    assert 0 <= encoded < 2**64
    assert zigzag_decode(encoded) == value


def _values(type_name: str) -> st.SearchStrategy[int | float | bool]:
    i32, i64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
    bounds = {"int32": i32, "sint32": i32, "enum": i32, "sfixed32": i32, "int64": i64, "sint64": i64,
              "sfixed64": i64, "uint32": (0, 2**32 - 1), "fixed32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
              "fixed64": (0, 2**64 - 1)}
    if type_name == "bool":
        return st.booleans()
    if type_name == "float":
        return st.floats(width=32, allow_nan=False)
    if type_name == "double":
        return st.floats(allow_nan=False)
    return st.integers(*bounds[type_name])


scalars = st.sampled_from(sorted(SCALAR_TYPES)).flatmap(
    lambda name: st.tuples(st.just(name), st.lists(_values(name), max_size=8)))


@FAST
@given(scalars, numbers)
def test_scalars_round_trip(case: tuple[str, list[int | float | bool]], number: int) -> None:
    type_name, values = case
    fields = [scalar_field(number, type_name, v) for v in values]
    decoded = decode_fields(encode_fields(fields))
    assert [scalar_value(f, type_name) for f in decoded] == values
    assert decode_packed(encode_packed(values, type_name), type_name) == values


def _decodes_or_refuses(data: bytes) -> None:
    try:
        fields = decode_fields(data)
    except RemoteProtocolError:
        pass
    else:
        again = encode_fields(fields)
        assert decode_fields(again) == fields
        assert len(again) <= len(data)  # canonical varints are never longer
    for path in ((1,), (2,), (1, 1), (2, 3, 1)):
        try:
            found = read_field(data, *path)
        except RemoteProtocolError:
            continue
        assert found is None or isinstance(found, Field)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _decodes_or_refuses(data)


@FAST
@given(messages, st.data())
def test_fuzz_mutated_messages(fields: list[Field], data: st.DataObject) -> None:
    raw = bytearray(encode_fields(fields))
    if raw:
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _decodes_or_refuses(bytes(raw[:cut]))
    _decodes_or_refuses(bytes(raw))


@FAST
@given(st.binary(max_size=64), st.sampled_from(["gzip", "deflate", "identity", "zstd"]))
def test_fuzz_decompress(data: bytes, encoding: str) -> None:
    try:
        out = decompress(data, encoding, 1000)
    except RemoteProtocolError:
        return
    assert len(out) <= 1000


stream_messages = st.lists(st.tuples(st.binary(max_size=300), st.sampled_from([None, "gzip"])), max_size=6)


@FAST
@given(stream_messages, st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_framing_any_split(items: list[tuple[bytes, str | None]], sizes: list[int]) -> None:
    stream = b"".join(encode_message(m, coding) for m, coding in items)
    decoder = MessageDecoder("gzip")
    got: list[MessageReceived] = []
    pos = i = 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        decoder.receive_data(stream[pos : pos + size])
        pos, i = pos + size, i + 1
        while (event := decoder.next_event()) is not NEED_DATA:
            assert isinstance(event, MessageReceived)
            got.append(event)
    decoder.receive_data(b"")
    assert decoder.next_event() is CLOSED
    assert [(e.data, e.compressed) for e in got] == [(m, coding is not None) for m, coding in items]


@FAST
@given(st.binary(max_size=200), st.integers(1, 16), st.sampled_from([None, "gzip", "deflate"]))
def test_fuzz_message_decoder(data: bytes, size: int, encoding: str | None) -> None:
    decoder = MessageDecoder(encoding, max_message_size=100)
    error: RemoteProtocolError | None = None
    try:
        for i in range(0, len(data), size):
            decoder.receive_data(data[i : i + size])
            while (event := decoder.next_event()) is not NEED_DATA:
                assert isinstance(event, MessageReceived)
                assert len(event.data) <= 100
        decoder.receive_data(b"")
        assert decoder.next_event() is CLOSED
    except RemoteProtocolError as exc:
        error = exc
    if error is not None:
        assert error.trailers()[0][0] == b"grpc-status"
