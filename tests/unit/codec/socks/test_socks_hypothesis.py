"""Property tests: generated messages round-trip; any bytes into either side give events or the
codec's error, nothing else."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.socks import (
    Address,
    Command,
    Connection,
    Greeting,
    Message,
    MethodSelection,
    Reply,
    Request,
    Role,
    Sentinel,
    Socks4Reply,
    Socks4Request,
    SOCKSError,
    UDPDatagram,
    UserPassReply,
    UserPassRequest,
    decode_udp,
    encode,
    encode_udp,
    parse_greeting,
    parse_method_selection,
    parse_reply,
    parse_request,
    parse_socks4_reply,
    parse_socks4_request,
    parse_userpass_reply,
    parse_userpass_request,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ports = st.integers(0, 65535)


def _name_fits(n: str) -> bool:
    """A host name the codec can carry: 1-255 bytes as UTF-8 (undecodable bytes escaped as
    surrogates round-trip; any other lone surrogate has no bytes at all)."""
    try:
        return 0 < len(n.encode("utf-8", "surrogateescape")) <= 255
    except UnicodeEncodeError:
        return False


names = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=20).filter(_name_fits)
addresses = st.builds(Address, st.one_of(st.ip_addresses(), names), ports)
socks4_hosts = st.one_of(st.ip_addresses(v=4).filter(lambda a: a.packed[:3] != b"\0\0\0"), names)
octet = st.integers(0, 255)
short = st.binary(max_size=255)
userid = st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b""))

MESSAGES = [
    (st.builds(Greeting, st.lists(octet, min_size=1, max_size=255).map(tuple)), parse_greeting),
    (st.builds(MethodSelection, octet), parse_method_selection),
    (st.builds(UserPassRequest, short, short), parse_userpass_request),
    (st.builds(UserPassReply, octet), parse_userpass_reply),
    (st.builds(Request, st.sampled_from(list(Command)), addresses), parse_request),
    (st.builds(Reply, octet, addresses), parse_reply),
    (st.builds(Socks4Request, st.sampled_from([Command.CONNECT, Command.BIND]),
               st.builds(Address, socks4_hosts, ports), userid), parse_socks4_request),
    (st.builds(Socks4Reply, octet, st.builds(Address, st.ip_addresses(v=4), ports)), parse_socks4_reply),
]


@FAST
@given(st.one_of(*[st.tuples(strategy, st.just(parser)) for strategy, parser in MESSAGES]),
       st.binary(max_size=4))
def test_messages_round_trip(case: tuple[Message, object], trailing: bytes) -> None:
    message, parser = case
    wire = encode(message)
    assert parser(wire + trailing, 0) == (message, len(wire))  # type: ignore[operator]
    assert parser(wire[:-1], 0) is None  # type: ignore[operator]


@FAST
@given(addresses, st.binary(max_size=64), st.integers(0, 255))
def test_udp_round_trip(address: Address, data: bytes, frag: int) -> None:
    datagram = UDPDatagram(address, data, frag)
    assert decode_udp(encode_udp(datagram), fragments=True) == datagram


def _feed(role: Role, chunks: list[bytes]) -> None:
    conn = Connection(role)
    if role is Role.CLIENT:
        conn.send(Greeting((0, 2)))
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            for _ in range(4):
                event = conn.next_event()
                if isinstance(event, Sentinel):
                    break
                if isinstance(event, Greeting) and role is Role.SERVER:
                    conn.send(MethodSelection(event.methods[0]) if event.methods[0] in (0, 2)
                              else MethodSelection(0xFF))
                elif isinstance(event, UserPassRequest):
                    conn.send(UserPassReply(0))
                elif isinstance(event, Request):
                    conn.send(Reply())
                elif isinstance(event, Socks4Request):
                    conn.send(Socks4Reply())
                elif isinstance(event, MethodSelection) and event.method == 2:
                    conn.send(UserPassRequest(b"u", b"p"))
                elif isinstance(event, (MethodSelection, UserPassReply)) and event.ok:
                    conn.send(Request(Command.CONNECT, Address("x", 1)))
    except SOCKSError:
        pass


@FAST
@given(st.sampled_from([Role.CLIENT, Role.SERVER]), st.lists(st.binary(max_size=24), max_size=5))
def test_fuzz_any_bytes(role: Role, chunks: list[bytes]) -> None:
    _feed(role, chunks)


PREFIXES = [b"\x05", b"\x04", b"\x05\x01\x00", b"\x05\x01\x02", b"\x01", b"\x00"]


@FAST
@given(st.sampled_from([Role.CLIENT, Role.SERVER]), st.lists(
    st.one_of(st.sampled_from(PREFIXES), st.binary(max_size=12)), max_size=8))
def test_fuzz_protocol_shaped_bytes(role: Role, chunks: list[bytes]) -> None:
    _feed(role, [b"".join(chunks)])


@FAST
@given(st.binary(max_size=40))
def test_fuzz_udp(datagram: bytes) -> None:
    try:
        decode_udp(datagram, fragments=True)
    except SOCKSError:
        pass


def test_strategies_cover_the_address_types() -> None:
    assert isinstance(Address.of("1.2.3.4", 1).host, IPv4Address)
    assert isinstance(Address.of("::1", 1).host, IPv6Address)
