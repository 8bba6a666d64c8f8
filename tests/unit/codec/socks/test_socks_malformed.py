"""Hostile or broken bytes: the right RemoteProtocolError, with the reply code that refuses them,
and on a server the refusal queued for data_to_send."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from pipework.codec.socks import (
    MAX_SOCKS4_FIELD,
    Address,
    AuthMethod,
    Command,
    Connection,
    Greeting,
    LocalProtocolError,
    MethodSelection,
    RemoteProtocolError,
    ReplyCode,
    Request,
    Role,
    Socks4Code,
    Socks4Request,
    SOCKSError,
    State,
    UserPassRequest,
)

GREETED = "05 01 00"  # a greeting the server answers with MethodSelection(0) in these tests
USERPASS = "05 01 02"

# (bytes the client sends after the preamble, preamble, reply code, refusal queued, why)
BAD_FROM_CLIENT: list[tuple[str, str, int | None, str, str]] = [
    ("06 01 00", "", None, "", "no SOCKS version 6"),
    ("47 45 54 20 2f", "", None, "", "an HTTP request on a SOCKS port"),
    ("05 00", "", 0xFF, "05 ff", "NMETHODS is 1 to 255 (RFC 1928 3)"),
    ("05 01 75 01 70", USERPASS, 0x01, "01 01", "auth sub-negotiation VER must be 1 (RFC 1929 2)"),
    ("04 01 00 01 7f 00 00 01 00 50", GREETED, ReplyCode.GENERAL_FAILURE, "05 01 00 01 00 00 00 00 00 00",
     "a request's VER is 5"),
    ("05 09 00 01 7f 00 00 01 00 50", GREETED, ReplyCode.COMMAND_NOT_SUPPORTED,
     "05 07 00 01 00 00 00 00 00 00", "command 9 does not exist"),
    ("05 01 01 01 7f 00 00 01 00 50", GREETED, ReplyCode.GENERAL_FAILURE, "05 01 00 01 00 00 00 00 00 00",
     "RSV must be set to X'00'"),
    ("05 01 00 02 7f 00 00 01 00 50", GREETED, ReplyCode.ADDRESS_TYPE_NOT_SUPPORTED,
     "05 08 00 01 00 00 00 00 00 00", "ATYP 2 does not exist"),
    ("05 01 00 03 00 00 50", GREETED, ReplyCode.GENERAL_FAILURE, "05 01 00 01 00 00 00 00 00 00",
     "an empty domain name"),
    ("05 01 00 03 03 61 00 62 00 50", GREETED, ReplyCode.GENERAL_FAILURE, "05 01 00 01 00 00 00 00 00 00",
     "a NUL inside a domain name"),
    ("04 03 00 50 7f 00 00 01 00", "", Socks4Code.REJECTED, "00 5b 00 00 00 00 00 00",
     "SOCKS4 has no command 3"),
    ("04 01 00 50 7f 00 00 01" + " 41" * (MAX_SOCKS4_FIELD + 1), "", Socks4Code.REJECTED,
     "00 5b 00 00 00 00 00 00", "a USERID that never ends"),
    ("04 01 00 50 00 00 00 01 00" + " 41" * (MAX_SOCKS4_FIELD + 1), "", Socks4Code.REJECTED,
     "00 5b 00 00 00 00 00 00", "a SOCKS4a name that never ends"),
    ("04 01 00 50 00 00 00 01 00 00", "", Socks4Code.REJECTED, "00 5b 00 00 00 00 00 00",
     "an empty SOCKS4a name"),
]


def server_after(preamble: str) -> Connection:
    server = Connection(Role.SERVER)
    if preamble:
        server.receive_data(bytes.fromhex(preamble))
        greeting = server.next_event()
        assert isinstance(greeting, Greeting)
        server.send(MethodSelection(greeting.methods[0]))
    return server


@pytest.mark.parametrize(("hexed", "preamble", "code", "refusal", "why"), BAD_FROM_CLIENT,
                         ids=[b[4] for b in BAD_FROM_CLIENT])
def test_bad_client_bytes(hexed: str, preamble: str, code: int | None, refusal: str, why: str) -> None:
    server = server_after(preamble)
    server.receive_data(bytes.fromhex(hexed))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.reply_code == code
    assert isinstance(info.value, SOCKSError)
    assert server.data_to_send() == bytes.fromhex(refusal)
    assert server.data_to_send() == b""  # once
    assert server.state is State.ERROR
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    with pytest.raises(LocalProtocolError):
        server.send(MethodSelection(AuthMethod.NO_ACCEPTABLE_METHODS))
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"more")


def client_awaiting(stage: str) -> Connection:
    """A client whose next read is the server's method selection, auth reply or request reply."""
    client = Connection(Role.CLIENT)
    if stage == "socks4":
        client.send(Socks4Request(Command.CONNECT, Address(IPv4Address("192.0.2.1"), 80)))
        return client
    method = AuthMethod.USERNAME_PASSWORD if stage == "auth" else AuthMethod.NO_AUTHENTICATION
    client.send(Greeting((method,)))
    if stage == "method":
        return client
    client.receive_data(b"\x05\x02" if stage == "auth" else b"\x05\x00")
    client.next_event()
    if stage == "auth":
        client.send(UserPassRequest(b"u", b"p"))
    else:
        client.send(Request(Command.CONNECT, Address("example.com", 80)))
    return client


# (what the client waits for, the server's bytes, why they are wrong)
BAD_FROM_SERVER = [
    ("method", "04 00", "method selection VER must be 5"),
    ("auth", "05 00", "auth reply VER must be 1 (RFC 1929 2)"),
    ("reply", "06 00 00 01 00 00 00 00 00 00", "a reply VER must be 5"),
    ("reply", "05 00 01 01 00 00 00 00 00 00", "reply RSV must be X'00'"),
    ("reply", "05 00 00 07 00 00 00 00 00 00", "unknown ATYP in a reply"),
    ("reply", "05 00 00 03 00 00 00", "an empty domain name in a reply"),
    ("socks4", "04 5a 00 00 00 00 00 00", "a SOCKS4 reply's VN should be 0"),
]


@pytest.mark.parametrize(("stage", "hexed", "why"), BAD_FROM_SERVER, ids=[b[2] for b in BAD_FROM_SERVER])
def test_bad_server_bytes(stage: str, hexed: str, why: str) -> None:
    client = client_awaiting(stage)
    client.receive_data(bytes.fromhex(hexed))
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert info.value.reply_code is None  # nothing to tell a broken server
    assert client.data_to_send() == b""
    assert client.state is State.ERROR


def test_handshake_buffer_limit() -> None:
    server = Connection(Role.SERVER, max_handshake_buffer=16)
    server.receive_data(bytes.fromhex(GREETED))
    server.next_event()
    with pytest.raises(RemoteProtocolError, match="more than 16 bytes") as info:
        server.receive_data(b"x" * 17)  # we have not answered, yet the client streams on
    assert info.value.reply_code == ReplyCode.GENERAL_FAILURE
    assert server.data_to_send() == b"\x05\xff"  # still choosing a method: refuse them all


@pytest.mark.parametrize(("first", "refusal"), [(b"\x04", "00 5b 00 00 00 00 00 00"), (b"\x05", "05 ff"),
                                                (b"\x47", "")])
def test_overflow_before_any_parse_refuses_in_the_clients_version(first: bytes, refusal: str) -> None:
    server = Connection(Role.SERVER, max_handshake_buffer=300)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(first + b"\x01" * 300)  # one read, before next_event was ever called
    assert server.data_to_send() == bytes.fromhex(refusal)
