"""What a :class:`Connection` hands out and takes in: messages, pings, pongs and closes.

Theory of operation: events are facts about the conversation, not about frames. A
:class:`Message` is a whole text or binary message, reassembled from its fragments and
decompressed; :class:`Ping`, :class:`Pong` and :class:`Close` are the control frames (RFC 6455
5.5). The same classes go the other way: ``Connection.send(event)`` turns one into frame bytes.
The codec answers nothing by itself — a Ping's Pong and the Close that completes the closing
handshake are the caller's to send (:meth:`Ping.response`, :meth:`Close.response`), so that a
proxy can relay them instead. Events are slotted dataclasses, mutable and unhashable; the
sentinels say why :meth:`Connection.next_event` has no event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from .errors import CloseCode


class Role(Enum):
    """The side this endpoint plays: it decides who masks (RFC 6455 5.1, 5.3)."""

    CLIENT = "client"
    SERVER = "server"


class Sentinel(Enum):
    """What :meth:`Connection.next_event` returns when it has no event."""

    NEED_DATA = "NEED_DATA"  # feed more bytes
    CLOSED = "CLOSED"  # the peer's end of stream was seen, and reported; nothing more will come

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
CLOSED: Final = Sentinel.CLOSED


@dataclass(slots=True)
class Message:
    """A whole data message: ``str`` for a text message (opcode 0x1, valid UTF-8), ``bytes``
    for a binary one (opcode 0x2). ``send`` also takes a bytearray or memoryview."""

    data: str | bytes

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)


@dataclass(slots=True)
class Ping:
    """A Ping (0x9) with up to 125 bytes of application data (5.5.2)."""

    payload: bytes = b""

    def response(self) -> Pong:
        """The Pong to answer with: "A Pong frame sent in response to a Ping frame must have
        identical 'Application data' as found in the message body of the Ping frame" (5.5.3)."""
        return Pong(self.payload)


@dataclass(slots=True)
class Pong:
    """A Pong (0xA): an answer to a Ping, or an unsolicited heartbeat (5.5.3)."""

    payload: bytes = b""


@dataclass(slots=True)
class Close:
    """A Close (0x8) with a status code and a UTF-8 reason (5.5.1).

    Received: ``code`` is 1005 (NO_STATUS_RCVD) when the frame had no body, and 1006
    (ABNORMAL_CLOSURE) when the stream ended with no Close frame at all (7.1.5) — neither was
    on the wire. Sent: 1005 sends an empty body; the codes an endpoint may not send (7.4)
    raise LocalProtocolError.
    """

    code: int = CloseCode.NORMAL_CLOSURE
    reason: str = ""

    def response(self) -> Close:
        """The Close that completes the closing handshake: "the endpoint typically echos the
        status code it received" (5.5.1). 1006 cannot be echoed; answer it with nothing."""
        return Close(self.code)


Event = Message | Ping | Pong | Close
