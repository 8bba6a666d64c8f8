"""DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): a two-octet length before every message.

Theory of operation: ``StreamDecoder`` is the codec's stream shape. The I/O layer hands it whatever
the socket produced with ``receive_data(chunk)`` (``b""`` for EOF), then calls ``next_event()``
until it returns ``NEED_DATA``; each call returns one decoded ``Message``, or ``CLOSED`` once the
peer has closed cleanly between messages. Chunks may split a frame anywhere, even inside the length
prefix, and may hold many pipelined frames (RFC 7766 6.2.1.1). Received octets live in one
``bytearray`` with a read offset, compacted when the consumed part passes half of it, so that
feeding a frame octet by octet does not copy the buffer each time.

Two kinds of failure: a *framing* failure (a length that cannot be a message, EOF inside a frame)
leaves no way to find the next message, so the decoder turns to ERROR and every later call raises.
A frame that holds a malformed message is consumed and ``next_event()`` raises
``RemoteProtocolError``, but the stream stays usable: the exception's ``reply`` already holds the
framed FORMERR answer to a malformed query, so a server sends it and reads on. Callers that
want the raw octets (to forward them untouched) use ``next_frame()`` and ``decode()`` themselves.

Sending needs no state: ``frame(encode(message))``, or ``encode_tcp(message)``.
"""

from __future__ import annotations

import enum
import struct
from typing import Literal, NoReturn

from .constants import HEADER_SIZE, MAX_MESSAGE_SIZE
from .errors import LocalProtocolError, RemoteProtocolError
from .message import Message, decode, encode
from .peek import error_reply

_LENGTH = struct.Struct("!H")

#: Unread octets ``receive_data`` accepts before refusing more. A peer may pipeline queries faster
#: than we answer; the caller must drain ``next_event()`` (or pause reading) rather than let the
#: buffer grow. 1 MiB is above any single read an event loop makes (uvloop: 256 KiB) plus a
#: partial frame, so a caller that drains after every read never meets it.
DEFAULT_MAX_BUFFER_SIZE = 1 << 20
#: Compact the buffer only once at least this much was consumed: smaller moves cost more than
#: they save.
_COMPACT_AT = 4096


class Signal(enum.Enum):
    """What ``next_event``/``next_frame`` return instead of a message."""

    NEED_DATA = "NEED_DATA"  # feed more octets with receive_data()
    CLOSED = "CLOSED"  # the peer closed the stream cleanly, between two messages


NEED_DATA: Literal[Signal.NEED_DATA] = Signal.NEED_DATA
CLOSED: Literal[Signal.CLOSED] = Signal.CLOSED


class State(enum.Enum):
    """The decoder's state."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class _Input(enum.Enum):
    DATA = "DATA"
    EOF = "EOF"


# The input side of a DNS TCP stream (RFC 7766 6.2: either end may close between messages):
#
#     OPEN --data--> OPEN --EOF--> CLOSED --EOF--> CLOSED
#       \____ framing error (any state) ____> ERROR
#
# A (state, input) pair missing from the table is the caller's misuse (data after EOF).
_TRANSITIONS: dict[tuple[State, _Input], State] = {
    (State.OPEN, _Input.DATA): State.OPEN,
    (State.OPEN, _Input.EOF): State.CLOSED,
    (State.CLOSED, _Input.EOF): State.CLOSED,
}


def frame(message: bytes) -> bytes:
    """``message`` with its two-octet length prefix (RFC 1035 4.2.2).

    Raises ``LocalProtocolError`` for a message longer than 65535 octets.
    """
    if len(message) > MAX_MESSAGE_SIZE:
        raise LocalProtocolError(f"message of {len(message)} octets does not fit the 16-bit TCP length")
    return _LENGTH.pack(len(message)) + message


def encode_tcp(message: Message) -> bytes:
    """``message`` encoded and framed for TCP; ``LocalProtocolError`` as ``encode`` raises it."""
    return frame(encode(message))


class StreamDecoder:
    """Splits a received TCP byte stream into DNS messages. One instance per connection."""

    __slots__ = ("_buf", "_error", "_max_buffer_size", "_offset", "state")

    def __init__(self, max_buffer_size: int = DEFAULT_MAX_BUFFER_SIZE) -> None:
        self._buf = bytearray()
        self._offset = 0
        self._max_buffer_size = max_buffer_size
        self._error: RemoteProtocolError | None = None
        self.state = State.OPEN

    @property
    def buffered(self) -> int:
        """Received octets not yet returned as frames (for the caller's flow control)."""
        return len(self._buf) - self._offset

    def receive_data(self, data: bytes) -> None:
        """Add received octets; ``b""`` means the peer closed its side (EOF).

        Raises ``LocalProtocolError`` for data after EOF, data after a failure, or data that would
        take the unread octets past ``max_buffer_size``.
        """
        if self.state is State.ERROR:
            raise LocalProtocolError("receive_data after the stream failed")
        event = _Input.DATA if data else _Input.EOF
        nxt = _TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise LocalProtocolError(f"receive_data({event.name}) in state {self.state.name}")
        if data:
            if self.buffered + len(data) > self._max_buffer_size:
                raise LocalProtocolError(
                    f"more than {self._max_buffer_size} unread octets: drain next_event() or pause reading"
                )
            self._buf += data
        self.state = nxt

    def next_frame(self) -> bytes | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next message's octets (without the length prefix), ``NEED_DATA`` or ``CLOSED``.

        Raises ``RemoteProtocolError`` (and the decoder turns to ERROR) for a length prefix under
        12 octets, or EOF inside a frame.
        """
        if self._error is not None:
            raise RemoteProtocolError(f"the stream already failed: {self._error}", self._error.rcode)
        buf, offset = self._buf, self._offset
        available = len(buf) - offset
        if available >= _LENGTH.size:
            size = _LENGTH.unpack_from(buf, offset)[0]
            if size < HEADER_SIZE:
                # RFC 1035 4.1.1: every message starts with a 12-octet header.
                self._fail(f"TCP length {size} is shorter than a DNS header (RFC 1035 4.2.2)")
            end = offset + _LENGTH.size + size
            if end <= len(buf):
                message = bytes(buf[offset + _LENGTH.size : end])
                self._consume(end)
                return message
        if self.state is State.CLOSED:
            if available:
                self._fail(f"stream closed inside a message ({available} octets pending)")
            return CLOSED
        return NEED_DATA

    def next_event(self) -> Message | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next decoded message, ``NEED_DATA`` or ``CLOSED``.

        Raises ``RemoteProtocolError``: after a framing failure (as ``next_frame``), or for a frame
        that is not a valid message; then the frame is skipped, the stream stays usable, and when
        the frame was a query the exception's ``reply`` holds the framed FORMERR answer to send.
        """
        raw = self.next_frame()
        if isinstance(raw, Signal):
            return raw
        try:
            return decode(raw)
        except RemoteProtocolError as exc:
            reply = error_reply(raw, exc.rcode)
            exc.reply = None if reply is None else frame(reply)
            raise

    def _consume(self, end: int) -> None:
        if end == len(self._buf):
            self._buf.clear()
            self._offset = 0
        elif end >= _COMPACT_AT and end * 2 >= len(self._buf):
            del self._buf[:end]
            self._offset = 0
        else:
            self._offset = end

    def _fail(self, reason: str) -> NoReturn:
        self.state = State.ERROR
        self._error = RemoteProtocolError(reason)
        raise self._error
