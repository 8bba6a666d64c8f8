"""The RESP codec's one error family.

Theory of operation: everything the codec refuses raises a :class:`RESPError`. The subclass says
whose fault it is; ``error`` says what it means on the wire, as the simple error a Redis server
would answer with ("ERR Protocol error: invalid bulk length"), so that a proxy standing in for a
server can tell a broken client why before it closes, exactly as Redis does:

- :class:`RemoteProtocolError`: the peer's bytes are not RESP (a length that is not a number, a
  bulk string without its CRLF, a nesting deeper than our limit). When the decoder reads a
  client's commands it also queues ``reply`` for :meth:`Decoder.data_to_send`; Redis itself
  answers a protocol error with such a reply and closes the connection (``networking.c``,
  ``setProtocolError``).
- :class:`LocalProtocolError`: the caller asked for something RESP cannot carry (a simple string
  with a CR in it, a RESP3 type on a RESP2 connection, data after the end of stream).

Neither lets ``IndexError``, ``ValueError`` or ``UnicodeError`` escape: the property tests fuzz
that contract.
"""

from __future__ import annotations

from typing import Final

#: The error code Redis puts before every protocol error (RESP3 "Simple error": "The first word
#: in the error is in upper case and describes the error code").
ERROR_CODE: Final = "ERR"


class RESPError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        error: the simple error text (without ``-`` and CRLF) that names the failure on the wire,
            e.g. ``"ERR Protocol error: invalid bulk length"``; the words after ``Protocol
            error:`` are Redis's own where Redis has a message for the case.
    """

    error: str

    def __init__(self, msg: str, error: str = "Protocol error") -> None:
        if type(self) is RESPError:
            raise TypeError("RESPError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.error = f"{ERROR_CODE} {error}"

    @property
    def reply(self) -> bytes:
        """``error`` as a RESP simple error, ready to send: ``-ERR Protocol error: ...\\r\\n``."""
        return b"-" + self.error.encode("ascii", "replace") + b"\r\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.error!r})"


class LocalProtocolError(RESPError):
    """We (the caller of the codec) asked for something RESP cannot express. Nothing was sent."""


class RemoteProtocolError(RESPError):
    """The peer sent bytes that are not RESP. Flush :meth:`Decoder.data_to_send`, then close."""


def protocol_error(msg: str, redis_text: str) -> RemoteProtocolError:
    """A peer error whose wire text is Redis's ``Protocol error: <redis_text>``."""
    return RemoteProtocolError(msg, f"Protocol error: {redis_text}")
