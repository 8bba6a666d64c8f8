"""dubbo-python as the independent peer: the request frames it builds decode to the invocations it
meant (and re-encode to the same octets), and the response frames we build parse in its decoder.

The peer's own limits bound what is generated: it encodes only booleans, ints, doubles, strings,
objects and non-empty lists of one element type, counts string lengths in code points (so no
characters above U+FFFF) and never chunks them; its decoder reads no binary, dates or typed maps.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

# dubbo-python is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check. It pins ZooKeeper
# and Nacos clients the codec does not need: pip install --no-deps dubbo-python
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("dubbo.codec.encoder",
                        reason="dubbo-python is the peer: pip install --no-deps dubbo-python")

from dubbo.codec.decoder import Response as PeerResponse  # type: ignore[import-untyped]  # no stubs
from dubbo.codec.decoder import parse_response_head
from dubbo.codec.encoder import Object as PeerObject  # type: ignore[import-untyped]
from dubbo.codec.encoder import Request as PeerRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.dubbo import Event, Request, Response, Status, decode, encode, peek_invocation
from pipework.codec.hessian import HessianObject, Long, TypedList


def peer_request(arguments: list[Any], path: str = "org.demo.Users", method: str = "find",
                 version: str = "1.0.0") -> bytes:
    body = {"dubbo_version": "2.0.2", "path": path, "version": version, "method": method,
            "arguments": arguments}
    return bytes(PeerRequest(body).encode())


def ours(value: Any) -> Any:
    """What our decoder gives for a value the peer encoded."""
    if isinstance(value, PeerObject):
        return HessianObject(value.get_path(), {k: ours(value[k]) for k in value.keys()})  # noqa: SIM118 - no __iter__
    if isinstance(value, list):
        return [ours(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**31) <= value < 2**31:
        return Long(value)
    return value


def theirs(value: Any) -> Any:
    """What the peer's decoder gives for a value we encoded."""
    if isinstance(value, HessianObject):
        return {k: theirs(v) for k, v in value.fields.items()}
    if isinstance(value, list):
        return [theirs(v) for v in value]
    if isinstance(value, dict):
        return {theirs(k): theirs(v) for k, v in value.items()}
    return value


def test_peer_request_decodes_and_reencodes_exactly() -> None:
    user = PeerObject("org.demo.User", {"name": "ann", "age": 3, "tags": ["a", "b"]})
    arguments = ["x" * 40, 7, -70000, 2**40, 1.5, 0.25, True, user, user, [1, 2, 3], ["é", "ü"], [1.5],
                 "€" * 2000]
    octets = peer_request(arguments)
    message, used = decode(octets)  # type: ignore[misc]
    assert used == len(octets)
    assert isinstance(message, Request)
    assert (message.dubbo_version, message.path, message.version, message.method) == (
        "2.0.2", "org.demo.Users", "1.0.0", "find")
    assert message.parameter_types == ("Ljava/lang/String;IIJDDZLorg/demo/User;Lorg/demo/User;[I"
                                       "[Ljava/lang/String;[DLjava/lang/String;")
    assert message.arguments == ours(arguments)
    assert isinstance(message.arguments[9], TypedList)
    assert message.arguments[9].type_name == "[int"
    assert message.arguments[10].type_name == "[string"  # a type reference would follow for a second one
    assert message.attachments == {"path": "org.demo.Users", "interface": "org.demo.Users",
                                   "version": "1.0.0"}
    assert message.two_way
    assert encode(message) == octets
    invocation = peek_invocation(octets)
    assert invocation is not None
    assert (invocation.service, invocation.method, invocation.version) == ("org.demo.Users", "find", "1.0.0")


BMP = st.text(st.characters(exclude_categories=["Cs"], max_codepoint=0xFFFF), max_size=30)
INT = st.integers(-(2**63), 2**63 - 1)
FLOAT = st.floats(-1e300, 1e300)  # the peer casts to int, and multiplies by 1000, first
scalar_lists = st.one_of(
    st.lists(st.booleans(), min_size=1, max_size=9), st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1,
                                                               max_size=9),
    st.lists(FLOAT, min_size=1, max_size=9), st.lists(BMP, min_size=1, max_size=9),
)
_FIELD = st.one_of(st.booleans(), INT, BMP)
# One field list per class, in one order: the peer keys its class definitions by name alone.
peer_objects = st.one_of(
    st.builds(lambda i, n: PeerObject("org.demo.A", {"id": i, "name": n}), INT, BMP),
    st.builds(lambda f: PeerObject("org.demo.B", {"flag": f}), _FIELD),
)
arguments = st.lists(st.one_of(st.booleans(), INT, FLOAT, BMP, scalar_lists, peer_objects),
                     max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments)
def test_generated_peer_requests(args: list[Any]) -> None:
    octets = peer_request(args, method="m")
    message, _ = decode(octets)  # type: ignore[misc]
    assert isinstance(message, Request)
    assert message.arguments == ours(args)
    again, _ = decode(encode(message))  # type: ignore[misc]
    assert again == message


def peer_parse(octets: bytes) -> tuple[int, int, list[Any]]:
    """The peer reads a response frame: (heartbeat flag, body length, values of the body)."""
    heartbeat, length = parse_response_head(octets[:16])
    reader = PeerResponse(bytearray(octets[16:]))
    got: list[Any] = []
    while reader.length() > 0:
        got.append(reader.read_next())
    return heartbeat, length, got


def test_our_responses_parse_in_the_peer() -> None:
    user = HessianObject("org.demo.User", {"name": "ann", "id": Long(2**40), "score": 12.25, "tags": ["a"]})
    value = [user, user, {"k": [1, 2]}, TypedList("[int", [1, 2]), "é" * 3000, -70000, None, True]
    octets = encode(Response(5, value=value, attachments={"a": "b"}))
    heartbeat, length, got = peer_parse(octets)
    assert (heartbeat, length) == (0, len(octets) - 16)
    assert got == [4, theirs(value), {"a": "b"}]
    assert got[1][0] is got[1][1]  # our second occurrence is a reference, and the peer resolves it
    assert peer_parse(encode(Response(6, value="hi")))[2] == [1, "hi"]
    assert peer_parse(encode(Response(6)))[2] == [2]


def test_our_heartbeat_answer_parses_in_the_peer() -> None:
    assert peer_parse(encode(Event(1, request=False))) == (1, 1, [None])


def test_our_error_response_raises_in_the_peer() -> None:
    from dubbo.common.exceptions import DubboResponseException  # type: ignore[import-untyped]

    with pytest.raises(DubboResponseException, match="SERVICE_NOT_FOUND"):
        parse_response_head(encode(Response(1, Status.SERVICE_NOT_FOUND, error_message="no"))[:16])


response_values = st.recursive(
    st.one_of(st.none(), st.booleans(), INT, INT.map(Long), st.floats(allow_nan=False), BMP),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(BMP, children, max_size=4),
        st.builds(HessianObject, st.just("org.demo.A"),
                  st.dictionaries(st.text("abcdefg", min_size=1, max_size=5), children, max_size=4))),
    max_leaves=10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response_values)
def test_generated_responses_parse_in_the_peer(value: Any) -> None:
    octets = encode(Response(9, value=value, attachments={}))
    flag = 5 if value is None else 4
    expected = [flag, {}] if value is None else [flag, theirs(value), {}]
    assert peer_parse(octets)[2] == expected
