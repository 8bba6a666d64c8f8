"""Property tests: generated values round-trip (and re-encode to the same octets); arbitrary and
mutated octets decode or raise the codec's error, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.hessian import (
    Decoder,
    Encoder,
    HessianError,
    HessianObject,
    Long,
    RemoteProtocolError,
    TypedList,
    TypedMap,
    decode,
    encode,
)

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
# Bounded so that the Hessian and Dubbo suites together stay within ~15 s.
ROUND_TRIP = settings(max_examples=40, **_COMMON)  # type: ignore[arg-type]
FUZZ = settings(max_examples=300, **_COMMON)  # type: ignore[arg-type]

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
NAMES = st.text("abcdefghijklmnopqrstuvwxyz._$[", min_size=1, max_size=12)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis_date(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Long),
    st.floats(allow_nan=False),
    TEXT,
    st.binary(max_size=40),
    st.integers(-62135596800000, 253402300799999).map(_millis_date),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.one_of(TEXT, st.integers(-1000, 1000))
    return st.one_of(
        st.lists(children, max_size=10),
        st.builds(TypedList, NAMES, st.lists(children, max_size=10)),
        st.dictionaries(keys, children, max_size=6),
        st.builds(TypedMap, NAMES, st.dictionaries(keys, children, max_size=6)),
        st.builds(HessianObject, st.sampled_from(["a.A", "a.B", "java.lang.Exception"]),
                  st.dictionaries(NAMES, children, max_size=5)),
    )


values = st.recursive(scalars, _containers, max_leaves=15)


@ROUND_TRIP
@given(values)
def test_round_trip(value: Any) -> None:
    data = encode(value)
    got = decode(data)
    assert got == value
    assert encode(got) == data


@ROUND_TRIP
@given(st.lists(values, min_size=1, max_size=4))
def test_values_share_one_stream(items: list[Any]) -> None:
    """Several values in one stream (as in a Dubbo body) share definitions and references."""
    shared = items[0]
    enc = Encoder()
    for item in [*items, shared]:
        enc.write(item)
    d = Decoder(enc.getvalue())
    got = [d.read() for _ in range(len(items) + 1)]
    assert d.at_end()
    assert got[:-1] == items
    if isinstance(shared, (list, dict, HessianObject)):
        assert got[-1] is got[0]


@ROUND_TRIP
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_double_keeps_its_bits(value: float) -> None:
    data = encode(value)
    assert encode(decode(data)) == data
    assert repr(decode(data)) == repr(value)


@ROUND_TRIP
@given(st.integers(0x8000 - 40, 0x8000 + 2), TEXT)
def test_long_strings_around_the_chunk_size(pad: int, tail: str) -> None:
    text = "é" * pad + tail
    assert decode(encode(text)) == text


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_octets(data: bytes) -> None:
    try:
        decode(data)
    except HessianError:
        pass


@ROUND_TRIP
@given(values, st.data())
def test_fuzz_mutated_encodings(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(encoded) - 1))
        encoded[at] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(encoded))
    except HessianError:
        pass


@ROUND_TRIP
@given(values, st.integers(0, 10_000))
def test_truncation_is_reported_as_such(value: Any, cut: int) -> None:
    data = encode(value)
    cut %= len(data)
    try:
        decode(data[:cut])
    except RemoteProtocolError:
        pass
    else:
        raise AssertionError("a proper prefix decoded")
