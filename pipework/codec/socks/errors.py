"""The SOCKS codec's one error family.

Theory of operation: everything the codec refuses raises a :class:`SOCKSError`. The subclass says
whose fault it is; ``reply_code`` says what it means on the wire, in the field of the message that
would carry the refusal at that point of the conversation:

- a SOCKS5 greeting: the method ``X'FF'`` ("NO ACCEPTABLE METHODS", RFC 1928 3);
- a username/password request: a non-zero STATUS (RFC 1929 2);
- a SOCKS5 request: the REP code, ``X'01'`` general failure, ``X'07'`` command not supported or
  ``X'08'`` address type not supported (RFC 1928 6);
- a SOCKS4 request: CD 91, "request rejected or failed" (SOCKS4 protocol document);
- None where the protocol has no way to say it (an unknown version byte, a UDP datagram, any
  error in what a server sent us).

:class:`RemoteProtocolError` is the peer's fault. A server-side :class:`~.connection.Connection`
queues the refusal (``data_to_send``) before raising, so the caller flushes it and closes.
:class:`LocalProtocolError` is ours: sending a message out of turn, a name longer than 255
octets, a port outside 0-65535.
"""

from __future__ import annotations


class SOCKSError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        reply_code: the code that refuses the offending message on the wire (see the module doc),
            or None when the protocol cannot carry a refusal there.
        version: 4 or 5, the SOCKS version of the conversation, or None if not yet known.
    """

    reply_code: int | None
    version: int | None

    def __init__(self, msg: str, reply_code: int | None = None, version: int | None = None) -> None:
        if type(self) is SOCKSError:
            raise TypeError("SOCKSError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.reply_code = reply_code
        self.version = version

    def __repr__(self) -> str:
        code = "None" if self.reply_code is None else f"{self.reply_code:#04x}"
        return f"{type(self).__name__}({self.args[0]!r}, reply_code={code}, version={self.version})"


class LocalProtocolError(SOCKSError):
    """We (the caller of the codec) asked for something SOCKS forbids; nothing was sent."""


class RemoteProtocolError(SOCKSError):
    """The peer broke the protocol. Flush ``Connection.data_to_send()``, then close."""
