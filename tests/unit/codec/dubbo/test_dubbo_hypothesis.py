"""Property tests: generated messages round-trip whole and through the stream decoder in any split;
arbitrary and mutated octets decode or raise the codec's error, nothing else."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.dubbo import (
    NEED_DATA,
    DubboError,
    Event,
    Message,
    Request,
    Response,
    Status,
    StreamDecoder,
    decode,
    encode,
    peek_invocation,
)
from pipework.codec.hessian import HessianObject, Long, TypedList

# Bounded so that the Hessian and Dubbo suites together stay within ~15 s.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
ROUND_TRIP = settings(max_examples=60, **_COMMON)  # type: ignore[arg-type]
FUZZ = settings(max_examples=300, **_COMMON)  # type: ignore[arg-type]

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
IDS = st.integers(-(2**63), 2**63 - 1)
leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31 - 1),
                   st.integers(-(2**63), 2**63 - 1).map(Long), st.floats(allow_nan=False), TEXT,
                   st.binary(max_size=20))
values = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(TEXT, children, max_size=3),
    st.builds(HessianObject, st.sampled_from(["org.demo.User", "java.lang.Exception"]),
              st.dictionaries(st.text("abcdef", min_size=1, max_size=5), children, max_size=3)),
), max_leaves=8)
attachments = st.dictionaries(TEXT, TEXT, max_size=3)

# (descriptor, strategy for one argument of that type)
PARAMETERS: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("Ljava/lang/String;", TEXT), ("I", st.integers(-(2**31), 2**31 - 1)), ("J", st.integers().map(
        lambda i: Long(i % 2**63))), ("D", st.floats(allow_nan=False)), ("Z", st.booleans()),
    ("[B", st.binary(max_size=30)), ("Ljava/lang/Object;", values),
    ("Ljava/util/List;", st.lists(values, max_size=3).map(lambda v: TypedList("java.util.ArrayList", v))),
]


@st.composite
def requests(draw: st.DrawFn) -> Request:
    params = draw(st.lists(st.sampled_from(PARAMETERS), max_size=4))
    return Request(draw(IDS), draw(TEXT), draw(TEXT), "".join(d for d, _ in params),
                   [draw(strategy) for _, strategy in params], draw(attachments),
                   draw(st.none() | TEXT), draw(st.none() | st.just("2.0.2")), draw(st.booleans()))


responses = st.one_of(
    st.builds(Response, IDS, st.just(Status.OK), values.filter(lambda v: v is not None),
              st.none(), st.none() | attachments),
    st.builds(Response, IDS, st.just(Status.OK), st.none(), st.builds(
        HessianObject, st.just("java.lang.RuntimeException"), st.fixed_dictionaries({"detailMessage": TEXT})),
        st.none() | attachments),
    st.builds(Response, IDS, st.sampled_from([s for s in Status if s != Status.OK]),
              error_message=st.none() | TEXT),
)
events = st.one_of(
    st.builds(Event, IDS, st.just(True), st.sampled_from([None, "R"]), st.booleans()),
    st.builds(Event, IDS, st.just(False), st.sampled_from([None, "R"]), st.just(False)),
)
messages: st.SearchStrategy[Message] = st.one_of(requests(), responses, events)


@ROUND_TRIP
@given(messages)
def test_round_trip(message: Message) -> None:
    octets = encode(message)
    got = decode(octets)
    assert got == (message, len(octets))
    assert got is not None
    assert encode(got[0]) == octets
    if isinstance(message, Request):
        invocation = peek_invocation(octets)
        assert invocation is not None
        assert (invocation.service, invocation.version, invocation.method) == (
            message.path, message.version, message.method)


@ROUND_TRIP
@given(st.lists(messages, min_size=1, max_size=4), st.lists(st.integers(1, 40), min_size=1, max_size=10))
def test_stream_any_split(batch: list[Message], sizes: list[int]) -> None:
    stream = b"".join(encode(m) for m in batch)
    decoder = StreamDecoder()
    got: list[Message] = []
    pos = 0
    for size in itertools.cycle(sizes):
        if pos >= len(stream):
            break
        decoder.receive_data(stream[pos:pos + size])
        pos += size
        while (event := decoder.next_event()) is not NEED_DATA:
            assert isinstance(event, (Request, Response, Event))
            got.append(event)
    assert got == batch


@FUZZ
@given(st.binary(max_size=120))
def test_fuzz_arbitrary_octets(data: bytes) -> None:
    for candidate in (data, b"\xda\xbb" + data):
        try:
            decode(candidate)
        except DubboError:
            pass
        try:
            peek_invocation(candidate)
        except DubboError:
            pass


@ROUND_TRIP
@given(messages, st.data())
def test_fuzz_mutated_frames(message: Message, data: st.DataObject) -> None:
    octets = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(2, len(octets) - 1))  # keep the magic: reach the body
        octets[at] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(octets))
    except DubboError:
        pass


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
def test_fuzz_stream(chunks: list[bytes]) -> None:
    decoder = StreamDecoder()
    try:
        for chunk in [b"\xda\xbb", *chunks, b""]:
            decoder.receive_data(chunk)
            while (event := decoder.next_event()) is not NEED_DATA:
                if not isinstance(event, (Request, Response, Event)):
                    return
    except DubboError:
        pass
