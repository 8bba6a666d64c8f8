"""Byte vectors laid out by RFC 1928, RFC 1929 and the SOCKS4/4a documents: each message encodes to
exactly these bytes and parses from them whole, byte by byte and with trailing bytes."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

import pytest

from pipework.codec.socks import (
    Address,
    AddressType,
    AuthMethod,
    Command,
    Greeting,
    LocalProtocolError,
    Message,
    MethodSelection,
    Reply,
    ReplyCode,
    Request,
    Socks4Code,
    Socks4Reply,
    Socks4Request,
    UserPassReply,
    UserPassRequest,
    encode,
    parse_greeting,
    parse_method_selection,
    parse_reply,
    parse_request,
    parse_socks4_reply,
    parse_socks4_request,
    parse_userpass_reply,
    parse_userpass_request,
)

Parser = Callable[[bytes, int], "tuple[Message, int] | None"]
V4 = IPv4Address
EXAMPLE = "0b 65 78 61 6d 70 6c 65 2e 63 6f 6d"  # "example.com", length-prefixed (RFC 1928 5)

# (parser, hex bytes, message)
VECTORS: list[tuple[Parser, str, Message]] = [
    # RFC 1928 3: VER NMETHODS METHODS / VER METHOD
    (parse_greeting, "05 01 00", Greeting((AuthMethod.NO_AUTHENTICATION,))),
    (parse_greeting, "05 02 00 02", Greeting((0, 2))),
    (parse_greeting, "05 03 00 01 02", Greeting((0, 1, 2))),
    (parse_method_selection, "05 00", MethodSelection(AuthMethod.NO_AUTHENTICATION)),
    (parse_method_selection, "05 02", MethodSelection(AuthMethod.USERNAME_PASSWORD)),
    (parse_method_selection, "05 ff", MethodSelection(AuthMethod.NO_ACCEPTABLE_METHODS)),
    # RFC 1929 2: VER ULEN UNAME PLEN PASSWD / VER STATUS
    (parse_userpass_request, "01 04 75 73 65 72 04 70 61 73 73", UserPassRequest(b"user", b"pass")),
    (parse_userpass_request, "01 01 75 00", UserPassRequest(b"u", b"")),
    (parse_userpass_reply, "01 00", UserPassReply(0)),
    (parse_userpass_reply, "01 01", UserPassReply(1)),
    # RFC 1928 4, 5: VER CMD RSV ATYP DST.ADDR DST.PORT
    (parse_request, "05 01 00 01 7f 00 00 01 00 50", Request(Command.CONNECT, Address(V4("127.0.0.1"), 80))),
    (parse_request, f"05 01 00 03 {EXAMPLE} 01 bb", Request(Command.CONNECT, Address("example.com", 443))),
    (parse_request, "05 01 00 04" + " 00" * 15 + " 01 1f 90",
     Request(Command.CONNECT, Address(IPv6Address(1), 8080))),
    (parse_request, "05 02 00 01 c0 00 02 01 10 92", Request(Command.BIND, Address(V4("192.0.2.1"), 4242))),
    (parse_request, "05 03 00 01 00 00 00 00 00 00", Request(Command.UDP_ASSOCIATE, Address(V4(0), 0))),
    (parse_request, "05 01 00 03 03 e2 98 83 00 50", Request(Command.CONNECT, Address("\u2603", 80))),
    (parse_request, "05 01 00 03 02 ff fe 00 50", Request(Command.CONNECT, Address("\udcff\udcfe", 80))),
    # RFC 1928 6: VER REP RSV ATYP BND.ADDR BND.PORT
    (parse_reply, "05 00 00 01 0a 00 00 01 11 5c", Reply(ReplyCode.SUCCEEDED, Address(V4("10.0.0.1"), 4444))),
    (parse_reply, "05 05 00 01 00 00 00 00 00 00", Reply(ReplyCode.CONNECTION_REFUSED)),
    (parse_reply, f"05 00 00 03 {EXAMPLE} 00 35", Reply(0, Address("example.com", 53))),
    (parse_reply, "05 00 00 04 20 01 0d b8" + " 00" * 11 + " 01 ff ff",
     Reply(0, Address(IPv6Address("2001:db8::1"), 65535))),
    (parse_reply, "05 2a 00 01 00 00 00 00 00 00", Reply(0x2A)),  # an unassigned code is still a reply
    # SOCKS4: VN CD DSTPORT DSTIP USERID NULL (the example is Wikipedia's "Fred")
    (parse_socks4_request, "04 01 00 50 42 66 07 63 46 72 65 64 00",
     Socks4Request(Command.CONNECT, Address(V4("66.102.7.99"), 80), b"Fred")),
    (parse_socks4_request, "04 02 1f 90 c0 00 02 01 00",
     Socks4Request(Command.BIND, Address(V4("192.0.2.1"), 8080))),
    # SOCKS4a: DSTIP 0.0.0.x (x != 0), then the name after USERID's NUL
    (parse_socks4_request, "04 01 00 50 00 00 00 01 46 72 65 64 00 65 78 61 6d 70 6c 65 2e 63 6f 6d 00",
     Socks4Request(Command.CONNECT, Address("example.com", 80), b"Fred")),
    (parse_socks4_reply, "00 5a 00 50 42 66 07 63",
     Socks4Reply(Socks4Code.GRANTED, Address(V4("66.102.7.99"), 80))),
    (parse_socks4_reply, "00 5b 00 00 00 00 00 00", Socks4Reply(Socks4Code.REJECTED)),
]
IDS = [f"{type(m).__name__}-{h[:20]}" for _, h, m in VECTORS]


@pytest.mark.parametrize(("parser", "hexed", "message"), VECTORS, ids=IDS)
def test_encode(parser: Parser, hexed: str, message: Message) -> None:
    assert encode(message) == bytes.fromhex(hexed)


@pytest.mark.parametrize(("parser", "hexed", "message"), VECTORS, ids=IDS)
def test_parse_whole_and_with_trailing_bytes(parser: Parser, hexed: str, message: Message) -> None:
    wire = bytes.fromhex(hexed)
    assert parser(wire, 0) == (message, len(wire))
    assert parser(b"\xee" + wire + b"GET / HTTP/1.1\r\n", 1) == (message, len(wire) + 1)
    assert parser(bytearray(wire), 0) == (message, len(wire))


@pytest.mark.parametrize(("parser", "hexed", "message"), VECTORS, ids=IDS)
def test_every_prefix_is_incomplete(parser: Parser, hexed: str, message: Message) -> None:
    wire = bytes.fromhex(hexed)
    buf = bytearray()
    for byte in wire[:-1]:
        buf.append(byte)
        assert parser(buf, 0) is None


def test_address_helpers() -> None:
    assert Address.of("192.0.2.1", 1) == Address(V4("192.0.2.1"), 1)
    assert Address.of("[2001:db8::1]", 2) == Address(IPv6Address("2001:db8::1"), 2)
    assert Address.of("example.com", 3) == Address("example.com", 3)
    assert [a.type for a in (Address.of("1.2.3.4", 0), Address.of("::1", 0), Address.of("x", 0))] == [
        AddressType.IPV4, AddressType.IPV6, AddressType.DOMAIN]
    assert str(Address.of("::1", 80)) == "[::1]:80"
    assert str(Address.of("example.com", 80)) == "example.com:80"
    assert "password=<4 octets>" in repr(UserPassRequest(b"u", b"pass"))
    assert "pass'" not in repr(UserPassRequest(b"u", b"pass"))


# (message, why) that the encoder refuses
UNSENDABLE: list[tuple[Message, str]] = [
    (Greeting(()), "NMETHODS is 1 to 255"),
    (Greeting(tuple([0] * 256)), "more than 255 methods"),
    (Greeting((256,)), "a method is one octet"),
    (MethodSelection(-1), "a method is one octet"),
    (UserPassRequest(b"u" * 256, b""), "ULEN is one octet"),
    (UserPassRequest(b"u", b"p" * 256), "PLEN is one octet"),
    (Request(4, Address("x", 1)), "no command 4"),
    (Request(Command.CONNECT, Address("x" * 256, 1)), "a name is at most 255 octets"),
    (Request(Command.CONNECT, Address("", 1)), "an empty name"),
    (Request(Command.CONNECT, Address("a\x00b", 1)), "a NUL in a name"),
    (Request(Command.CONNECT, Address("x", 65536)), "port out of range"),
    (Reply(256), "REP is one octet"),
    (Socks4Request(Command.UDP_ASSOCIATE, Address(V4("192.0.2.1"), 1)), "SOCKS4 has no UDP"),
    (Socks4Request(Command.CONNECT, Address(IPv6Address(1), 1)), "SOCKS4 has no IPv6"),
    (Socks4Request(Command.CONNECT, Address(V4("192.0.2.1"), 1), b"a\x00"), "a NUL in USERID"),
    (Socks4Request(Command.CONNECT, Address("", 1)), "an empty 4a name"),
    (Socks4Request(Command.CONNECT, Address(V4("0.0.0.7"), 1)), "0.0.0.x means SOCKS4a"),
    (Socks4Reply(90, Address("example.com", 1)), "a SOCKS4 reply holds an IPv4 address"),
    (Socks4Reply(90, Address(V4(1), -1)), "port out of range"),
]


@pytest.mark.parametrize(("message", "why"), UNSENDABLE, ids=[w for _, w in UNSENDABLE])
def test_unsendable_is_a_local_error(message: Message, why: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode(message)


def test_not_a_message() -> None:
    with pytest.raises(TypeError):
        encode(b"\x05\x01\x00")  # type: ignore[arg-type]
