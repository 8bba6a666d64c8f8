"""The incremental stream decoder: bytes in, Thrift messages out, framed or unframed.

Theory of operation: ``StreamDecoder`` has the codec family's stream shape. The I/O layer hands it
what the socket produced with ``receive_data(chunk)`` (``b""`` for EOF), then calls ``next_event()``
until it returns ``NEED_DATA``; each call returns one decoded ``Message``, or ``CLOSED`` once the
peer closed cleanly between messages. A proxy that forwards without decoding calls ``next_raw()``
instead: the header and the message's bytes, the body left as it came. Chunks may split a message
anywhere. Received bytes live in one ``bytearray`` with a read offset, compacted when the consumed
part passes half of it, so feeding a message byte by byte does not copy the buffer each time.

Framed (TFramedTransport): a 4-byte big-endian length, then exactly one message. A length that is
negative or over ``limits.max_frame_size`` is refused as soon as its 4 bytes are in, before the
frame is buffered. An empty frame (lib/py flushes one when nothing was written) is skipped.
Unframed (TBufferedTransport): the header is read, then ``skip.Skipper`` walks the body, resuming
where it stopped when more bytes come, until the struct's STOP; a message that would run past the
frame limit is refused as soon as a length or count says so.

Two kinds of failure, as for DNS over TCP: when the next message's start can no longer be found (a
bad frame length, EOF inside a message, unframed bytes that cannot be walked), the decoder turns to
ERROR and every later call raises. A complete message that fails to decode (a framed one, or an
unframed one whose end the walk found) is consumed and ``next_event()`` raises, but the stream
stays usable. Either way, when the message was a CALL whose header could be read, the exception's
``reply`` holds the EXCEPTION message (TApplicationException, PROTOCOL_ERROR unless the error says
otherwise, framed when the transport is) that a Thrift server sends in that case, so a server
writes it and reads on, or closes.
"""

from __future__ import annotations

import enum
import struct
from typing import Literal, NoReturn

from .errors import LocalProtocolError, ProtocolErrorType, RemoteProtocolError, ThriftError, too_large
from .message import decode_body, encode_message, exception_message, read_header
from .model import DEFAULT_LIMITS, Header, Limits, Message, MessageType, Protocol, RawMessage, Transport
from .skip import Skipper

_FRAME = struct.Struct("!i")

#: Room for reads beyond one whole message when ``max_buffer_size`` is left to default: a peer may
#: pipeline calls faster than we answer, and an event loop reads up to 256 KiB (uvloop) at a time.
#: A caller that drains ``next_event()`` after every read never meets the limit.
_READ_SLACK = 1 << 20
#: Compact the buffer only once at least this much was consumed: smaller moves cost more than they
#: save.
_COMPACT_AT = 4096


class Signal(enum.Enum):
    """What ``next_event``/``next_raw`` return instead of a message."""

    NEED_DATA = "NEED_DATA"  # feed more bytes with receive_data()
    CLOSED = "CLOSED"  # the peer closed the stream cleanly, between two messages

    def __repr__(self) -> str:
        return self.value


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


# The input side of a Thrift connection (either end may close between messages):
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


def _copy(buf: bytearray, start: int, end: int) -> bytes:
    """``bytes(buf[start:end])`` with one copy instead of two; the view is released at once, so
    the bytearray can still be resized."""
    with memoryview(buf) as view:
        return bytes(view[start:end])


class StreamDecoder:
    """Splits one direction of a Thrift connection into messages. One instance per connection.

    ``protocol`` and ``transport`` are the connection's (see ``detect_protocol`` to sniff them);
    ``strict`` refuses the old binary header; ``limits`` bounds what the peer may send;
    ``max_buffer_size`` bounds the unread bytes (default: one largest frame plus 1 MiB).
    """

    __slots__ = ("_buf", "_error", "_framed", "_header", "_limits", "_max_buffer_size", "_pos",
                 "_protocol", "_skipper", "_strict", "state")

    def __init__(self, protocol: Protocol, transport: Transport = Transport.FRAMED, *, strict: bool = False,
                 limits: Limits = DEFAULT_LIMITS, max_buffer_size: int | None = None) -> None:
        if not isinstance(protocol, Protocol) or not isinstance(transport, Transport):
            raise LocalProtocolError(f"unknown protocol or transport: {protocol!r}, {transport!r}")
        self._protocol = protocol
        self._framed = transport is Transport.FRAMED
        self._strict = strict
        self._limits = limits
        self._max_buffer_size = (limits.max_frame_size + 4 + _READ_SLACK if max_buffer_size is None
                                 else max_buffer_size)
        self._buf = bytearray()
        self._pos = 0
        self._header: Header | None = None  # unframed: the header of the message being walked
        self._skipper: Skipper | None = None
        self._error: ThriftError | None = None
        self.state = State.OPEN

    @property
    def buffered(self) -> int:
        """Received bytes not yet returned as messages (for the caller's flow control)."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes; ``b""`` means the peer closed its side (EOF).

        Raises ``LocalProtocolError`` for data after EOF, data after a failure, or data that would
        take the unread bytes past ``max_buffer_size`` (drain ``next_event()`` or pause reading).
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
                    f"more than {self._max_buffer_size} unread bytes: drain next_event() or pause reading")
            self._buf += data
        self.state = nxt

    def next_raw(self) -> RawMessage | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next message undecoded (its header, its bytes without the frame length), ``NEED_DATA``
        or ``CLOSED``.

        Framed, only the frame and the header are checked; unframed, the body is walked too (that
        is how its end is found). Raises ``RemoteProtocolError`` as the module docstring says.
        """
        if self._error is not None:
            raise RemoteProtocolError(f"the stream already failed: {self._error}", self._error.protocol_type,
                                      self._error.application_type)
        if self._framed:
            return self._next_frame()
        return self._next_unframed()

    def next_event(self) -> Message | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next decoded message, ``NEED_DATA`` or ``CLOSED``.

        Raises ``RemoteProtocolError``: after a stream failure (as ``next_raw``), or for a complete
        message that does not decode; then it is consumed, the stream stays usable, and for a CALL
        the exception's ``reply`` holds the EXCEPTION message to send.
        """
        raw = self.next_raw()
        if isinstance(raw, Signal):
            return raw
        try:
            return decode_body(raw.data, raw.header, self._protocol, self._limits)
        except RemoteProtocolError as exc:
            exc.reply = self._reply(raw.header, exc)
            raise

    def _next_frame(self) -> RawMessage | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        buf = self._buf
        while len(buf) - self._pos >= _FRAME.size:
            pos = self._pos
            size = _FRAME.unpack_from(buf, pos)[0]
            if size < 0:
                hint = " (is the peer unframed?)" if buf[pos] in (0x80, 0x82) else ""
                self._fail(RemoteProtocolError(f"negative frame size {size}{hint}",
                                               ProtocolErrorType.NEGATIVE_SIZE))
            if size > self._limits.max_frame_size:
                self._fail(too_large("frame", size, self._limits.max_frame_size), pos + _FRAME.size)
            end = pos + _FRAME.size + size
            if end > len(buf):
                break
            data = _copy(buf, pos + _FRAME.size, end)
            self._consume(end)
            if size == 0:
                continue
            header = read_header(data, self._protocol, 0, self._strict, self._limits)
            if header is None:
                raise RemoteProtocolError("the frame ends inside the message header")
            return RawMessage(header, data)
        return self._starved()

    def _next_unframed(self) -> RawMessage | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        buf, pos = self._buf, self._pos
        header, skipper = self._header, self._skipper
        if header is None or skipper is None:
            if pos == len(buf):
                return self._starved()
            try:
                header = read_header(buf, self._protocol, pos, self._strict, self._limits)
            except RemoteProtocolError as exc:
                self._fail(exc)
            if header is None:
                return self._starved()
            limit_end = pos + self._limits.max_frame_size
            skipper = Skipper(self._protocol, header.body_offset, self._limits, limit_end)
            self._header, self._skipper = header, skipper
        try:
            end = skipper.run(buf)
        except RemoteProtocolError as exc:
            self._fail(exc, header=header)
        if end is None:
            return self._starved()
        data = _copy(buf, pos, end)
        self._header = self._skipper = None
        self._consume(end)
        body_offset = header.body_offset - pos
        return RawMessage(Header(header.name, header.type, header.seqid, body_offset), data)

    def _starved(self) -> Literal[Signal.NEED_DATA, Signal.CLOSED]:
        if self.state is State.CLOSED:
            if self.buffered:
                what = "frame" if self._framed else "message"
                pending = self.buffered
                self._fail(RemoteProtocolError(f"stream closed inside a {what} ({pending} bytes pending)"))
            return CLOSED
        return NEED_DATA

    def _consume(self, end: int) -> None:
        if end == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif end >= _COMPACT_AT and end * 2 >= len(self._buf):
            del self._buf[:end]
            self._pos = 0
        else:
            self._pos = end

    def _reply(self, header: Header, exc: ThriftError) -> bytes | None:
        """The EXCEPTION message answering the call ``header`` that failed with ``exc``, or None."""
        if header.type is not MessageType.CALL:
            return None  # a oneway call gets no reply; replies and exceptions are not answered
        message = exception_message(header.name, header.seqid, exc.application_type, str(exc))
        return encode_message(message, self._protocol, framed=self._framed)

    def _fail(self, exc: RemoteProtocolError, header_at: int | None = None, *,
              header: Header | None = None) -> NoReturn:
        """Turn to ERROR and raise ``exc``, with a reply when the failing call's header is known
        (``header``) or can be read at ``header_at`` (an oversized frame's first bytes)."""
        self.state = State.ERROR
        self._error = exc
        if header is None and header_at is not None:
            try:
                header = read_header(self._buf, self._protocol, header_at, self._strict, self._limits)
            except RemoteProtocolError:
                header = None
        if header is not None:
            exc.reply = self._reply(header, exc)
        raise exc
