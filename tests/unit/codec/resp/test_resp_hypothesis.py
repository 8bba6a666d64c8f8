"""Property tests: generated values round-trip in any chunking; any bytes decode or raise RESPError."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.resp import (
    CLOSED,
    MAX_INTEGER,
    MIN_INTEGER,
    NEED_DATA,
    NULL,
    NULL_ARRAY,
    NULL_BULK_STRING,
    RESP2,
    RESP3,
    Array,
    Attribute,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Decoder,
    Double,
    Integer,
    Map,
    Peer,
    Push,
    RESPError,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
    decode,
    encode,
)

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Recursive values cost more to generate than to check; fewer examples keep the suite quick.
VALUES = settings(FAST, max_examples=50)

line = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
blob = st.binary(max_size=24)
resp2_scalars = st.one_of(
    line.map(SimpleString), line.map(SimpleError), st.integers(MIN_INTEGER, MAX_INTEGER).map(Integer),
    blob.map(BulkString), st.sampled_from([NULL_BULK_STRING, NULL_ARRAY]),
)
resp3_scalars = st.one_of(
    resp2_scalars, st.just(NULL), st.booleans().map(Boolean),
    st.floats(allow_nan=False).map(Double), st.integers().map(BigNumber), blob.map(BulkError),
    st.tuples(st.sampled_from([b"txt", b"mkd"]), blob).map(lambda t: VerbatimString(*t)),
)


def _pairs(children: st.SearchStrategy[Value]) -> st.SearchStrategy[tuple[tuple[Value, Value], ...]]:
    return st.lists(st.tuples(children, children), max_size=3).map(tuple)


def _resp3_nested(children: st.SearchStrategy[Value]) -> st.SearchStrategy[Value]:
    items = st.lists(children, max_size=4).map(tuple)
    return st.one_of(
        items.map(Array), items.map(Set), _pairs(children).map(Map),
        st.tuples(_pairs(children), children).map(lambda t: Attribute(*t)),
    )


resp2_values = st.recursive(resp2_scalars, lambda c: st.lists(c, max_size=4).map(tuple).map(Array),
                            max_leaves=12)
resp3_inner = st.recursive(resp3_scalars, _resp3_nested, max_leaves=12)
resp3_values = st.one_of(resp3_inner, st.lists(resp3_inner, max_size=3).map(tuple).map(Push))


def _same(a: Value, b: Value) -> bool:
    return encode(a) == encode(b)  # NaN-proof equality


def _decode_chunked(wire: bytes, protocol: int, cuts: list[int]) -> list[object]:
    decoder = Decoder(protocol)
    events: list[object] = []
    start = 0
    for cut in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        decoder.receive_data(wire[start:cut]) if cut > start else None
        start = max(start, cut)
        while (event := decoder.next_event()) is not NEED_DATA:
            events.append(event)
    return events


@VALUES
@given(st.lists(resp3_values, min_size=1, max_size=3), st.lists(st.integers(0, 10_000), max_size=6))
def test_resp3_round_trip_in_any_chunks(values: list[Value], cuts: list[int]) -> None:
    wire = b"".join(encode(v) for v in values)
    assert _decode_chunked(wire, RESP3, cuts) == values


@VALUES
@given(st.lists(resp2_values, min_size=1, max_size=3), st.lists(st.integers(0, 10_000), max_size=6))
def test_resp2_round_trip_in_any_chunks(values: list[Value], cuts: list[int]) -> None:
    wire = b"".join(encode(v, RESP2) for v in values)
    assert _decode_chunked(wire, RESP2, cuts) == values


@VALUES
@given(resp3_values)
def test_encode_decode_encode_is_stable(value: Value) -> None:
    wire = encode(value)
    result = decode(wire)
    assert result is not None
    assert result[1] == len(wire)
    assert encode(result[0]) == wire


@FAST
@given(st.floats())
def test_any_float_round_trips(number: float) -> None:
    result = decode(encode(Double(number)))
    assert result is not None
    decoded = result[0]
    assert isinstance(decoded, Double)
    assert decoded.value == number or (math.isnan(number) and math.isnan(decoded.value))


def _decodes_or_raises(data: bytes, protocol: int, peer: Peer | None) -> None:
    decoder = Decoder(protocol, peer=peer, max_bulk_length=64, max_elements=64, max_depth=8)
    if data:
        decoder.receive_data(data)
    decoder.receive_data(b"")
    try:
        while decoder.next_event() is not CLOSED:
            pass
    except RESPError:
        pass


TYPE_BYTES = st.sampled_from(list(b"+-:$*_#,(!=%~|>\r\n0123456789-?"))


@FAST
@given(st.binary(max_size=64), st.sampled_from([RESP2, RESP3]), st.sampled_from([None, Peer.CLIENT]))
def test_fuzz_arbitrary_bytes(data: bytes, protocol: int, peer: Peer | None) -> None:
    _decodes_or_raises(data, protocol, peer)


@FAST
@given(st.lists(TYPE_BYTES, max_size=48).map(bytes), st.sampled_from([None, Peer.CLIENT]))
def test_fuzz_protocol_alphabet(data: bytes, peer: Peer | None) -> None:
    _decodes_or_raises(data, RESP3, peer)


@VALUES
@given(resp3_values, st.integers(0, 10_000), st.integers(0, 255))
def test_fuzz_mutated_valid_encodings(value: Value, where: int, byte: int) -> None:
    wire = bytearray(encode(value))
    wire[where % len(wire)] = byte
    _decodes_or_raises(bytes(wire), RESP3, None)
    _decodes_or_raises(bytes(wire[: where % len(wire)]), RESP3, None)
