"""python-socks and PySocks as independent peers of our server state machine: their sans-IO
protocol objects byte for byte, and their real clients over loopback TCP (and UDP) against a
server thread driving a Connection."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import closing, contextmanager
from ipaddress import IPv4Address, IPv6Address

import pytest

# python-socks and PySocks are optional: without them this module is skipped (an error under
# PIPEWORK_REQUIRE_ALL=1, DESIGN.md 7), so their imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("python_socks", reason="python-socks is a peer: pip install python-socks")
    pytest.importorskip("socks", reason="PySocks is a peer: pip install pysocks")

import socks
from python_socks import ProxyError
from python_socks._protocols import errors as ps_errors
from python_socks._protocols import socks4 as ps4
from python_socks._protocols import socks5 as ps5
from python_socks.sync import Proxy

from pipework.codec.socks import (
    CLOSED,
    NEED_DATA,
    PAUSED,
    Address,
    AuthMethod,
    Command,
    Connection,
    Data,
    Event,
    Greeting,
    MethodSelection,
    Reply,
    ReplyCode,
    Request,
    Role,
    Socks4Reply,
    Socks4Request,
    UDPDatagram,
    UserPassReply,
    UserPassRequest,
    decode_udp,
    encode_udp,
)

TIMEOUT = 5
BOUND = Address(IPv4Address("192.0.2.7"), 40000)


def answer(server: Connection, event: Event, credentials: tuple[bytes, bytes] | None) -> Event | None:
    """Our server's policy in these tests: the reply to ``event``, if it needs one."""
    if isinstance(event, Greeting):
        wanted = AuthMethod.USERNAME_PASSWORD if credentials else AuthMethod.NO_AUTHENTICATION
        return MethodSelection(wanted if wanted in event.methods else AuthMethod.NO_ACCEPTABLE_METHODS)
    if isinstance(event, UserPassRequest):
        return UserPassReply(0 if (event.username, event.password) == credentials else 1)
    if isinstance(event, Request):
        return Reply(ReplyCode.SUCCEEDED, BOUND)
    if isinstance(event, Socks4Request):
        return Socks4Reply()
    if isinstance(event, Data):
        return Data(b"echo:" + event.data)
    return None


def serve(listener: socket.socket, credentials: tuple[bytes, bytes] | None, udp: socket.socket | None,
          result: Future[list[Event]]) -> None:
    """Accept one client and run the SOCKS server side over blocking sockets."""
    seen: list[Event] = []
    try:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            server = Connection(Role.SERVER)
            while (event := server.next_event()) is not CLOSED:
                if event is NEED_DATA:
                    server.receive_data(conn.recv(4096))
                    continue
                assert event is not PAUSED
                seen.append(event)  # type: ignore[arg-type]
                if isinstance(event, Request) and event.command == Command.UDP_ASSOCIATE and udp is not None:
                    host, port = udp.getsockname()
                    conn.sendall(server.send(Reply(0, Address(IPv4Address(host), port))))
                    data, peer = udp.recvfrom(2048)
                    datagram = decode_udp(data)
                    seen.append(datagram)  # type: ignore[arg-type]
                    udp.sendto(encode_udp(UDPDatagram(datagram.address, b"echo:" + datagram.data)), peer)
                    continue
                reply = answer(server, event, credentials)  # type: ignore[arg-type]
                if reply is not None:
                    conn.sendall(server.send(reply))
        result.set_result(seen)
    except BaseException as exc:  # hand every failure to the test thread
        result.set_exception(exc)


@contextmanager
def socks_server(credentials: tuple[bytes, bytes] | None = None, *, udp: bool = False) -> Iterator[
        tuple[int, Future[list[Event]]]]:
    with closing(socket.create_server(("127.0.0.1", 0))) as listener, \
            closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as relay:
        listener.settimeout(TIMEOUT)
        relay.settimeout(TIMEOUT)
        relay.bind(("127.0.0.1", 0))
        result: Future[list[Event]] = Future()
        thread = threading.Thread(target=serve, args=(listener, credentials, relay if udp else None, result),
                                  daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1], result
        finally:
            thread.join(TIMEOUT)


def echo_through(sock: socket.socket) -> bytes:
    sock.sendall(b"ping")
    return sock.recv(100)


@pytest.mark.parametrize(("url", "credentials", "first"), [
    ("socks5://127.0.0.1:{port}", None, Greeting((0,))),
    ("socks5://alice:s3cret@127.0.0.1:{port}", (b"alice", b"s3cret"), Greeting((0, 2))),
    ("socks4://127.0.0.1:{port}", None, Socks4Request(Command.CONNECT, Address("example.com", 443))),
])
def test_python_socks_client(url: str, credentials: tuple[bytes, bytes] | None, first: Event) -> None:
    with socks_server(credentials) as (port, result):
        proxy = Proxy.from_url(url.format(port=port), rdns=True)
        with closing(proxy.connect(dest_host="example.com", dest_port=443, timeout=TIMEOUT)) as sock:
            assert echo_through(sock) == b"echo:ping"
    seen = result.result(TIMEOUT)
    assert seen[0] == first
    assert Request(Command.CONNECT, Address("example.com", 443)) in seen or isinstance(first, Socks4Request)
    assert seen[-1] == Data(b"ping")


def test_python_socks_wrong_password_is_refused() -> None:
    with socks_server((b"alice", b"s3cret")) as (port, result):
        proxy = Proxy.from_url(f"socks5://alice:wrong@127.0.0.1:{port}")
        with pytest.raises(ProxyError):
            proxy.connect(dest_host="example.com", dest_port=443, timeout=TIMEOUT)
    assert result.result(TIMEOUT)[-1] == UserPassRequest(b"alice", b"wrong")


@pytest.mark.parametrize(("kind", "dest", "rdns", "credentials"), [
    (socks.SOCKS5, ("example.com", 80), True, None),
    (socks.SOCKS5, ("192.0.2.1", 80), False, (b"bob", b"pw")),
    (socks.SOCKS5, ("2001:db8::1", 80), False, None),
    (socks.SOCKS4, ("192.0.2.1", 80), False, None),
    (socks.SOCKS4, ("example.com", 80), True, None),  # SOCKS4a
])
def test_pysocks_client(kind: int, dest: tuple[str, int], rdns: bool, credentials: tuple[bytes, bytes] | None,
                        ) -> None:
    with socks_server(credentials) as (port, result):
        user, password = (c.decode() for c in credentials) if credentials else (None, None)
        with closing(socks.socksocket()) as sock:
            sock.settimeout(TIMEOUT)
            sock.set_proxy(kind, "127.0.0.1", port, rdns=rdns, username=user, password=password)
            sock.connect(dest)
            assert echo_through(sock) == b"echo:ping"
    seen = result.result(TIMEOUT)
    requests = [e for e in seen if isinstance(e, (Request, Socks4Request))]
    assert len(requests) == 1
    assert requests[0].address == Address.of(*dest)


def test_pysocks_udp_associate() -> None:
    with socks_server(udp=True) as (port, result):
        with closing(socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)) as sock:
            sock.settimeout(TIMEOUT)
            sock.set_proxy(socks.SOCKS5, "127.0.0.1", port)
            sock.sendto(b"query", ("192.0.2.53", 53))
            data, source = sock.recvfrom(100)
        assert (data, source) == (b"echo:query", ("192.0.2.53", 53))
    seen = result.result(TIMEOUT)
    assert isinstance(seen[1], Request)
    assert seen[1].command == Command.UDP_ASSOCIATE
    assert UDPDatagram(Address(IPv4Address("192.0.2.53"), 53), b"query") in seen


def test_python_socks_sans_io_socks5_against_our_server() -> None:
    client, server = ps5.Connection(), Connection(Role.SERVER)
    server.receive_data(client.send(ps5.AuthMethodsRequest(username="u", password="p")))
    assert server.next_event() == Greeting((0, 2))
    assert client.receive(server.send(MethodSelection(2))).method == ps5.AuthMethod.USERNAME_PASSWORD
    server.receive_data(client.send(ps5.AuthRequest(username="u", password="p")))
    assert server.next_event() == UserPassRequest(b"u", b"p")
    client.receive(server.send(UserPassReply(0)))
    server.receive_data(client.send(ps5.ConnectRequest(host="2001:db8::5", port=8443)))
    assert server.next_event() == Request(Command.CONNECT, Address(IPv6Address("2001:db8::5"), 8443))
    reply = client.receive(server.send(Reply(0, Address(IPv6Address("2001:db8::9"), 1234))))
    assert (reply.reply, reply.bound_host, reply.bound_port) == (0, "2001:db8::9", 1234)


@pytest.mark.parametrize("code", [ReplyCode.CONNECTION_REFUSED, ReplyCode.TTL_EXPIRED])
def test_python_socks_reads_our_failure_codes(code: ReplyCode) -> None:
    client, server = ps5.Connection(), Connection(Role.SERVER)
    server.receive_data(client.send(ps5.AuthMethodsRequest(username=None, password=None)))
    server.next_event()
    client.receive(server.send(MethodSelection(0)))
    server.receive_data(client.send(ps5.ConnectRequest(host="example.com", port=80)))
    server.next_event()
    with pytest.raises(ps_errors.ReplyError) as info:
        client.receive(server.send(Reply(code)))
    assert info.value.error_code == code


def test_python_socks_sans_io_socks4a_against_our_server() -> None:
    client, server = ps4.Connection(), Connection(Role.SERVER)
    server.receive_data(client.send(ps4.ConnectRequest(host="example.org", port=25, user_id="carol")))
    assert server.next_event() == Socks4Request(Command.CONNECT, Address("example.org", 25), b"carol")
    reply = client.receive(server.send(Socks4Reply(90, Address(IPv4Address("192.0.2.9"), 25))))
    assert (reply.host, reply.port) == ("192.0.2.9", 25)
