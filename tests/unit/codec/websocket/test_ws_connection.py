"""The Connection as transcripts: bytes in, events out; events in, bytes out; the closing handshake;
and the peer's errors, each with its close code and the Close frame queued before the raise."""

from __future__ import annotations

import itertools

import pytest

from pipework.codec.websocket import (
    CLOSED,
    NEED_DATA,
    TRANSITIONS,
    Close,
    CloseCode,
    Connection,
    Event,
    Frame,
    Input,
    LocalProtocolError,
    Message,
    Opcode,
    Ping,
    Pong,
    RemoteProtocolError,
    Role,
    State,
    decode_frame,
    encode_frame,
)

KEY = bytes.fromhex("37fa213d")
CLIENT_HELLO = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")  # RFC 6455 5.7, masked "Hello"
SERVER_HELLO = bytes.fromhex("81 05 48 65 6c 6c 6f")
SERVER_FRAGMENTS = bytes.fromhex("01 03 48 65 6c 80 02 6c 6f")


def fixed_key() -> bytes:
    return KEY


def state(conn: Connection) -> State:
    """``conn.state``, read afresh (a plain attribute read would be narrowed by mypy)."""
    return conn.state


def drain(conn: Connection) -> list[Event]:
    out: list[Event] = []
    while (event := conn.next_event()) is not NEED_DATA:
        assert event is not CLOSED
        out.append(event)
    return out


def feed(conn: Connection, data: bytes, *, byte_by_byte: bool = False) -> list[Event]:
    if not byte_by_byte:
        conn.receive_data(data)
        return drain(conn)
    events: list[Event] = []
    for i in range(len(data)):
        conn.receive_data(data[i:i + 1])
        events += drain(conn)
    return events


def client_frame(frame: Frame) -> bytes:
    return encode_frame(frame, KEY)


def sent_close(data: bytes, masked: bool) -> tuple[int, bytes]:
    """The close code and reason of the Close frame in ``data`` (a goodbye)."""
    got = decode_frame(data, mask_required=masked)
    assert got is not None
    frame, used = got
    assert used == len(data)
    assert frame.opcode is Opcode.CLOSE
    return int.from_bytes(frame.payload[:2], "big"), frame.payload[2:]


@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_server_reads_rfc_examples(byte_by_byte: bool) -> None:
    conn = Connection(Role.SERVER)
    data = CLIENT_HELLO + client_frame(Frame(Opcode.PING, b"Hello")) \
        + client_frame(Frame(Opcode.BINARY, b"\x00\xff"))
    expected = [Message("Hello"), Ping(b"Hello"), Message(b"\x00\xff")]
    assert feed(conn, data, byte_by_byte=byte_by_byte) == expected


@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_client_reads_fragmented_rfc_example(byte_by_byte: bool) -> None:
    conn = Connection(Role.CLIENT)
    assert feed(conn, SERVER_FRAGMENTS, byte_by_byte=byte_by_byte) == [Message("Hello")]


def test_trailing_bytes_wait_for_the_rest() -> None:
    conn = Connection(Role.CLIENT)
    assert feed(conn, SERVER_HELLO + SERVER_HELLO[:3]) == [Message("Hello")]
    assert feed(conn, SERVER_HELLO[3:]) == [Message("Hello")]


def test_control_frames_between_fragments() -> None:
    conn = Connection(Role.CLIENT)
    data = bytes.fromhex("01 03 48 65 6c") + bytes.fromhex("89 01 41") + bytes.fromhex("8a 00") \
        + bytes.fromhex("80 02 6c 6f")
    assert feed(conn, data) == [Ping(b"A"), Pong(b""), Message("Hello")]


def test_text_split_inside_a_character_across_fragments() -> None:
    text = "κόσμε 🦊"
    raw = text.encode()
    conn = Connection(Role.CLIENT)
    frames = [Frame(Opcode.TEXT, raw[:1], fin=False)]
    frames += [Frame(Opcode.CONTINUATION, raw[i:i + 1], fin=False) for i in range(1, len(raw))]
    frames.append(Frame(Opcode.CONTINUATION, b""))
    assert feed(conn, b"".join(encode_frame(f) for f in frames)) == [Message(text)]


def test_empty_messages() -> None:
    conn = Connection(Role.CLIENT)
    data = encode_frame(Frame(Opcode.TEXT)) + encode_frame(Frame(Opcode.BINARY, fin=False)) \
        + encode_frame(Frame(Opcode.CONTINUATION))
    assert feed(conn, data) == [Message(""), Message(b"")]


def test_client_masks_with_fresh_keys_and_server_does_not() -> None:
    keys = itertools.cycle([KEY, b"\x00\x00\x00\x00"])
    client = Connection(Role.CLIENT, mask_key=lambda: next(keys))
    assert client.send(Message("Hello")) == CLIENT_HELLO
    assert client.send(Message("Hello")) == bytes.fromhex("81 85 00 00 00 00") + b"Hello"
    server = Connection(Role.SERVER)
    assert server.send(Message("Hello")) == SERVER_HELLO
    assert server.send(Ping(b"Hello")) == bytes.fromhex("89 05") + b"Hello"
    default = Connection(Role.CLIENT)
    first, second = default.send(Message(b"x")), default.send(Message(b"x"))
    assert first[1] == second[1] == 0x81
    assert first[2:6] != second[2:6]  # random keys (a 2**-32 chance of a false failure)


def test_fragment_size_splits_messages() -> None:
    server = Connection(Role.SERVER, fragment_size=3)
    assert server.send(Message("Hello")) == SERVER_FRAGMENTS
    assert server.send(Message(b"abc")) == bytes.fromhex("82 03") + b"abc"
    client = Connection(Role.CLIENT, fragment_size=2, mask_key=fixed_key)
    data = client.send(Message(b"abcde"))
    peer = Connection(Role.SERVER)
    assert feed(peer, data) == [Message(b"abcde")]
    assert [data[0], data[8], data[16]] == [0x02, 0x00, 0x80]


def test_bytearray_and_memoryview_messages() -> None:
    server = Connection(Role.SERVER)
    assert server.send(Message(bytearray(b"ab"))) == server.send(Message(memoryview(b"ab"))) == b"\x82\x02ab"  # type: ignore[arg-type]


# --- the closing handshake -------------------------------------------------------------------------

def test_closing_handshake_started_by_us() -> None:
    client = Connection(Role.CLIENT, mask_key=fixed_key)
    data = client.send(Close(CloseCode.GOING_AWAY, "bye"))
    assert client.state is State.LOCAL_CLOSING
    assert decode_frame(data, mask_required=True) == (Frame(Opcode.CLOSE, b"\x03\xe9bye"), len(data))
    with pytest.raises(LocalProtocolError):
        client.send(Message("late"))
    with pytest.raises(LocalProtocolError):
        client.send(Ping())
    assert client.state is State.LOCAL_CLOSING
    # The peer may still deliver data before its Close.
    assert feed(client, SERVER_HELLO + bytes.fromhex("88 02 03 e9")) == [Message("Hello"), Close(1001, "")]
    assert state(client) is State.CLOSED
    client.receive_data(b"")
    assert client.next_event() is CLOSED
    assert client.next_event() is CLOSED


def test_closing_handshake_started_by_the_peer() -> None:
    server = Connection(Role.SERVER)
    (close,) = feed(server, client_frame(Frame(Opcode.CLOSE, b"\x03\xe8done")))
    assert close == Close(CloseCode.NORMAL_CLOSURE, "done")
    assert server.state is State.REMOTE_CLOSING
    assert server.send(Message("last words")) == b"\x81\x0alast words"  # 5.5.1: MAY finish first
    assert isinstance(close, Close)
    assert server.send(close.response()) == b"\x88\x02\x03\xe8"
    assert state(server) is State.CLOSED
    with pytest.raises(LocalProtocolError):
        server.send(Close())
    server.receive_data(b"")
    assert server.next_event() is CLOSED


def test_close_without_a_body_echoes_without_one() -> None:
    client = Connection(Role.CLIENT, mask_key=fixed_key)
    (close,) = feed(client, b"\x88\x00")
    assert close == Close(CloseCode.NO_STATUS_RCVD)
    assert isinstance(close, Close)
    assert client.send(close.response()) == b"\x88\x80" + KEY


def test_close_may_cut_a_fragmented_message_short() -> None:
    client = Connection(Role.CLIENT, mask_key=fixed_key)
    assert feed(client, SERVER_FRAGMENTS[:5] + b"\x88\x02\x03\xe9") == [Close(CloseCode.GOING_AWAY)]
    client.send(Close(CloseCode.GOING_AWAY))
    client.receive_data(b"")
    assert client.next_event() is CLOSED  # the unfinished message is dropped, not a 1006


def test_end_of_stream_without_close_is_1006() -> None:
    client = Connection(Role.CLIENT)
    assert feed(client, SERVER_HELLO) == [Message("Hello")]
    client.receive_data(b"")
    assert client.next_event() == Close(CloseCode.ABNORMAL_CLOSURE)
    assert client.next_event() is CLOSED
    assert client.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"more")
    with pytest.raises(LocalProtocolError):
        client.send(Message("x"))


def test_end_of_stream_after_our_close_is_1006_too() -> None:
    server = Connection(Role.SERVER)
    server.send(Close())
    server.receive_data(b"")
    assert server.next_event() == Close(CloseCode.ABNORMAL_CLOSURE)


@pytest.mark.parametrize("data", [SERVER_HELLO[:1], SERVER_HELLO[:4], SERVER_FRAGMENTS[:5]],
                         ids=["header", "payload", "between-fragments"])
def test_end_of_stream_inside_a_frame_or_message_raises_1006(data: bytes) -> None:
    client = Connection(Role.CLIENT)
    assert feed(client, data) == []
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert info.value.close_code == CloseCode.ABNORMAL_CLOSURE
    assert client.data_to_send() == b""  # 1006 is never sent (7.4.1)
    assert client.state is State.ERROR


@pytest.mark.parametrize(("event", "why"), [
    (Ping(b"x" * 126), "Ping over 125 bytes"),
    (Pong(b"x" * 126), "Pong over 125 bytes"),
    (Close(1006), "1006 may not be sent"),
    (Close(1004), "1004 may not be sent"),
    (Close(2000), "2000 is reserved"),
    (Close(1000, "x" * 124), "reason over 123 bytes"),
    (Message("\udc80"), "lone surrogate"),
    ("Hello", "not an event"),
])
def test_sending_what_may_not_be_sent_changes_nothing(event: Event, why: str) -> None:
    conn = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        conn.send(event)
    assert conn.state is State.OPEN
    assert conn.send(Message("ok")) == b"\x81\x02ok"


def test_transition_table_is_the_rfc_diagram() -> None:
    assert TRANSITIONS[State.OPEN, Input.SEND_CLOSE] is State.LOCAL_CLOSING
    assert TRANSITIONS[State.OPEN, Input.RECV_CLOSE] is State.REMOTE_CLOSING
    assert TRANSITIONS[State.LOCAL_CLOSING, Input.RECV_CLOSE] is State.CLOSED
    assert TRANSITIONS[State.REMOTE_CLOSING, Input.SEND_CLOSE] is State.CLOSED
    for state in (State.CLOSED, State.ERROR):
        assert not any((state, what) in TRANSITIONS for what in Input)
    assert (State.LOCAL_CLOSING, Input.SEND_DATA) not in TRANSITIONS
    assert (State.REMOTE_CLOSING, Input.RECV_DATA) not in TRANSITIONS


def test_invalid_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER, max_message_size=-1)
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER, fragment_size=0)


# --- the peer's errors: close code, the goodbye queued, then ERROR for good --------------------------

def masked(hex_text: str) -> bytes:
    """A client's frame from the hex of an unmasked one (the header's length must be < 126)."""
    data = bytes.fromhex(hex_text)
    return encode_frame(Frame(Opcode(data[0] & 0x0F), data[2:], fin=bool(data[0] & 0x80),
                              rsv1=bool(data[0] & 0x40)), KEY)


# (bytes a server receives, close code, why)
PEER_ERRORS: list[tuple[bytes, CloseCode, str]] = [
    (bytes.fromhex("81 05") + b"Hello", CloseCode.PROTOCOL_ERROR, "unmasked client frame (5.1)"),
    (masked("80 02 6c 6f"), CloseCode.PROTOCOL_ERROR, "continuation with nothing to continue (5.4)"),
    (masked("01 01 61") + masked("81 01 62"), CloseCode.PROTOCOL_ERROR, "text inside a fragmented text"),
    (masked("02 01 61") + masked("02 01 62"), CloseCode.PROTOCOL_ERROR, "binary inside a fragmented binary"),
    (masked("c1 01 61"), CloseCode.PROTOCOL_ERROR, "RSV1 without permessage-deflate"),
    (bytes.fromhex("89 fe 00 7e") + KEY + b"x" * 126, CloseCode.PROTOCOL_ERROR, "Ping of 126 bytes"),
    (bytes.fromhex("09 80") + KEY, CloseCode.PROTOCOL_ERROR, "fragmented Ping"),
    (bytes.fromhex("83 80") + KEY, CloseCode.PROTOCOL_ERROR, "reserved opcode"),
    (masked("88 01 03"), CloseCode.PROTOCOL_ERROR, "Close body of one byte"),
    (masked("88 02 03 ed"), CloseCode.PROTOCOL_ERROR, "close code 1005 on the wire"),
    (masked("88 02 03 ee"), CloseCode.PROTOCOL_ERROR, "close code 1006 on the wire"),
    (masked("88 02 0b b7"), CloseCode.PROTOCOL_ERROR, "close code 2999"),
    (masked("88 02 13 88"), CloseCode.PROTOCOL_ERROR, "close code 5000"),
    (masked("88 03 03 e8 ff"), CloseCode.INVALID_PAYLOAD_DATA, "Close reason not UTF-8"),
    (masked("81 02 c3 28"), CloseCode.INVALID_PAYLOAD_DATA, "invalid UTF-8 text"),
    (masked("81 03 ed a0 80"), CloseCode.INVALID_PAYLOAD_DATA, "encoded surrogate"),
    (masked("81 04 f4 90 80 80"), CloseCode.INVALID_PAYLOAD_DATA, "code point over U+10FFFF"),
    (masked("81 02 c0 af"), CloseCode.INVALID_PAYLOAD_DATA, "overlong encoding"),
    (masked("01 01 ce") + masked("80 00"), CloseCode.INVALID_PAYLOAD_DATA, "text ending inside a character"),
    (masked("88 00") + masked("81 01 61"), CloseCode.PROTOCOL_ERROR, "data after the peer's Close"),
    (masked("88 00") + masked("89 00"), CloseCode.PROTOCOL_ERROR, "Ping after the peer's Close"),
    (masked("88 00") + masked("88 00"), CloseCode.PROTOCOL_ERROR, "a second Close"),
]


@pytest.mark.parametrize(("data", "code", "why"), PEER_ERRORS, ids=[e[2] for e in PEER_ERRORS])
def test_peer_error_queues_close_then_raises(data: bytes, code: CloseCode, why: str) -> None:
    server = Connection(Role.SERVER)
    server.receive_data(data)
    with pytest.raises(RemoteProtocolError) as info:
        drain(server)
    assert info.value.close_code == code, why
    goodbye = server.data_to_send()
    assert sent_close(goodbye, masked=False)[0] == code
    assert server.data_to_send() == b""  # handed out once
    assert server.state is State.ERROR
    with pytest.raises(RemoteProtocolError) as again:
        server.next_event()
    assert again.value is info.value
    with pytest.raises(LocalProtocolError):
        server.send(Message("after the error"))


def test_client_goodbye_is_masked() -> None:
    client = Connection(Role.CLIENT, mask_key=fixed_key)
    client.receive_data(CLIENT_HELLO)  # masked frames from a server
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR
    code, reason = sent_close(client.data_to_send(), masked=True)
    assert code == 1002
    assert b"masked frame from a server" in reason
    assert len(reason) <= 123


def test_no_goodbye_once_our_close_was_sent() -> None:
    server = Connection(Role.SERVER)
    server.send(Close())
    server.receive_data(masked("81 01 ff"))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.close_code == CloseCode.INVALID_PAYLOAD_DATA
    assert server.data_to_send() == b""  # "MUST NOT send any more data frames after sending a Close"


def test_invalid_text_fails_before_the_message_ends() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(masked("01 02 61 ff"))  # the first fragment is already hopeless (8.1)
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.close_code == CloseCode.INVALID_PAYLOAD_DATA


def test_message_size_limit_single_frame_judged_from_the_header() -> None:
    server = Connection(Role.SERVER, max_message_size=100)
    assert feed(server, client_frame(Frame(Opcode.BINARY, b"x" * 100))) == [Message(b"x" * 100)]
    server.receive_data(client_frame(Frame(Opcode.BINARY, b"x" * 101))[:4])
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG
    assert sent_close(server.data_to_send(), masked=False)[0] == 1009


def test_message_size_limit_across_fragments() -> None:
    server = Connection(Role.SERVER, max_message_size=10)
    parts = [client_frame(Frame(Opcode.TEXT, b"a" * 6, fin=False)),
             client_frame(Frame(Opcode.CONTINUATION, b"a" * 4))]
    assert feed(server, b"".join(parts)) == [Message("a" * 10)]
    server.receive_data(client_frame(Frame(Opcode.TEXT, b"a" * 6, fin=False)))
    server.receive_data(client_frame(Frame(Opcode.CONTINUATION, b"a" * 5, fin=False)))
    with pytest.raises(RemoteProtocolError) as info:
        drain(server)
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_many_frames_in_one_chunk_and_compaction() -> None:
    server = Connection(Role.SERVER)
    frame = client_frame(Frame(Opcode.BINARY, b"z" * 1000))
    data = frame * 200 + frame[:10]
    assert feed(server, data) == [Message(b"z" * 1000)] * 200
    assert feed(server, frame[10:]) == [Message(b"z" * 1000)]
