"""DNS messages (RFC 1035 4): dataclasses, ``decode`` and ``encode`` with UDP truncation.

Theory of operation: ``decode`` walks a datagram once, left to right. It first checks that the
four section counts could fit in the octets present (every question takes at least 5, every record
at least 11), so a 12-octet header claiming 65535 records costs nothing; then it reads names with a
per-message cache (see ``names``), record headers with one ``struct`` call each, and RDATA through
``rdata.decode_rdata``. The OPT pseudo-record is lifted out of the additional section into
``Message.edns`` and its extended rcode bits are merged into ``Header.rcode`` (RFC 6891 6.1.3).
Any violation raises ``RemoteProtocolError`` with rcode FORMERR.

``encode`` writes into one ``bytearray`` with a ``Compressor`` shared by all names, then patches
the header counts. Given ``max_size`` (the client's UDP limit, see ``max_udp_size``) it drops what
does not fit, as RFC 2181 9 describes: records are cut from the end; if an answer or authority
record had to go, the rest of the message goes too and TC is set, so the client retries over TCP;
if only additional records had to go, whole RRsets are dropped and TC stays clear ("The TC bit
should not be set merely because some extra information could have been included"). The OPT record
is always kept (RFC 6891 7: a truncated response still carries it) and written last, or just
before a final TSIG (RFC 8945 5.1: TSIG "MUST be the last record").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .constants import CLASSIC_UDP_SIZE, HEADER_SIZE, MAX_MESSAGE_SIZE, Opcode, Rcode, RRClass, RRType
from .edns import DEFAULT_PAYLOAD, Edns, decode_opt, encode_opt
from .errors import LocalProtocolError, RemoteProtocolError
from .names import Compressor, Name, NameCache, read_name
from .rdata import Rdata, decode_rdata

_HEADER = struct.Struct("!HHHHHH")  # ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT (RFC 1035 4.1.1)
_QUESTION = struct.Struct("!HH")  # QTYPE, QCLASS after the QNAME (4.1.2)
_RR = struct.Struct("!HHIH")  # TYPE, CLASS, TTL, RDLENGTH after the NAME (4.1.3)

_QR, _AA, _TC, _RD, _RA, _Z, _AD, _CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010

#: The smallest question (root name, QTYPE, QCLASS) and record (root name, fixed part, no RDATA):
#: counts times these must fit in the message before we loop over them.
MIN_QUESTION_SIZE = 1 + _QUESTION.size
MIN_RECORD_SIZE = 1 + _RR.size


@dataclass(slots=True)
class Header:
    """The message header (RFC 1035 4.1.1; AD and CD from RFC 4035 3.2).

    ``rcode`` is the full 12-bit response code: its upper 8 bits travel in the OPT record, so values
    above 15 need ``Message.edns`` (RFC 6891 6.1.3). ``z`` is the reserved bit, kept verbatim.
    """

    id: int = 0
    qr: bool = False
    opcode: int = Opcode.QUERY
    aa: bool = False
    tc: bool = False
    rd: bool = False
    ra: bool = False
    z: bool = False
    ad: bool = False
    cd: bool = False
    rcode: int = Rcode.NOERROR

    @classmethod
    def from_wire(cls, ident: int, flags: int) -> Header:
        """The header for the 16-bit ID and flags words as they travel."""
        return cls(
            ident, bool(flags & _QR), (flags >> 11) & 0xF, bool(flags & _AA), bool(flags & _TC),
            bool(flags & _RD), bool(flags & _RA), bool(flags & _Z), bool(flags & _AD), bool(flags & _CD),
            flags & 0xF,
        )

    def flags(self, tc: bool | None = None) -> int:
        """The flags word (lower 4 bits of the rcode); ``tc`` overrides the TC bit."""
        if not 0 <= self.opcode <= 0xF:
            raise LocalProtocolError(f"opcode {self.opcode} does not fit 4 bits (RFC 1035 4.1.1)")
        tc = self.tc if tc is None else tc
        return (
            (_QR if self.qr else 0) | self.opcode << 11 | (_AA if self.aa else 0) | (_TC if tc else 0)
            | (_RD if self.rd else 0) | (_RA if self.ra else 0) | (_Z if self.z else 0)
            | (_AD if self.ad else 0) | (_CD if self.cd else 0) | (self.rcode & 0xF)
        )


@dataclass(slots=True)
class Question:
    """One entry of the question section (RFC 1035 4.1.2)."""

    name: Name
    qtype: int = RRType.A
    qclass: int = RRClass.IN


@dataclass(slots=True)
class ResourceRecord:
    """A record of the answer, authority or additional section (RFC 1035 4.1.3).

    The type is the RDATA's (``rtype``), so a record cannot disagree with its data. ``ttl`` is the
    32-bit value as sent (RFC 2181 8 asks readers to treat values with the top bit set as zero).
    """

    name: Name
    rdata: Rdata
    ttl: int = 0
    rclass: int = RRClass.IN

    @property
    def rtype(self) -> int:
        """The record type, from the RDATA."""
        return self.rdata.rtype

    def same_rrset(self, other: ResourceRecord) -> bool:
        """Whether both records belong to one RRset: same name (ignoring case), type and class."""
        return self.rtype == other.rtype and self.rclass == other.rclass and self.name.equals(other.name)


@dataclass(slots=True)
class Message:
    """A DNS message. ``additional`` never holds the OPT record: EDNS lives in ``edns``."""

    header: Header = field(default_factory=Header)
    question: list[Question] = field(default_factory=list)
    answer: list[ResourceRecord] = field(default_factory=list)
    authority: list[ResourceRecord] = field(default_factory=list)
    additional: list[ResourceRecord] = field(default_factory=list)
    edns: Edns | None = None


def decode(buf: bytes | bytearray | memoryview) -> Message:
    """Decode one whole message (a UDP datagram, a TCP frame's payload).

    Raises ``RemoteProtocolError`` (rcode FORMERR) for anything malformed, including octets left
    over after the last record.
    """
    message, used = decode_prefix(buf)
    if used != len(buf):
        raise RemoteProtocolError(f"{len(buf) - used} octets after the last record")
    return message


def decode_prefix(buf: bytes | bytearray | memoryview) -> tuple[Message, int]:
    """Decode the message at the start of ``buf``; return it and the number of octets it used.

    Octets after the message are left alone. Raises ``RemoteProtocolError`` (FORMERR) when the
    message is malformed or ``buf`` ends inside it.
    """
    data = buf if type(buf) is bytes else bytes(buf)
    n = len(data)
    if n < HEADER_SIZE:
        raise RemoteProtocolError(f"{n} octets: shorter than the {HEADER_SIZE}-octet header (RFC 1035 4.1.1)")
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if HEADER_SIZE + qdcount * MIN_QUESTION_SIZE + (ancount + nscount + arcount) * MIN_RECORD_SIZE > n:
        raise RemoteProtocolError("the section counts claim more entries than the message can hold")
    header = Header.from_wire(ident, flags)
    cache: NameCache = {}
    pos = HEADER_SIZE
    question = []
    for _ in range(qdcount):
        name, pos = read_name(data, pos, cache)
        if pos + _QUESTION.size > n:
            raise RemoteProtocolError("question runs past the end of the message")
        qtype, qclass = _QUESTION.unpack_from(data, pos)
        pos += _QUESTION.size
        question.append(Question(name, qtype, qclass))
    sections: tuple[list[ResourceRecord], ...] = ([], [], [])
    edns: Edns | None = None
    for index, count in enumerate((ancount, nscount, arcount)):
        records = sections[index]
        for _ in range(count):
            name, pos = read_name(data, pos, cache)
            if pos + _RR.size > n:
                raise RemoteProtocolError("record header runs past the end of the message")
            rtype, rclass, ttl, rdlength = _RR.unpack_from(data, pos)
            pos += _RR.size
            end = pos + rdlength
            if end > n:
                raise RemoteProtocolError("RDATA runs past the end of the message (RDLENGTH too large)")
            if rtype == RRType.OPT:
                # RFC 6891 6.1.1: the OPT RR goes in the additional section, at most once ("If a query
                # message with more than one OPT RR is received, a FORMERR (RCODE=1) MUST be
                # returned"); 6.1.2: its NAME "MUST be 0 (root domain)".
                if index != 2:
                    raise RemoteProtocolError("OPT record outside the additional section (RFC 6891 6.1.1)")
                if edns is not None:
                    raise RemoteProtocolError("more than one OPT record (RFC 6891 6.1.1)")
                if name:
                    raise RemoteProtocolError("OPT record owner is not the root (RFC 6891 6.1.2)")
                edns, ext_rcode = decode_opt(data, pos, end, rclass, ttl)
                header.rcode |= ext_rcode << 4
            else:
                rdata = decode_rdata(data, pos, end, rtype, rclass, cache)
                records.append(ResourceRecord(name, rdata, ttl, rclass))
            pos = end
    return Message(header, question, sections[0], sections[1], sections[2], edns), pos


def encode(message: Message, max_size: int | None = None) -> bytes:
    """The wire form of ``message``, names compressed.

    With ``max_size`` (for UDP: ``max_udp_size(query)``) the result is cut to fit as the module
    docstring describes, setting TC when answer or authority records were dropped. Without it the
    message must fit 65535 octets. Raises ``LocalProtocolError`` for values the wire cannot carry,
    a message over the limit, or a ``max_size`` too small for the header, question and OPT record.
    """
    try:
        return _encode(message, max_size)
    except (struct.error, ValueError) as exc:  # an int that does not fit its field; a byte > 255
        raise LocalProtocolError(f"a field does not fit its wire width: {exc}") from None


def _encode(message: Message, max_size: int | None) -> bytes:
    header = message.header
    if not 0 <= header.rcode <= 0xFFF:
        raise LocalProtocolError(f"rcode {header.rcode} does not fit 12 bits (RFC 6891 6.1.3)")
    if message.edns is not None:
        opt = encode_opt(message.edns, header.rcode >> 4)
    elif header.rcode > 0xF:
        raise LocalProtocolError(f"rcode {header.rcode} needs EDNS for its upper bits (RFC 6891 6.1.3)")
    else:
        opt = b""
    limit = MAX_MESSAGE_SIZE if max_size is None else min(max_size, MAX_MESSAGE_SIZE)
    additional = message.additional
    tsig = additional[-1:] if additional and additional[-1].rtype == RRType.TSIG else []
    if tsig:
        additional = additional[:-1]
    out = bytearray(HEADER_SIZE)
    compressor = Compressor()
    for q in message.question:
        compressor.write(out, q.name)
        out += _QUESTION.pack(q.qtype, q.qclass)
    budget = limit - len(opt)
    if len(out) > budget:
        need = len(out) + len(opt)
        raise LocalProtocolError(f"header, question and OPT take {need} octets, more than {limit}")
    tc = header.tc
    counts = [0, 0, 0]
    for index, records in enumerate((message.answer, message.authority, additional)):
        counts[index] = _write_records(out, records, compressor, budget, whole_rrsets=index == 2)
        if counts[index] < len(records):
            if max_size is None:
                raise LocalProtocolError(f"message longer than {MAX_MESSAGE_SIZE} octets (RFC 1035 4.2.2)")
            if index < 2:
                tc = True  # RFC 2181 9: required records did not fit
                break
    complete = not tc and counts[2] == len(additional)
    out += opt
    if opt:
        counts[2] += 1
    if tsig and complete:
        kept = _write_records(out, tsig, compressor, limit, whole_rrsets=False)
        if not kept and max_size is None:
            raise LocalProtocolError(f"message longer than {MAX_MESSAGE_SIZE} octets (RFC 1035 4.2.2)")
        counts[2] += kept
    _HEADER.pack_into(out, 0, header.id, header.flags(tc), len(message.question), *counts)
    return bytes(out)


def _write_records(
    out: bytearray, records: list[ResourceRecord], compressor: Compressor, budget: int, whole_rrsets: bool
) -> int:
    """Append records while ``out`` stays within ``budget``; return how many were kept."""
    marks: list[int] = []
    for rr in records:
        if rr.rtype == RRType.OPT:
            raise LocalProtocolError("put EDNS in Message.edns, not an OPT record (RFC 6891 6.1.1)")
        mark = len(out)
        compressor.write(out, rr.name)
        fixed = len(out)
        out += bytes(_RR.size)
        rr.rdata.to_wire(out, compressor)
        rdlength = len(out) - fixed - _RR.size
        if rdlength > 0xFFFF:
            raise LocalProtocolError(f"RDATA of {rdlength} octets does not fit RDLENGTH (RFC 1035 4.1.3)")
        _RR.pack_into(out, fixed, rr.rtype, rr.rclass, rr.ttl, rdlength)
        if len(out) > budget:
            # Drop this record, and with whole_rrsets the kept records of its RRset (RFC 2181 9).
            while whole_rrsets and marks and records[len(marks) - 1].same_rrset(rr):
                mark = marks.pop()
            del out[mark:]
            compressor.forget(mark)
            break
        marks.append(mark)
    return len(marks)


def max_udp_size(query: Message) -> int:
    """The largest UDP response ``query``'s sender accepts: 512 without EDNS (RFC 1035 4.2.1), else
    its advertised payload size, values below 512 read as 512 (RFC 6891 6.2.5)."""
    if query.edns is None:
        return CLASSIC_UDP_SIZE
    return max(CLASSIC_UDP_SIZE, query.edns.payload)


def make_query(
    name: Name | str, qtype: int = RRType.A, qclass: int = RRClass.IN, *, id: int = 0, rd: bool = True,
    edns: Edns | None = None,
) -> Message:
    """A query for one question; ``name`` may be presentation text (``LocalProtocolError`` if bad)."""
    qname = Name.from_text(name) if isinstance(name, str) else name
    return Message(Header(id=id, rd=rd), [Question(qname, qtype, qclass)], edns=edns)


def make_response(query: Message, rcode: int = Rcode.NOERROR) -> Message:
    """An empty response to ``query``: same ID, opcode and question; RD and CD copied (RFC 1035 4.1.1,
    RFC 4035 3.2.2); an OPT record when the query had one (RFC 6891 7), with DO copied (RFC 3225 3)."""
    q = query.header
    header = Header(id=q.id, qr=True, opcode=q.opcode, rd=q.rd, cd=q.cd, rcode=rcode)
    edns = None if query.edns is None else Edns(DEFAULT_PAYLOAD, dnssec_ok=query.edns.dnssec_ok)
    return Message(header, list(query.question), edns=edns)
