"""Property tests: frames and messages round-trip in any chunking; the closing handshake follows the
table; arbitrary or mutated bytes decode or raise WebSocketError, nothing else."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.websocket import (
    CLOSED,
    MAX_CONTROL_PAYLOAD,
    NEED_DATA,
    RSV1,
    RSV2,
    RSV3,
    TRANSITIONS,
    Close,
    Connection,
    DeflateParams,
    Event,
    Frame,
    Input,
    LocalProtocolError,
    Message,
    Opcode,
    Ping,
    Pong,
    Role,
    State,
    WebSocketError,
    decode_frame,
    encode_frame,
)

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

keys = st.none() | st.binary(min_size=4, max_size=4)
sizes = st.sampled_from([0, 1, 5, 125, 126, 127, 200, 65535, 65536]) | st.integers(0, 300)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    opcode = draw(st.sampled_from(list(Opcode)))
    control = opcode.is_control
    n = draw(st.integers(0, MAX_CONTROL_PAYLOAD)) if control else draw(sizes)
    payload = draw(st.binary(min_size=min(n, 64), max_size=min(n, 64))) * (n // 64 + 1)
    return Frame(opcode, payload[:n], fin=True if control else draw(st.booleans()),
                 rsv1=draw(st.booleans()), rsv2=draw(st.booleans()), rsv3=draw(st.booleans()))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@FAST
@given(frames(), keys, st.integers(0, 2**20))
def test_frame_round_trip(frame: Frame, key: bytes | None, cut: int) -> None:
    data = encode_frame(frame, key)
    trailing = data + b"\x81"
    assert decode_frame(trailing, mask_required=key is not None, max_size=1 << 17,
                        rsv_allowed=RSV1 | RSV2 | RSV3) == (frame, len(data))
    assert decode_frame(data[:cut % len(data)], rsv_allowed=RSV1 | RSV2 | RSV3) is None


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
events = st.one_of(
    text.map(Message),
    st.binary(max_size=3000).map(Message),
    st.binary(max_size=125).map(Ping),
    st.binary(max_size=125).map(Pong),
)
deflates = st.none() | st.builds(DeflateParams, st.booleans(), st.booleans(), st.integers(9, 15),
                                 st.integers(9, 15))


def receive_all(conn: Connection, chunks: list[bytes]) -> list[Event]:
    out: list[Event] = []
    for chunk in chunks:
        if not chunk:
            continue  # b"" would mean the end of stream
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not NEED_DATA:
            assert event is not CLOSED
            out.append(event)
    return out


@FAST
@given(st.lists(events, max_size=8), deflates, st.none() | st.integers(1, 500), st.booleans(),
       st.lists(st.integers(0, 10**6), max_size=10))
def test_messages_round_trip(sent: list[Event], deflate: DeflateParams | None, fragment_size: int | None,
                             from_client: bool, cuts: list[int]) -> None:
    role = Role.CLIENT if from_client else Role.SERVER
    other = Role.SERVER if from_client else Role.CLIENT
    sender = Connection(role, deflate=deflate, fragment_size=fragment_size)
    receiver = Connection(other, deflate=deflate)
    data = b"".join(sender.send(e) for e in sent) + sender.send(Close(4000, "done"))
    assert receive_all(receiver, chunked(data, cuts)) == [*sent, Close(4000, "done")]
    assert receiver.state is State.REMOTE_CLOSING


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["data", "close", "deliver"]), st.booleans()), max_size=12))
def test_closing_handshake_follows_the_table(actions: list[tuple[str, bool]]) -> None:
    ends = {True: Connection(Role.CLIENT), False: Connection(Role.SERVER)}
    model = {True: State.OPEN, False: State.OPEN}
    pipes = {True: b"", False: b""}  # bytes sent by each side, not yet delivered
    for action, side in actions:
        conn = ends[side]
        if action == "deliver":
            peer = ends[not side]
            for received in receive_all(peer, [pipes[side]]):
                what = Input.RECV_CLOSE if isinstance(received, Close) else Input.RECV_DATA
                model[not side] = TRANSITIONS[model[not side], what]
            pipes[side] = b""
            continue
        event: Event = Close() if action == "close" else Message("x")
        expected = TRANSITIONS.get((model[side], Input.SEND_CLOSE if action == "close" else Input.SEND_DATA))
        try:
            pipes[side] += conn.send(event)
        except LocalProtocolError:
            assert expected is None
        else:
            assert expected is not None
            model[side] = expected
        assert conn.state is model[side]
    for side in (True, False):
        assert ends[side].state is model[side]


def must_decode_or_refuse(conn: Connection, chunks: list[bytes]) -> None:
    try:
        for chunk in filter(None, chunks):
            conn.receive_data(chunk)
            while (event := conn.next_event()) is not NEED_DATA:
                if event is CLOSED:
                    return
        conn.receive_data(b"")
        while conn.next_event() is not CLOSED:
            pass
    except WebSocketError:
        assert conn.state is State.ERROR


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, True, False]),
       st.sampled_from([0, RSV1, RSV1 | RSV2 | RSV3]),
       st.integers(0, 1 << 16))
def test_decode_frame_fuzz(data: bytes, mask_required: bool | None, rsv: int, max_size: int) -> None:
    try:
        got = decode_frame(data, mask_required=mask_required, max_size=max_size, rsv_allowed=rsv)
    except WebSocketError:
        return
    if got is not None:
        frame, used = got
        assert 2 <= used <= len(data)
        assert len(frame.payload) <= max_size


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.booleans(), st.booleans(), st.lists(st.integers(0, 1000), max_size=5))
def test_connection_fuzz(data: bytes, server: bool, deflate: bool, cuts: list[int]) -> None:
    conn = Connection(Role.SERVER if server else Role.CLIENT, deflate=DeflateParams() if deflate else None,
                      max_message_size=4096)
    must_decode_or_refuse(conn, chunked(data, cuts))


@FAST
@given(st.lists(events, min_size=1, max_size=5), st.booleans(), st.booleans(),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_streams_decode_or_refuse(sent: list[Event], server: bool, deflate: bool,
                                          flips: list[tuple[int, int]]) -> None:
    """Valid streams with a few bytes changed reach deeper than random bytes: every frame type,
    compressed payloads, fragments."""
    params = DeflateParams() if deflate else None
    sender = Connection(Role.CLIENT if server else Role.SERVER, deflate=params, fragment_size=50)
    data = bytearray(b"".join(sender.send(e) for e in sent))
    for where, value in flips:
        data[where % len(data)] = value
    receiver = Connection(Role.SERVER if server else Role.CLIENT, deflate=params, max_message_size=8192)
    must_decode_or_refuse(receiver, [bytes(data)])
