"""DNS numbers: record types, classes, opcodes, rcodes and EDNS option codes.

Theory of operation: the wire carries plain integers and so do the codec's dataclasses (a
``Question.qtype`` is an ``int``), because a proxy must pass through values it has never heard of
(RFC 3597). These ``IntEnum`` classes name the values the codec knows; members compare equal to
the integers, so ``question.qtype == RRType.AAAA`` works on decoded messages. Values are the IANA
"Domain Name System (DNS) Parameters" registry entries.
"""

from __future__ import annotations

from enum import IntEnum


class RRType(IntEnum):
    """Resource record types (RFC 1035 3.2.2 and later RFCs); also QTYPEs (3.2.3)."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    HINFO = 13
    MX = 15
    TXT = 16
    AAAA = 28  # RFC 3596
    SRV = 33  # RFC 2782
    NAPTR = 35  # RFC 3403
    DNAME = 39  # RFC 6672
    OPT = 41  # RFC 6891
    DS = 43  # RFC 4034
    RRSIG = 46
    NSEC = 47
    DNSKEY = 48
    SVCB = 64  # RFC 9460
    HTTPS = 65  # RFC 9460
    TKEY = 249
    TSIG = 250  # RFC 8945
    IXFR = 251
    AXFR = 252
    ANY = 255
    CAA = 257  # RFC 8659


class RRClass(IntEnum):
    """Classes (RFC 1035 3.2.4) and QCLASSes (3.2.5)."""

    IN = 1
    CH = 3
    HS = 4
    NONE = 254  # RFC 2136 (dynamic update)
    ANY = 255


class Opcode(IntEnum):
    """Header OPCODE values (RFC 1035 4.1.1 and later)."""

    QUERY = 0
    IQUERY = 1  # obsolete, RFC 3425
    STATUS = 2
    NOTIFY = 4  # RFC 1996
    UPDATE = 5  # RFC 2136
    DSO = 6  # RFC 8490


class Rcode(IntEnum):
    """Response codes. Values above 15 need EDNS: the upper 8 bits travel in the OPT record."""

    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    YXDOMAIN = 6
    YXRRSET = 7
    NXRRSET = 8
    NOTAUTH = 9
    NOTZONE = 10
    BADVERS = 16  # RFC 6891 6.1.3
    BADCOOKIE = 23  # RFC 7873


class EdnsOptionCode(IntEnum):
    """EDNS(0) option codes (RFC 6891 6.1.2, IANA registry)."""

    NSID = 3  # RFC 5001
    CLIENT_SUBNET = 8  # RFC 7871
    EXPIRE = 9  # RFC 7314
    COOKIE = 10  # RFC 7873
    TCP_KEEPALIVE = 11  # RFC 7828
    PADDING = 12  # RFC 7830
    EXTENDED_ERROR = 15  # RFC 8914


#: Size of the fixed DNS header (RFC 1035 4.1.1).
HEADER_SIZE = 12

#: The largest DNS message: the 16-bit TCP length prefix (RFC 1035 4.2.2) and the UDP length field
#: both stop at 65535 octets, so no message of either transport can be longer.
MAX_MESSAGE_SIZE = 65535

#: The UDP payload every resolver accepts without EDNS (RFC 1035 2.3.4, 4.2.1).
CLASSIC_UDP_SIZE = 512
