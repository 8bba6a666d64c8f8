"""python-hessian's Hessian 2 parser (``pyhessian.parser.ParserV2``) as the independent peer: what we
encode, it reads back as the values we meant.

One direction only: python-hessian's encoder writes Hessian 1. The other direction is covered by
dubbo-python's Hessian 2 writer in ``tests/unit/codec/dubbo/test_dubbo_peer.py``. The peer's own
bugs bound what is generated: its 'R'/'S' string reader drops the characters x7a-x7f and cannot read
a compact final chunk, it does not number empty lists as references, and it divides thousandths
by 1000.0 where Java multiplies by 0.001 (so doubles are compared to the last bit or two).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

# python-hessian is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("pyhessian.parser", reason="python-hessian is the peer: pip install python-hessian")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhessian.parser import Parser, ParserV2  # type: ignore[import-untyped]  # no stubs
from pyhessian.protocol import Binary, Object  # type: ignore[import-untyped]

from pipework.codec.hessian import Encoder, HessianObject, Long, TypedList, TypedMap, encode


def peer_decode(data: bytes) -> Any:
    """One value read by the peer, which must consume every octet."""
    parser = Parser()
    parser._stream = io.BytesIO(data)
    with warnings.catch_warnings():  # the peer reads dates with utcfromtimestamp, deprecated in 3.12
        warnings.simplefilter("ignore", DeprecationWarning)
        value = ParserV2(parser)._read_object()
    assert parser._stream.read() == b"", "the peer left octets unread"
    return value


def plain(value: Any) -> Any:
    """The peer's and our values in one comparable shape."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, Object):
        return ("object", f"{type(value).__module__}.{type(value).__name__}",
                {k: plain(v) for k, v in value.__getstate__().items()})
    if isinstance(value, HessianObject):
        return ("object", value.type_name, {k: plain(v) for k, v in value.fields.items()})
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return value


def test_every_type_reads_back() -> None:
    value = [
        None, True, False, 0, -16, 47, 300, -70000, 2**31 - 1, Long(7), Long(-2048), Long(2**40),
        0.0, 1.0, -128.0, 32767.0, 12.25, 0.1, 1e300, float("inf"),
        "", "hello", "é" * 40, "x\U0001f600y", b"", b"\x01\x02", b"b" * 2000, b"c" * 70000,
        datetime(1998, 5, 8, 9, 51, 31, tzinfo=UTC), datetime(1998, 5, 8, 9, 51, tzinfo=UTC),
        [1, [2, [3]]], TypedList("[int", list(range(9))), TypedList("[int", [1]),
        {"a": 1, 2: "b"}, TypedMap("java.util.TreeMap", {"k": "v"}),
        HessianObject("example.Car", {"color": "red", "model": "corvette"}),
        HessianObject("example.Car", {"color": "green", "model": "civic"}),
    ]
    assert plain(peer_decode(encode(value))) == plain(value)


def test_long_string_in_chunks() -> None:
    text = "abcdefghijklmnopqrstuvwxy" * 1400  # 35,000 units: one 'R' chunk, then a final 'S' chunk
    assert peer_decode(encode(text)) == text


def test_shared_and_circular_values() -> None:
    shared = {"k": [1, 2]}
    node = HessianObject("example.Node", {"value": 1, "next": None})
    node.fields["next"] = node
    got = peer_decode(encode([shared, shared, node]))
    assert got[0] is got[1]
    assert got[2].next is got[2]


def test_values_sharing_one_stream() -> None:
    enc = Encoder()
    car = HessianObject("example.Car", {"color": "red"})
    enc.write(TypedList("[int", [1]))
    enc.write(car)
    enc.write(TypedList("[int", [2]))  # a type reference
    enc.write(HessianObject("example.Car", {"color": "blue"}))  # a class reference
    enc.write(car)  # a value reference
    parser = Parser()
    parser._stream = io.BytesIO(enc.getvalue())
    adapter = ParserV2(parser)
    got = [adapter._read_object() for _ in range(5)]
    assert [plain(v) for v in got[:4]] == [[1], ("object", "example.Car", {"color": "red"}), [2],
                                             ("object", "example.Car", {"color": "blue"})]
    assert got[4] is got[1]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1).map(Long),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30), st.binary(max_size=30),
    st.integers(0, 4_000_000_000).map(lambda s: _EPOCH + timedelta(seconds=s)),
)
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, min_size=1, max_size=6),
    st.dictionaries(st.text(max_size=8), children, max_size=5),
    st.builds(HessianObject, st.sampled_from(["a.A", "a.B"]), st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=6), children, max_size=4)),
), max_leaves=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_generated_values_read_back(value: Any) -> None:
    assert plain(peer_decode(encode(value))) == plain(value)
