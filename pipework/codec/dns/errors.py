"""The DNS codec's one error family.

Theory of operation: everything the codec refuses raises a ``DNSError``. The subclass says whose
fault it is, and ``rcode`` says what that means on the wire, so the caller never parses messages:

- ``RemoteProtocolError``: bytes from the peer break the protocol (a truncated header, a
  compression loop, an rdlength past the end). ``rcode`` is what a server answers such a query
  with, almost always FORMERR (RFC 1035 4.1.1). A client that gets one for a *response* should drop
  the datagram and keep waiting (a forged or mangled datagram must not end the lookup, RFC 5452 9.1).
- ``LocalProtocolError``: the caller asked for something the wire cannot carry (a 64-octet label,
  a message over 65535 octets, an rcode above 15 without EDNS). ``rcode`` is how a peer would have
  answered had we sent it.

The decoder raises ``RemoteProtocolError`` directly (it only ever sees peer bytes) and the encoder
raises ``LocalProtocolError``; neither lets ``IndexError``, ``struct.error`` or ``ValueError``
escape: the property tests fuzz that contract.
"""

from __future__ import annotations

from .constants import Rcode


class DNSError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        rcode: the DNS response code that describes the failure on the wire (``Rcode.FORMERR`` unless
            said otherwise), e.g. for a server to answer the offending query with.
        reply: octets the codec already prepared for the peer, or None. ``StreamDecoder.next_event``
            sets it to a framed FORMERR response when a query it received is malformed, so a
            server only sends it and reads on (a response, or a broken stream, gets none).
    """

    rcode: int
    reply: bytes | None

    def __init__(self, msg: str, rcode: int = Rcode.FORMERR) -> None:
        if type(self) is DNSError:
            raise TypeError("DNSError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.rcode = rcode
        self.reply = None


class LocalProtocolError(DNSError):
    """We (the caller of the codec) tried to put something on the wire that DNS forbids."""


class RemoteProtocolError(DNSError):
    """The peer sent bytes that are not a valid DNS message (or TCP stream of messages)."""
