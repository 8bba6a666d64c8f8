"""gRPC message framing over HTTP/2: Length-Prefixed-Message, with per-message compression.

Theory of operation: the body of a gRPC request or response (the DATA frames of one HTTP/2
stream) is a sequence of messages, each behind a five-byte prefix (PROTOCOL-HTTP2.md,
"Length-Prefixed-Message"):

    Compressed-Flag (1 byte: 0 or 1) | Message-Length (4 bytes, big-endian) | Message

:class:`MessageDecoder` is the codec's stream shape for one direction of one call. The caller
hands it the DATA it receives with ``receive_data(chunk)`` (``b""`` for END_STREAM) and calls
``next_event()`` until it returns NEED_DATA; each call returns one :class:`MessageReceived`,
or CLOSED once the stream ended cleanly between messages. Chunks may split a prefix or a message
anywhere and may hold many messages. The announced length is checked against
``max_message_size`` as soon as the prefix is in, before the body is buffered, so a peer cannot
make us hold more than one message of that size; a compressed message is inflated (bounded by
the same limit, see :mod:`.compression`) unless the decoder was made with ``decompress=False``
to forward messages as they came.

Every failure ends the call — gRPC has no way to skip a bad message — so the decoder turns to
ERROR and keeps raising the same :class:`RemoteProtocolError`, whose ``status`` and
``trailers()`` are what to end the call with: RESOURCE_EXHAUSTED for a message over the limit
(gRPC's default receive limit is 4 MiB), INTERNAL for a Compressed-Flag other than 0 or 1, a
compressed message without ``grpc-encoding`` or a stream that ends inside a message,
UNIMPLEMENTED for a coding we do not support.

Sending needs no state: :func:`encode_message` compresses (if asked) and frames one message,
:func:`frame` puts a prefix on a payload as it is (e.g. one a decoder returned undecompressed).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final, Literal

from .compression import DEFAULT_LEVEL, IDENTITY, compress, decompress, normalize_encoding
from .errors import LocalProtocolError, RemoteProtocolError, StatusCode, exhausted, malformed

#: gRPC's default limit on a received message (grpc core GRPC_DEFAULT_MAX_RECV_MESSAGE_LENGTH,
#: grpc-go and grpc-java alike): a peer that sends more is refused with RESOURCE_EXHAUSTED.
DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
#: Message-Length is four bytes: no message can be longer.
MAX_LENGTH: Final = (1 << 32) - 1
#: Unread bytes a decoder accepts beyond one whole message before ``receive_data`` refuses: a
#: caller that drains ``next_event()`` after each chunk holds at most one partial message plus one
#: chunk, and one HTTP/2 DATA frame is at most 16 MiB but 16 KiB unless the receiver (us) raised
#: SETTINGS_MAX_FRAME_SIZE; 1 MiB covers what we advertise.
READ_SLACK: Final = 1024 * 1024
# Compact the buffer only once this much was consumed: smaller moves cost more than they save.
_COMPACT_AT: Final = 64 * 1024


class Signal(enum.Enum):
    """What ``next_event`` returns instead of a message."""

    NEED_DATA = "NEED_DATA"  # feed more bytes with receive_data()
    CLOSED = "CLOSED"  # the stream ended cleanly, between two messages


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


# The input side of one gRPC stream: DATA frames, then END_STREAM (which may ride on the last
# DATA frame, or on the trailers' HEADERS frame of a response):
#
#     OPEN --data--> OPEN --END_STREAM--> CLOSED --END_STREAM--> CLOSED
#       \____ any failure (any state) ____> ERROR
#
# A (state, input) pair missing from the table is the caller's misuse (data after END_STREAM).
_TRANSITIONS: Final[dict[tuple[State, _Input], State]] = {
    (State.OPEN, _Input.DATA): State.OPEN,
    (State.OPEN, _Input.EOF): State.CLOSED,
    (State.CLOSED, _Input.EOF): State.CLOSED,
}


@dataclass(slots=True, frozen=True)
class MessageReceived:
    """One message of the stream.

    ``data`` is the serialized protobuf message (inflated, unless the decoder was told not to);
    ``compressed`` says whether its Compressed-Flag was set on the wire.
    """

    data: bytes
    compressed: bool = False


class MessageDecoder:
    """Splits the body of one gRPC request or response into messages. One instance per stream.

    ``encoding``: the stream's ``grpc-encoding`` header value (None when absent), used for the
    messages whose Compressed-Flag is set. ``max_message_size``: the largest message accepted,
    before and after decompression. ``decompress``: False to return compressed messages as they
    came (``compressed=True``), e.g. to forward them. ``max_buffer_size``: unread bytes accepted;
    by default one whole message plus :data:`READ_SLACK`.
    """

    _PREFIX: Final = struct.Struct("!BI")  # Compressed-Flag, Message-Length

    __slots__ = ("_buf", "_decompress", "_encoding", "_error", "_max_buffer", "_max_message", "_offset",
                 "state")

    def __init__(self, encoding: str | bytes | None = None, *,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, decompress: bool = True,
                 max_buffer_size: int | None = None) -> None:
        if not 0 <= max_message_size <= MAX_LENGTH:
            raise LocalProtocolError(f"max_message_size must be in 0..{MAX_LENGTH}, not {max_message_size}")
        self._encoding = normalize_encoding(encoding)
        self._max_message = max_message_size
        self._decompress = decompress
        self._max_buffer = (max_message_size + self._PREFIX.size + READ_SLACK
                            if max_buffer_size is None else max_buffer_size)
        self._buf = bytearray()
        self._offset = 0
        self._error: RemoteProtocolError | None = None
        self.state = State.OPEN

    @property
    def encoding(self) -> str:
        """The stream's coding, normalized (``identity`` when it has none)."""
        return self._encoding

    @property
    def buffered(self) -> int:
        """Received bytes not yet returned as messages (for the caller's flow control)."""
        return len(self._buf) - self._offset

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes; ``b""`` means the stream ended (END_STREAM).

        Raises LocalProtocolError for data after the end, after a failure, or data that would take
        the unread bytes past ``max_buffer_size`` (drain ``next_event()`` first, or pause reading).
        """
        if self.state is State.ERROR:
            raise LocalProtocolError("receive_data after the stream failed")
        event = _Input.DATA if data else _Input.EOF
        nxt = _TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise LocalProtocolError(f"receive_data({event.name}) in state {self.state.name}")
        if data:
            if self.buffered + len(data) > self._max_buffer:
                raise LocalProtocolError(f"more than {self._max_buffer} unread bytes: drain next_event() "
                                         "or pause reading", StatusCode.RESOURCE_EXHAUSTED)
            self._buf += data
        self.state = nxt

    def next_event(self) -> MessageReceived | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next message, NEED_DATA or CLOSED.

        Raises RemoteProtocolError (see the module doc for the status of each failure); the
        decoder then stays in ERROR and raises the same error again.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self.state = State.ERROR
            self._error = exc
            raise

    def _next(self) -> MessageReceived | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        buf, offset = self._buf, self._offset
        available = len(buf) - offset
        prefix = self._PREFIX
        if available >= prefix.size:
            flag, length = prefix.unpack_from(buf, offset)
            if flag > 1:
                raise malformed(f"Compressed-Flag {flag} is neither 0 nor 1")
            if length > self._max_message:
                raise exhausted(f"message of {length} bytes is larger than the limit of {self._max_message}")
            start = offset + prefix.size
            end = start + length
            if end <= len(buf):
                payload = bytes(buf[start:end])
                self._consume(end)
                if flag and self._decompress:
                    payload = decompress(payload, self._encoding, self._max_message)
                return MessageReceived(payload, bool(flag))
        if self.state is State.CLOSED:
            if available:
                raise malformed(f"stream ended inside a message ({available} bytes pending)")
            return CLOSED
        return NEED_DATA

    def _consume(self, end: int) -> None:
        if end == len(self._buf):
            self._buf.clear()
            self._offset = 0
        elif end >= _COMPACT_AT and end * 2 >= len(self._buf):
            del self._buf[:end]
            self._offset = 0
        else:
            self._offset = end


_PREFIX: Final = MessageDecoder._PREFIX


def frame(payload: bytes | bytearray | memoryview, *, compressed: bool = False) -> bytes:
    """``payload`` behind its five-byte prefix, sent as it is (already compressed if
    ``compressed``). Raises LocalProtocolError for a payload over 2**32 - 1 bytes."""
    if len(payload) > MAX_LENGTH:
        raise LocalProtocolError(f"message of {len(payload)} bytes does not fit the 32-bit length",
                                 StatusCode.RESOURCE_EXHAUSTED)
    return _PREFIX.pack(1 if compressed else 0, len(payload)) + payload


def encode_message(message: bytes, encoding: str | bytes | None = None, *,
                   max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, level: int = DEFAULT_LEVEL) -> bytes:
    """One serialized message, compressed with ``encoding`` (None or ``identity``: not
    compressed) and framed.

    Raises LocalProtocolError: RESOURCE_EXHAUSTED for a message over ``max_message_size`` (a
    peer with gRPC's defaults would refuse it: gRPC reports "sent message larger than max" so,
    before sending), UNIMPLEMENTED for a coding we cannot write.
    """
    if len(message) > max_message_size:
        raise LocalProtocolError(f"message of {len(message)} bytes is larger than the limit of "
                                 f"{max_message_size}", StatusCode.RESOURCE_EXHAUSTED)
    name = normalize_encoding(encoding)
    if name == IDENTITY:
        return frame(message)
    return frame(compress(message, name, level), compressed=True)
