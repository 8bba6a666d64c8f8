"""Property tests: generated packets round-trip; arbitrary bytes parse or raise the codec's error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.mqtt import (
    CLOSED,
    MQTT_3_1_1,
    MQTT_5,
    NEED_DATA,
    PROPERTY_TABLE,
    VALID_REASON_CODES,
    WILL_PROPERTIES,
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Decoder,
    Disconnect,
    Packet,
    PacketType,
    PingReq,
    PingResp,
    Properties,
    PropertyId,
    PropertyType,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    RemoteProtocolError,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    decode,
    encode,
    topic_filter_error,
    topic_matches,
    topic_name_error,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Strings MQTT allows: no U+0000 [MQTT-1.5.4-2], no surrogates [MQTT-1.5.4-1].
CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
text = st.text(CHARS, max_size=12)
LEVEL_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00/+#")
level_text = st.text(LEVEL_CHARS, max_size=5)
topic_names = st.lists(level_text, min_size=1, max_size=4).map("/".join).filter(bool)
packet_ids = st.integers(1, 0xFFFF)
qos = st.integers(0, 2)
levels = st.sampled_from([MQTT_3_1_1, MQTT_5])


@st.composite
def topic_filters(draw: st.DrawFn, shared: bool) -> str:
    parts = draw(st.lists(level_text | st.just("+"), min_size=1, max_size=4))
    if draw(st.booleans()):
        parts.append("#")
    result = "/".join(parts)
    if not result:
        result = draw(st.sampled_from(["#", "+", "a"]))
    if shared and draw(st.booleans()):
        result = "$share/" + draw(st.text(LEVEL_CHARS, min_size=1, max_size=4)) + "/" + result
    return result


_NONZERO = {PropertyId.RECEIVE_MAXIMUM, PropertyId.TOPIC_ALIAS, PropertyId.MAXIMUM_PACKET_SIZE}


def _value(pid: PropertyId, kind: PropertyType) -> st.SearchStrategy[Any]:
    low = 1 if pid in _NONZERO else 0
    if kind is PropertyType.BYTE:
        return st.integers(0, 1)
    if kind is PropertyType.TWO_BYTE_INTEGER:
        return st.integers(low, 0xFFFF)
    if kind is PropertyType.FOUR_BYTE_INTEGER:
        return st.integers(low, 0xFFFF_FFFF)
    if kind is PropertyType.UTF8_STRING:
        return topic_names if pid is PropertyId.RESPONSE_TOPIC else text
    return st.binary(max_size=8)


def properties(context: int) -> st.SearchStrategy[Properties]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for pid, spec in PROPERTY_TABLE.items():
        if context not in spec.contexts:
            continue
        if pid is PropertyId.USER_PROPERTY:
            fields["user_properties"] = st.lists(st.tuples(text, text), max_size=3)
        elif pid is PropertyId.SUBSCRIPTION_IDENTIFIER:
            fields["subscription_identifiers"] = st.lists(
                st.integers(1, 268_435_455), max_size=3 if context == PacketType.PUBLISH else 1)
        else:
            fields[spec.name] = st.none() | _value(pid, spec.type)
    return st.builds(Properties, **fields)


def props_for(context: int, level: int) -> st.SearchStrategy[Properties]:
    return properties(context) if level == MQTT_5 else st.just(Properties())


def reasons(ptype: PacketType, level: int) -> st.SearchStrategy[ReasonCode]:
    if level == MQTT_3_1_1:
        return st.just(ReasonCode.SUCCESS)
    return st.sampled_from(sorted(VALID_REASON_CODES[ptype])).map(ReasonCode)


@st.composite
def packets(draw: st.DrawFn, level: int) -> Packet:
    v5 = level == MQTT_5
    kind = draw(st.sampled_from([t for t in PacketType if v5 or t is not PacketType.AUTH]))
    P = PacketType
    if kind is P.CONNECT:
        will = None
        if draw(st.booleans()):
            will = Will(draw(topic_names), draw(st.binary(max_size=8)), draw(qos), draw(st.booleans()),
                        draw(props_for(WILL_PROPERTIES, level)))
        username = draw(st.none() | text)
        password = draw(st.none() | st.binary(max_size=8))
        if not v5 and username is None:
            password = None
        clean = draw(st.booleans())
        client_id = draw(text)
        if not v5 and not clean and not client_id:
            client_id = "c"
        return Connect(client_id, level, clean, draw(st.integers(0, 0xFFFF)), username, password, will,
                       draw(props_for(P.CONNECT, level)))
    if kind is P.CONNACK:
        code: int = draw(reasons(P.CONNACK, level) if v5 else st.sampled_from(list(ConnectReturnCode)))
        return ConnAck(draw(st.booleans()), code, draw(props_for(P.CONNACK, level)))
    if kind is P.PUBLISH:
        q = draw(qos)
        return Publish(draw(topic_names), draw(st.binary(max_size=32)), q, draw(st.booleans()),
                       bool(q) and draw(st.booleans()), draw(packet_ids) if q else None,
                       draw(props_for(P.PUBLISH, level)))
    if kind in (P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP):
        cls = {P.PUBACK: PubAck, P.PUBREC: PubRec, P.PUBREL: PubRel, P.PUBCOMP: PubComp}[kind]
        return cls(draw(packet_ids), draw(reasons(kind, level)), draw(props_for(kind, level)))
    if kind is P.SUBSCRIBE:
        subs = []
        for topic_filter in draw(st.lists(topic_filters(v5), min_size=1, max_size=3)):
            if v5:
                shared = topic_filter.startswith("$share/")
                subs.append(Subscription(topic_filter, draw(qos), not shared and draw(st.booleans()),
                                         draw(st.booleans()), draw(st.integers(0, 2))))
            else:
                subs.append(Subscription(topic_filter, draw(qos)))
        return Subscribe(draw(packet_ids), subs, draw(props_for(P.SUBSCRIBE, level)))
    if kind is P.SUBACK:
        codes = st.sampled_from([0, 1, 2, 0x80]).map(ReasonCode) if not v5 else reasons(P.SUBACK, level)
        return SubAck(draw(packet_ids), draw(st.lists(codes, min_size=1, max_size=3)),
                      draw(props_for(P.SUBACK, level)))
    if kind is P.UNSUBSCRIBE:
        return Unsubscribe(draw(packet_ids), draw(st.lists(topic_filters(v5), min_size=1, max_size=3)),
                           draw(props_for(P.UNSUBSCRIBE, level)))
    if kind is P.UNSUBACK:
        codes_list = draw(st.lists(reasons(P.UNSUBACK, level), min_size=1, max_size=3)) if v5 else []
        return UnsubAck(draw(packet_ids), codes_list, draw(props_for(P.UNSUBACK, level)))
    if kind is P.PINGREQ:
        return PingReq()
    if kind is P.PINGRESP:
        return PingResp()
    if kind is P.DISCONNECT:
        return Disconnect(draw(reasons(P.DISCONNECT, level)), draw(props_for(P.DISCONNECT, level)))
    return Auth(draw(reasons(P.AUTH, level)), draw(props_for(P.AUTH, level)))


any_packet = levels.flatmap(lambda level: st.tuples(st.just(level), packets(level)))


@FAST
@given(any_packet)
def test_round_trip(case: tuple[int, Packet]) -> None:
    level, packet = case
    data = encode(packet, level)
    assert decode(data, level) == (packet, len(data))
    assert encode(decode(data, level)[0], level) == data  # type: ignore[index]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(levels.flatmap(lambda level: st.tuples(st.just(level), st.lists(packets(level), max_size=6))),
       st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_decoder_reassembles_any_chunking(case: tuple[int, list[Packet]], sizes: list[int]) -> None:
    level, items = case
    stream = b"".join(encode(p, level) for p in items)
    decoder = Decoder(level)
    got: list[object] = []
    pos = i = 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        decoder.receive_data(stream[pos:pos + size])
        pos, i = pos + size, i + 1
        while (event := decoder.next_event()) is not NEED_DATA:
            got.append(event)
    decoder.receive_data(b"")
    assert decoder.next_event() is CLOSED
    assert got == items


def _parse_or_raise(data: bytes, level: int) -> None:
    try:
        result = decode(data, level)
    except RemoteProtocolError:
        return
    if result is None:
        return
    packet, consumed = result
    assert 2 <= consumed <= len(data)
    # whatever decodes must re-encode, and to something that decodes the same
    again = encode(packet, level)
    assert decode(again, level) == (packet, len(again))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64), levels)
def test_fuzz_arbitrary_bytes(data: bytes, level: int) -> None:
    _parse_or_raise(data, level)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(16)).map(lambda t: t << 4), st.binary(max_size=40), levels)
def test_fuzz_framed_bodies(first_high: int, body: bytes, level: int) -> None:
    """Arbitrary bodies behind a well-formed fixed header reach the per-type parsers."""
    for flags in (0, 2, 0xB):
        _parse_or_raise(bytes((first_high | flags, len(body))) + body, level)


@FAST
@given(any_packet, st.data())
def test_fuzz_mutated_packets(case: tuple[int, Packet], data: st.DataObject) -> None:
    level, packet = case
    raw = bytearray(encode(packet, level))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _parse_or_raise(bytes(raw), level)


@FAST
@given(st.binary(max_size=200), st.integers(1, 16))
def test_fuzz_decoder(data: bytes, size: int) -> None:
    decoder = Decoder()
    try:
        for i in range(0, len(data), size):
            decoder.receive_data(data[i:i + size])
            while decoder.next_event() is not NEED_DATA:
                pass
    except RemoteProtocolError:
        assert isinstance(decoder.data_to_send(), bytes)


@FAST
@given(topic_filters(shared=True), topic_names)
def test_generated_topics_are_valid_and_matching_is_total(topic_filter: str, name: str) -> None:
    assert topic_filter_error(topic_filter) is None
    assert topic_name_error(name) is None
    assert isinstance(topic_matches(topic_filter, name), bool)
    assert topic_matches(name, name) is True  # a name is a filter that matches itself
    assert topic_matches("#", name) is not name.startswith("$")
