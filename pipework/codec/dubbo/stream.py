"""The incremental Dubbo decoder: a TCP byte stream in, frames and messages out.

Theory of operation: ``StreamDecoder`` is the codec's stream shape. The I/O layer hands it what the
socket produced with ``receive_data(chunk)`` (``b""`` for EOF), then calls ``next_event()`` until it
returns ``NEED_DATA``; each call returns one decoded message, or ``CLOSED`` once the peer has closed
cleanly between frames. Chunks may split a frame anywhere and may hold many pipelined frames
(Dubbo multiplexes requests on one connection by request id). Received octets live in one
``bytearray`` with a read offset, compacted only when the consumed part is large, so a frame fed
octet by octet is not copied per octet. A header announcing a body over ``max_payload`` is refused
as soon as its 16 octets are in, before the body is buffered.

Two kinds of failure, as in the DNS codec: a *framing* failure (bad magic, a body over the limit,
EOF inside a frame) leaves no way to find the next frame, so the decoder turns to ERROR and every
later call raises. A whole frame whose body is malformed is consumed and ``next_event()`` raises
``RemoteProtocolError``, but the stream stays usable; for a two-way request the exception's
``reply`` holds the BAD_REQUEST response to send. A proxy that forwards frames untouched uses
``next_frame()`` (and ``peek_invocation`` on the frame to route it) instead of ``next_event()``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from .codec import check_payload, decode_body
from .errors import LocalProtocolError, RemoteProtocolError
from .header import DEFAULT_MAX_PAYLOAD, HEADER_SIZE, Header, check_magic
from .messages import Message

#: Unread octets beyond one maximal frame that ``receive_data`` accepts: a caller that drains
#: ``next_event()`` after every read holds at most a partial frame plus one read (uvloop reads
#: 256 KiB at a time), so only a caller that stops draining meets this limit.
READ_SLACK: Final = 1 << 20
#: Compact the buffer only once this much of it was consumed (and it is over half the buffer).
_COMPACT_AT: Final = 64 * 1024


class Signal(enum.Enum):
    """What ``next_event``/``next_frame`` return instead of a message."""

    NEED_DATA = "NEED_DATA"  # feed more octets with receive_data()
    CLOSED = "CLOSED"  # the peer closed the stream cleanly, between two frames

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Signal.NEED_DATA
CLOSED: Final = Signal.CLOSED


class State(enum.Enum):
    """The decoder's state."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class _Input(enum.Enum):
    DATA = "DATA"
    EOF = "EOF"


# The input side of a Dubbo connection (either end may close between frames):
#
#     OPEN --data--> OPEN --EOF--> CLOSED --EOF--> CLOSED
#       \____ framing error (any state) ____> ERROR
#
# A (state, input) pair missing from the table is the caller's misuse (data after EOF or after a
# failure).
_TRANSITIONS: Final[dict[tuple[State, _Input], State]] = {
    (State.OPEN, _Input.DATA): State.OPEN,
    (State.OPEN, _Input.EOF): State.CLOSED,
    (State.CLOSED, _Input.EOF): State.CLOSED,
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One whole frame as received: its parsed header and its octets (header included)."""

    header: Header
    data: bytes


class StreamDecoder:
    """Splits one direction of a Dubbo connection into frames and messages."""

    __slots__ = ("_buf", "_error", "_max_buffer", "_max_payload", "_pos", "state")

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max_payload = max_payload
        self._max_buffer = HEADER_SIZE + max_payload + READ_SLACK
        self._error: RemoteProtocolError | None = None
        self.state = State.OPEN

    @property
    def buffered(self) -> int:
        """Received octets not yet returned (for the caller's flow control)."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add received octets; ``b""`` means the peer closed its side (EOF).

        Raises LocalProtocolError for data after EOF or after a framing failure, or data that would
        take the unread octets past one maximal frame plus READ_SLACK (drain ``next_event()``).
        """
        event = _Input.DATA if data else _Input.EOF
        nxt = _TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise LocalProtocolError(f"receive_data({event.name}) in state {self.state.name}")
        if data:
            if self.buffered + len(data) > self._max_buffer:
                raise LocalProtocolError(f"more than {self._max_buffer} unread octets: drain next_event()")
            self._buf += data
        self.state = nxt

    def next_frame(self) -> Frame | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next whole frame, ``NEED_DATA`` or ``CLOSED``, without decoding its body.

        Raises RemoteProtocolError and turns to ERROR on a framing failure (its ``reply`` set when
        the frame was a two-way request whose header could be read).
        """
        if self._error is not None:
            raise RemoteProtocolError(f"the stream already failed: {self._error}", self._error.status)
        buf, pos = self._buf, self._pos
        try:
            check_magic(buf, pos)
            if len(buf) - pos >= HEADER_SIZE:
                header = Header.unpack_from(buf, pos)
                check_payload(header, self._max_payload)
                end = pos + header.frame_size
                if end <= len(buf):
                    data = bytes(buf[pos:end])
                    self._consume(end)
                    return Frame(header, data)
            if self.state is State.OPEN:
                return NEED_DATA
            if pos == len(buf):
                return CLOSED
            raise RemoteProtocolError(f"stream ended inside a frame ({len(buf) - pos} octets left)")
        except RemoteProtocolError as exc:
            self.state = State.ERROR
            self._error = exc
            raise

    def next_event(self) -> Message | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next message, ``NEED_DATA`` or ``CLOSED``.

        Raises RemoteProtocolError: after a framing failure (the decoder is then in ERROR), or for a
        frame whose body is malformed (the frame is consumed and the stream goes on; ``reply`` holds
        the BAD_REQUEST response for a two-way request).
        """
        frame = self.next_frame()
        if not isinstance(frame, Frame):
            return frame
        return decode_body(frame.header, frame.data, HEADER_SIZE)

    def _consume(self, end: int) -> None:
        buf = self._buf
        if end == len(buf):
            buf.clear()
            self._pos = 0
        elif end > _COMPACT_AT and end * 2 > len(buf):
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end
