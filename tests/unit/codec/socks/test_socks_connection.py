"""Transcripts of whole conversations through a client and a server Connection, without sockets,
and the transition table enforced on both sides."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.socks import (
    CLOSED,
    NEED_DATA,
    PAUSED,
    TRANSITIONS,
    TURN,
    Address,
    AuthMethod,
    Command,
    Connection,
    Data,
    Event,
    Greeting,
    LocalProtocolError,
    Message,
    MethodSelection,
    RemoteProtocolError,
    Reply,
    ReplyCode,
    Request,
    Role,
    Sentinel,
    Socks4Code,
    Socks4Reply,
    Socks4Request,
    State,
    UserPassReply,
    UserPassRequest,
)

TARGET = Address("example.com", 443)
BOUND = Address(IPv4Address("192.0.2.7"), 40000)


def converse(messages: list[Message], *, split: bool = False) -> tuple[Connection, Connection]:
    """Send each message from whichever side owns it and check the other side reads it back."""
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    for message in messages:
        sender, receiver = (client, server) if TURN[client.state] is Role.CLIENT else (server, client)
        assert receiver.next_event() in (NEED_DATA, PAUSED)
        assert sender.next_event() is PAUSED  # our turn: nothing to read
        wire = sender.send(message)
        chunks = [wire[i : i + 1] for i in range(len(wire))] if split else [wire]
        for i, chunk in enumerate(chunks):
            receiver.receive_data(chunk)
            event = receiver.next_event()
            if i < len(chunks) - 1:
                assert event is NEED_DATA
        assert event == message
        assert receiver.state is sender.state
    return client, server


@pytest.mark.parametrize("split", [False, True], ids=["whole", "byte-by-byte"])
def test_socks5_with_password_then_data(split: bool) -> None:
    client, server = converse([
        Greeting((AuthMethod.NO_AUTHENTICATION, AuthMethod.USERNAME_PASSWORD)),
        MethodSelection(AuthMethod.USERNAME_PASSWORD),
        UserPassRequest(b"alice", b"secret"),
        UserPassReply(0),
        Request(Command.CONNECT, TARGET),
        Reply(ReplyCode.SUCCEEDED, BOUND),
    ], split=split)
    assert client.state is server.state is State.ESTABLISHED
    assert (server.version, server.methods, server.method) == (5, (0, 2), 2)
    assert server.request == Request(Command.CONNECT, TARGET)
    server.receive_data(client.send(Data(b"GET / HTTP/1.1\r\n")))
    assert server.next_event() == Data(b"GET / HTTP/1.1\r\n")
    assert server.next_event() is NEED_DATA
    server.receive_data(b"")
    assert server.next_event() is CLOSED


def test_socks5_without_authentication() -> None:
    client, _ = converse([Greeting(), MethodSelection(0), Request(Command.CONNECT, TARGET), Reply()])
    assert client.state is State.ESTABLISHED


def test_bind_has_two_replies() -> None:
    client, server = converse([
        Greeting(), MethodSelection(0), Request(Command.BIND, Address(IPv4Address("198.51.100.1"), 20)),
        Reply(0, BOUND), Reply(0, Address(IPv4Address("198.51.100.1"), 20)),
    ])
    assert client.state is State.ESTABLISHED
    _, server = converse([Greeting(), MethodSelection(0), Request(Command.BIND, TARGET), Reply(0, BOUND),
                          Reply(ReplyCode.CONNECTION_REFUSED)])
    assert server.state is State.REFUSED


def test_udp_associate_keeps_the_control_connection() -> None:
    client, server = converse([Greeting(), MethodSelection(0),
                               Request(Command.UDP_ASSOCIATE, Address(IPv4Address(0), 0)), Reply(0, BOUND)])
    assert client.state is State.ESTABLISHED
    server.receive_data(b"")
    assert server.next_event() is CLOSED  # the association ends with the TCP connection


@pytest.mark.parametrize("split", [False, True], ids=["whole", "byte-by-byte"])
def test_socks4_and_socks4a(split: bool) -> None:
    client, server = converse([Socks4Request(Command.CONNECT, Address(IPv4Address("192.0.2.1"), 80), b"bob"),
                               Socks4Reply(Socks4Code.GRANTED)], split=split)
    assert server.version == client.version == 4
    assert server.state is State.ESTABLISHED
    client, server = converse([Socks4Request(Command.BIND, Address("example.com", 21)),
                               Socks4Reply(90, BOUND), Socks4Reply(90, BOUND)], split=split)
    assert client.state is State.ESTABLISHED


@pytest.mark.parametrize("refusal", [
    [Greeting((AuthMethod.USERNAME_PASSWORD,)), MethodSelection(AuthMethod.NO_ACCEPTABLE_METHODS)],
    [Greeting((2,)), MethodSelection(2), UserPassRequest(b"a", b"b"), UserPassReply(1)],
    [Greeting(), MethodSelection(0), Request(Command.CONNECT, TARGET), Reply(ReplyCode.HOST_UNREACHABLE)],
    [Socks4Request(Command.CONNECT, Address(BOUND.host, 1)), Socks4Reply(Socks4Code.NO_IDENTD)],
], ids=["no-method", "bad-password", "host-unreachable", "socks4-rejected"])
def test_refusals_end_the_conversation(refusal: list[Message]) -> None:
    client, server = converse(refusal)
    assert client.state is server.state is State.REFUSED
    assert client.next_event() is CLOSED
    assert server.next_event() is CLOSED
    with pytest.raises(LocalProtocolError):
        server.send(Reply())
    with pytest.raises(LocalProtocolError):
        client.send(Data(b"x"))


def test_optimistic_data_waits_for_the_reply() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    # A client that does not wait for each answer (as curl does with --socks5 and optimistic data).
    wire = client.send(Greeting()) + bytes.fromhex("05 01 00 01 7f 00 00 01 00 50") + b"hello"
    server.receive_data(wire)
    assert server.next_event() == Greeting()
    assert server.next_event() is PAUSED  # our move: the request waits in the buffer
    server.send(MethodSelection(0))
    assert server.next_event() == Request(Command.CONNECT, Address(IPv4Address("127.0.0.1"), 80))
    assert server.next_event() is PAUSED
    assert server.trailing_data == (b"hello", False)
    server.send(Reply())
    assert server.next_event() == Data(b"hello")


def test_server_speaking_first_after_the_reply() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(Socks4Request(Command.CONNECT, Address(BOUND.host, 25))))
    server.next_event()
    client.receive_data(server.send(Socks4Reply()) + server.send(Data(b"220 smtp ready\r\n")))
    assert client.next_event() == Socks4Reply()
    assert client.next_event() == Data(b"220 smtp ready\r\n")


def test_out_of_turn_and_wrong_side_sends_are_local_errors() -> None:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError, match="does not send"):
        server.send(Greeting())
    with pytest.raises(LocalProtocolError, match="in state START"):
        client.send(Request(Command.CONNECT, TARGET))  # SOCKS5 needs the greeting first
    with pytest.raises(LocalProtocolError, match="handshake is not done"):
        client.send(Data(b"early"))
    with pytest.raises(LocalProtocolError, match="cannot carry"):
        client.send(Greeting((AuthMethod.GSSAPI,)))
    assert client.state is State.START  # refused sends change nothing
    server.receive_data(client.send(Greeting((0,))))
    server.next_event()
    with pytest.raises(LocalProtocolError, match="not offered"):
        server.send(MethodSelection(AuthMethod.USERNAME_PASSWORD))
    with pytest.raises(LocalProtocolError, match="in state AWAIT_METHOD"):
        server.send(MethodSelection(0x80))  # private methods have no sub-negotiation here
    with pytest.raises(LocalProtocolError, match="SOCKS5 conversation"):
        server.send(Socks4Reply())


def test_server_picking_a_method_we_did_not_offer_is_a_remote_error() -> None:
    client = Connection(Role.CLIENT)
    client.send(Greeting((0,)))
    client.receive_data(b"\x05\x02")
    with pytest.raises(RemoteProtocolError, match="not offered"):
        client.next_event()
    assert client.state is State.ERROR
    assert client.data_to_send() == b""  # a client has nothing to tell a broken server


def test_eof_in_the_middle_of_the_handshake() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(b"\x05\x01")
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed the connection in state START"):
        server.next_event()
    quiet = Connection(Role.SERVER)
    quiet.receive_data(b"")
    assert quiet.next_event() is CLOSED  # a client that connected and left without a word
    with pytest.raises(LocalProtocolError):
        quiet.receive_data(b"x")


def test_the_table_has_one_owner_per_state() -> None:
    owners: dict[State, set[Role]] = {}
    for state, inp in TRANSITIONS:
        owners.setdefault(state, set()).add(TURN[state])
        assert inp.value
    assert all(len(roles) == 1 for roles in owners.values())
    assert State.ESTABLISHED not in TURN
    assert State.REFUSED not in TURN


CANDIDATES: list[Event] = [
    Greeting(), Greeting((0, 2)), MethodSelection(0), MethodSelection(2), MethodSelection(0xFF),
    UserPassRequest(b"u", b"p"), UserPassReply(0), UserPassReply(1), Request(Command.CONNECT, TARGET),
    Request(Command.BIND, TARGET), Request(Command.UDP_ASSOCIATE, TARGET), Reply(0), Reply(1),
    Socks4Request(Command.CONNECT, Address("x", 1)), Socks4Request(Command.BIND, Address("x", 1)),
    Socks4Reply(90), Socks4Reply(91), Data(b"d"),
]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(CANDIDATES), max_size=12))
def test_any_send_sequence_keeps_both_sides_in_step(events: list[Event]) -> None:
    """Whatever we try to send, each side either refuses it (LocalProtocolError, nothing changes)
    or the peer reads exactly that message and both end in the same state."""
    sides = {Role.CLIENT: Connection(Role.CLIENT), Role.SERVER: Connection(Role.SERVER)}
    for event in events:
        for role, sender in sides.items():
            receiver = sides[Role.SERVER if role is Role.CLIENT else Role.CLIENT]
            before = sender.state
            try:
                wire = sender.send(event)
            except LocalProtocolError:
                assert sender.state is before
                continue
            receiver.receive_data(wire)
            got = receiver.next_event()
            assert got == event or (isinstance(event, Data) and got == Data(event.data))
            assert receiver.state is sender.state
            assert not isinstance(receiver.next_event(), (Greeting, Reply, Data))
    for side in sides.values():
        assert isinstance(side.next_event(), (Sentinel, Data))
