"""A small authoritative DNS server for the tests, written with dnspython: an independent peer.

It answers over UDP and TCP on the same port of 127.0.0.1 (or ::1), each in a thread of the test
process, from ``zone``, which a test may change while the server runs. Names listed in
``behaviour`` misbehave on purpose: ``servfail``, ``refused``, ``silent`` (never answers),
``truncate`` (UDP replies are empty with TC set; TCP answers), ``spoof`` (over UDP, first two
malformed datagrams, a reply with another ID and one to another question, then the true one) and
``garbage`` (a reply with the right ID whose records are cut short). Every query is logged in
``queries`` as ``(transport, name, type)``.
"""

from __future__ import annotations

import socket
import struct
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

_LENGTH = struct.Struct("!H")


class DnsServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        #: (lower-case name with the trailing dot, type) -> (ttl, [rdata in presentation form])
        self.zone: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self.soa = (300, "ns.test. hostmaster.test. 1 3600 600 86400 60")
        self.behaviour: dict[str, str] = {}
        self.queries: list[tuple[str, str, str]] = []
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(20):  # UDP on port 0, then TCP on the port it got (taken now and then)
            self.udp = socket.socket(family, socket.SOCK_DGRAM)
            self.udp.bind((host, 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen(16)
        self.udp.settimeout(0.05)
        self.tcp.settimeout(0.05)
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._serve_udp, self._serve_tcp)]
        for t in self.threads:
            t.start()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def set(self, name: str, rtype: str, ttl: int, *rdata: str) -> None:
        self.zone[(name.lower().rstrip(".") + ".", rtype)] = (ttl, list(rdata))

    def close(self) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(5)
        self.udp.close()
        self.tcp.close()

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            for reply in self._replies(wire, "udp"):
                self.udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    (length,) = _LENGTH.unpack(_read(conn, 2))
                    for reply in self._replies(_read(conn, length), "tcp"):
                        conn.sendall(_LENGTH.pack(len(reply)) + reply)
                except (OSError, EOFError):
                    pass

    def _replies(self, wire: bytes, transport: str) -> list[bytes]:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((transport, name, rtype))
        how = self.behaviour.get(name, "")
        response = dns.message.make_response(query)
        if how == "silent":
            return []
        if how in ("servfail", "refused"):
            response.set_rcode(dns.rcode.SERVFAIL if how == "servfail" else dns.rcode.REFUSED)
            return [response.to_wire()]
        if how == "truncate" and transport == "udp":
            response.flags |= dns.flags.TC
            return [response.to_wire()]
        self._fill(response, name, rtype)
        if how == "garbage":
            return [response.to_wire()[:-3]]
        if how == "spoof" and transport == "udp":
            forged = dns.message.make_response(query)
            forged.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "203.0.113.66"))
            forged.id = (query.id + 1) % 65536
            other = dns.message.make_query("other.test.", rtype, id=query.id)
            other_reply = dns.message.make_response(other)
            other_reply.answer.append(dns.rrset.from_text("other.test.", 300, "IN", "A", "203.0.113.67"))
            runt = response.to_wire()[:6]  # too short to tell whose it is
            junk = _LENGTH.pack((query.id + 2) % 65536) + response.to_wire()[2:20]  # another ID, cut short
            return [runt, junk, forged.to_wire(), other_reply.to_wire(), response.to_wire()]
        return [response.to_wire()]

    def _fill(self, response: dns.message.Message, name: str, rtype: str) -> None:
        """Answer from the zone, following CNAMEs (at most 20 links, so that a loop ends)."""
        for _ in range(20):
            if (name, rtype) in self.zone:
                ttl, rdata = self.zone[(name, rtype)]
                response.answer.append(dns.rrset.from_text_list(name, ttl, "IN", rtype, rdata))
                if rtype == "SRV":
                    self._glue(response, rdata)
                return
            if (name, "CNAME") not in self.zone:
                break
            ttl, (target,) = self.zone[(name, "CNAME")]
            response.answer.append(dns.rrset.from_text(name, ttl, "IN", "CNAME", target))
            name = target.lower()
        else:
            return
        if not any(key[0] == name for key in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        ttl, soa = self.soa
        response.authority.append(dns.rrset.from_text("test.", ttl, "IN", "SOA", soa))

    def _glue(self, response: dns.message.Message, srv_rdata: list[str]) -> None:
        for rdata in srv_rdata:
            target = rdata.split()[-1].lower()
            for rtype in ("A", "AAAA"):
                if (target, rtype) in self.zone:
                    ttl, addresses = self.zone[(target, rtype)]
                    response.additional.append(dns.rrset.from_text_list(target, ttl, "IN", rtype, addresses))


class SilentServer:
    """A UDP socket that never reads: queries sent to it go unanswered."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address: tuple[str, int] = self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
