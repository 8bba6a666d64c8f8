"""An asyncio DNS stub resolver for upstream discovery: A, AAAA and SRV, UDP first, TCP if truncated.

Theory of operation: :func:`resolve` asks one question at a time, server after server, for at most
``attempts`` rounds. Each try sends the query, made and read by the project's sans-IO codec
(:mod:`pipework.codec.dns`), from a fresh connected UDP socket with a random 16-bit ID and an
EDNS payload size of 1232 octets; a datagram that is not a reply to that very query (another ID, a
question that differs, not a response) is dropped and the wait goes on, so an off-path spoofer must
guess both the ID and the source port. A reply with TC set is asked again over TCP to the same
server. NOERROR and NXDOMAIN replies are answers; SERVFAIL, REFUSED and other codes, timeouts,
malformed replies and socket errors move on to the next try, and when every try failed the last
failure is raised as :class:`ResolveError`. The records are read by following the CNAME chain
inside the answer section; the TTL is the smallest of the records used (RFC 2308's SOA minimum
for a negative answer). Nothing is cached: a caller that follows changes asks again when the TTL
runs out.

It is written here rather than taken from a library because upstream discovery needs only these
three types and the codec is already here; dnspython's async resolver would bring a second DNS
implementation into the engine.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, NamedTuple, TypeVar, overload

from pipework.codec.dns import (
    AAAA,
    CNAME,
    DEFAULT_PAYLOAD,
    HEADER_SIZE,
    MAX_MESSAGE_SIZE,
    SOA,
    SRV,
    A,
    DNSError,
    Edns,
    Message,
    Name,
    Opcode,
    Rcode,
    ResourceRecord,
    RRClass,
    RRType,
    decode,
    encode,
    frame,
    make_query,
    peek_id,
)

RTYPES = {"A": RRType.A, "AAAA": RRType.AAAA, "SRV": RRType.SRV}
DEFAULT_PORT = 53
RESOLV_CONF = "/etc/resolv.conf"
#: used when resolv.conf names no server, as glibc does
FALLBACK_SERVERS = (("127.0.0.1", DEFAULT_PORT),)
#: seconds a negative answer holds when the server sent no SOA to say (RFC 2308 5 asks for one)
DEFAULT_NEGATIVE_TTL = 30
#: a larger reply is refused; neither a UDP datagram nor a TCP length prefix can carry more
MAX_REPLY_SIZE = MAX_MESSAGE_SIZE
#: CNAME links followed inside one answer; a longer chain (or a loop) is an error
MAX_CNAME_HOPS = 16

_LENGTH = struct.Struct("!H")
Server = tuple[str, int]


class ResolveError(Exception):
    """Resolution failed: ``reason`` says why and ``server`` which server (None: before any)."""

    def __init__(self, reason: str, server: Server | None = None) -> None:
        where = "" if server is None else f" (server {_server_text(server)})"
        super().__init__(reason + where)
        self.reason = reason
        self.server = server


class SrvRecord(NamedTuple):
    """One SRV record (RFC 2782); ``target`` is a host name without the trailing dot."""

    priority: int
    weight: int
    port: int
    target: str


T = TypeVar("T", str, SrvRecord)


@dataclass(slots=True, frozen=True)
class Answer(Generic[T]):
    """What a server said about a name.

    ``records``: addresses as text for A and AAAA, :class:`SrvRecord` tuples for SRV (records whose
    target is ``.``, "no such service here" in RFC 2782, are left out), in the server's order;
    empty for NXDOMAIN or no data. ``ttl``: seconds the answer holds, the smallest TTL of the
    records read (CNAMEs and used additional records included), or for an empty answer the SOA's
    negative TTL (RFC 2308 5), else ``DEFAULT_NEGATIVE_TTL``. ``rcode``: NOERROR or NXDOMAIN.
    ``name``: the name the records belong to, after CNAMEs. ``additional``: for SRV, the addresses
    the server volunteered in its additional section, by target; targets missing here are resolved
    by the caller with A/AAAA.
    """

    records: list[T]
    ttl: int
    rcode: int
    name: str
    additional: dict[str, list[str]] = field(default_factory=dict)


def system_servers(path: str = RESOLV_CONF) -> list[Server]:
    """The ``nameserver`` lines of resolv.conf with port 53, else ``FALLBACK_SERVERS``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    servers = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append((words[1], DEFAULT_PORT))
    return servers or list(FALLBACK_SERVERS)


@overload
async def resolve(
    name: str,
    rtype: Literal["A", "AAAA"] = "A",
    *,
    servers: Sequence[Server] | None = None,
    timeout: float = 2.0,  # noqa: ASYNC109 - per try, which a caller's asyncio.timeout cannot say
    attempts: int = 2,
) -> Answer[str]: ...
@overload
async def resolve(
    name: str,
    rtype: Literal["SRV"],
    *,
    servers: Sequence[Server] | None = None,
    timeout: float = 2.0,  # noqa: ASYNC109 - per try, which a caller's asyncio.timeout cannot say
    attempts: int = 2,
) -> Answer[SrvRecord]: ...
@overload
async def resolve(
    name: str,
    rtype: str,
    *,
    servers: Sequence[Server] | None = None,
    timeout: float = 2.0,  # noqa: ASYNC109 - per try, which a caller's asyncio.timeout cannot say
    attempts: int = 2,
) -> Answer[str] | Answer[SrvRecord]: ...
async def resolve(
    name: str,
    rtype: str = "A",
    *,
    servers: Sequence[Server] | None = None,
    timeout: float = 2.0,  # noqa: ASYNC109 - per try, which a caller's asyncio.timeout cannot say
    attempts: int = 2,
) -> Answer[str] | Answer[SrvRecord]:
    """Ask for the ``rtype`` ("A", "AAAA" or "SRV") records of ``name``.

    ``servers`` are ``(address, port)`` pairs tried in order, ``attempts`` rounds over all of them
    (default: :func:`system_servers`, read at each call so that edits to resolv.conf apply).
    ``timeout`` bounds each try, and the TCP retry of a truncated reply again; the whole call
    takes at most about ``attempts * len(servers) * timeout`` seconds (twice that if every reply
    is truncated). Raises :class:`ResolveError` when no try gave an answer, ``ValueError`` for a
    bad name, type or argument.
    """
    qtype = RTYPES.get(rtype.upper())
    if qtype is None:
        raise ValueError(f"resolve: record type {rtype!r} is not one of {', '.join(RTYPES)}")
    if not timeout > 0 or attempts < 1:
        raise ValueError(f"resolve: timeout must be > 0 and attempts >= 1, not {timeout!r}, {attempts!r}")
    try:
        qname = Name.from_text(name)
    except DNSError as exc:
        raise ValueError(f"resolve: {exc}") from None
    tried = list(servers) if servers is not None else system_servers()
    if not tried:
        raise ValueError("resolve: no servers to ask")
    failure = ResolveError("no server tried")
    for _ in range(attempts):
        for server in tried:
            try:
                reply = await _exchange(qname, qtype, server, timeout)
            except ResolveError as exc:
                failure = exc
                continue
            return _answer(reply, qname, qtype, server)
    raise failure


async def _exchange(qname: Name, qtype: int, server: Server, seconds: float) -> Message:
    query = make_query(qname, qtype, id=secrets.randbits(16), edns=Edns(DEFAULT_PAYLOAD))
    wire = encode(query)
    reply = await _over_udp(wire, query, server, seconds)
    if reply.header.tc:
        reply = await _over_tcp(wire, query, server, seconds)
    if reply.header.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
        raise ResolveError(f"the server answered {_rcode_text(reply.header.rcode)}", server)
    return reply


class _UdpExchange(asyncio.DatagramProtocol):
    """Waits for the one datagram that answers ``query``; every other one is dropped."""

    def __init__(self, query: Message, server: Server, waiter: asyncio.Future[Message]) -> None:
        self.query = query
        self.server = server
        self.waiter = waiter

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.waiter.done() or not HEADER_SIZE <= len(data) <= MAX_REPLY_SIZE:
            return
        if peek_id(data) != self.query.header.id:
            return
        try:
            reply = decode(data)
        except DNSError as exc:
            self._fail(f"malformed reply: {exc}")
            return
        if _matches(reply, self.query):
            self.waiter.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        # On a connected socket this is the ICMP error of an earlier send (port unreachable...).
        self._fail(f"UDP error: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("the UDP socket closed")

    def _fail(self, reason: str) -> None:
        if not self.waiter.done():
            self.waiter.set_exception(ResolveError(reason, self.server))


async def _over_udp(wire: bytes, query: Message, server: Server, seconds: float) -> Message:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Message] = loop.create_future()
    transport: asyncio.DatagramTransport | None = None
    try:
        async with asyncio.timeout(seconds):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpExchange(query, server, waiter), remote_addr=server
            )
            transport.sendto(wire)
            return await waiter
    except TimeoutError:
        raise ResolveError(f"no answer over UDP within {seconds:g} s", server) from None
    except OSError as exc:
        raise ResolveError(f"UDP error: {exc}", server) from None
    finally:
        if transport is not None:
            transport.close()


async def _over_tcp(wire: bytes, query: Message, server: Server, seconds: float) -> Message:
    # Streams, which STYLE.md keeps off the data path: resolution is not on it (one query now and
    # then, next to no bytes), and a reader's readexactly says the framing best.
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(*server)
            try:
                writer.write(frame(wire))
                (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                data = await reader.readexactly(length)  # <= MAX_REPLY_SIZE: the prefix is 16 bits
            finally:
                writer.close()
    except TimeoutError:
        raise ResolveError(f"no answer over TCP within {seconds:g} s", server) from None
    except asyncio.IncompleteReadError:
        raise ResolveError("the TCP connection closed before the reply", server) from None
    except OSError as exc:
        raise ResolveError(f"TCP error: {exc}", server) from None
    try:
        reply = decode(data)
    except DNSError as exc:
        raise ResolveError(f"malformed reply over TCP: {exc}", server) from None
    if not _matches(reply, query):
        raise ResolveError("the reply over TCP does not match the query (ID or question)", server)
    return reply


def _matches(reply: Message, query: Message) -> bool:
    """Whether ``reply`` answers ``query``: a response, same ID and opcode, the same one question."""
    h, q = reply.header, query.question[0]
    if not h.qr or h.id != query.header.id or h.opcode != Opcode.QUERY or len(reply.question) != 1:
        return False
    got = reply.question[0]
    return got.qtype == q.qtype and got.qclass == q.qclass and got.name.equals(q.name)


def _answer(reply: Message, qname: Name, qtype: int, server: Server) -> Answer[str] | Answer[SrvRecord]:
    owner, used = qname, list[ResourceRecord]()
    for _ in range(MAX_CNAME_HOPS + 1):
        here = [rr for rr in reply.answer if rr.rclass == RRClass.IN and rr.name.equals(owner)]
        found = [rr for rr in here if rr.rtype == qtype]
        link = next((rr for rr in here if isinstance(rr.rdata, CNAME)), None)
        if found or link is None:
            break
        assert isinstance(link.rdata, CNAME)
        used.append(link)
        owner = link.rdata.target
    else:
        raise ResolveError(f"the CNAME chain of {qname} is longer than {MAX_CNAME_HOPS} links", server)
    rcode, name = reply.header.rcode, _host(owner)
    if qtype != RRType.SRV:
        return Answer(_addresses(found), _ttl(used + found, reply), rcode, name)
    records: list[SrvRecord] = []
    extra: dict[str, list[str]] = {}
    for rr in found:
        srv = rr.rdata
        if not isinstance(srv, SRV) or not srv.target:
            continue
        target = _host(srv.target)
        records.append(SrvRecord(srv.priority, srv.weight, srv.port, target))
        used.append(rr)
        glue = [g for g in reply.additional if isinstance(g.rdata, A | AAAA) and g.name.equals(srv.target)]
        if glue and target not in extra:
            extra[target] = _addresses(glue)
            used += glue
    return Answer(records, _ttl(used, reply), rcode, name, extra)


def _addresses(records: list[ResourceRecord]) -> list[str]:
    return [str(rr.rdata.address) for rr in records if isinstance(rr.rdata, A | AAAA)]


def _ttl(records: list[ResourceRecord], reply: Message) -> int:
    """The smallest TTL of ``records``, or the negative TTL when none holds the data asked for."""
    # RFC 2181 8: a TTL with the top bit set is read as zero.
    ttls = [0 if rr.ttl >= 1 << 31 else rr.ttl for rr in records]
    if all(isinstance(rr.rdata, CNAME) for rr in records):
        # RFC 2308 5: the negative TTL is the smaller of the SOA record's TTL and its MINIMUM.
        soa = [min(rr.ttl, rr.rdata.minimum) for rr in reply.authority if isinstance(rr.rdata, SOA)]
        ttls.append(soa[0] if soa else DEFAULT_NEGATIVE_TTL)
    return min(ttls)


def _host(name: Name) -> str:
    return name.to_text().rstrip(".") or "."


def _rcode_text(rcode: int) -> str:
    try:
        return Rcode(rcode).name
    except ValueError:
        return f"rcode {rcode}"


def _server_text(server: Server) -> str:
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
