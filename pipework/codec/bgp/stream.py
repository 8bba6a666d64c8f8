"""The incremental BGP decoder: TCP bytes in, messages out, in chunks of any size.

Theory of operation: :meth:`StreamDecoder.receive_data` appends to one ``bytearray``; each
:meth:`StreamDecoder.next_event` checks the header at the read offset (as soon as its 19 octets
are in, so a bad marker or length is refused before the body is buffered), waits until the whole
message is there, decodes it in place and moves the offset past it. The buffer is compacted only
when fully consumed or when the consumed prefix is large, so a burst of small UPDATEs costs no
copying and feeding a message octet by octet does not copy the buffer each time.

BGP has no way to skip a bad message: RFC 4271 6 closes the connection on every error. So on a
RemoteProtocolError the decoder turns to ERROR for good, queues the NOTIFICATION the error names
(:meth:`StreamDecoder.data_to_send`) and raises; the caller flushes that and closes. The end of
stream (``receive_data(b"")``) between messages gives CLOSED; inside a message it is an error
with no NOTIFICATION (the peer is gone).

``four_octet_as`` and ``max_size`` are attributes because a session learns them from the OPENs
after the decoder was made. A proxy that forwards messages untouched uses :meth:`next_frame`,
which checks the header and returns the message's octets without decoding the body.
"""

from __future__ import annotations

import enum
from typing import Final, Literal, NoReturn

from .codec import decode_body, encode
from .errors import (
    CeaseSubcode,
    ErrorCode,
    HeaderSubcode,
    LocalProtocolError,
    RemoteProtocolError,
    header_error,
    local_error,
)
from .messages import Message, Notification
from .wire import HEADER_SIZE, MAX_MESSAGE_SIZE, MessageType, read_header

#: Unread octets ``receive_data`` accepts before refusing more. A peer sending a full table
#: streams UPDATEs faster than a slow consumer handles them; the caller must drain
#: ``next_event()`` after every read (or pause reading) rather than let the buffer grow. 1 MiB is
#: above any single read an event loop makes (uvloop: 256 KiB) plus one 64 KiB extended message.
DEFAULT_MAX_BUFFER_SIZE: Final = 1 << 20
#: Compact the buffer only once this much was consumed: smaller moves cost more than they save.
_COMPACT_AT: Final = 64 * 1024


class Signal(enum.Enum):
    """What ``next_event``/``next_frame`` return instead of a message."""

    NEED_DATA = "NEED_DATA"  # feed more octets with receive_data()
    CLOSED = "CLOSED"  # the peer closed the stream cleanly, between two messages

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Signal.NEED_DATA
CLOSED: Final = Signal.CLOSED


class State(enum.Enum):
    """The decoder's state: reading, after a clean end of stream, or failed for good."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class StreamDecoder:
    """Decodes the messages one BGP speaker sends over one TCP connection.

    ``four_octet_as``: whether AS numbers in UPDATEs are 4 octets (RFC 6793; set it from the
    negotiated capability). ``max_size``: the largest message accepted, 4096 (RFC 4271 4.1) or
    65535 with Extended Messages (RFC 8654). ``max_buffer_size``: the most unread octets held.
    """

    __slots__ = ("_buf", "_error", "_max_buffer_size", "_pos", "_send", "four_octet_as", "max_size", "state")

    def __init__(self, *, four_octet_as: bool = True, max_size: int = MAX_MESSAGE_SIZE,
                 max_buffer_size: int = DEFAULT_MAX_BUFFER_SIZE) -> None:
        if max_buffer_size < max_size:
            raise LocalProtocolError(f"max_buffer_size {max_buffer_size} is below max_size {max_size}",
                                     ErrorCode.CEASE, CeaseSubcode.OUT_OF_RESOURCES)
        self.four_octet_as = four_octet_as
        self.max_size = max_size
        self._max_buffer_size = max_buffer_size
        self._buf = bytearray()
        self._pos = 0
        self._send = b""
        self._error: RemoteProtocolError | None = None
        self.state = State.OPEN

    @property
    def buffered(self) -> int:
        """Received octets not yet returned as messages (for the caller's flow control)."""
        return len(self._buf) - self._pos

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """The octets received but not decoded, and whether the end of stream was seen."""
        return bytes(self._buf[self._pos:]), self.state is State.CLOSED

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add octets from the peer; ``b""`` means the peer closed its end of the stream.

        Raises LocalProtocolError for data after the end of stream or after a failure, or data
        that would take the unread octets past ``max_buffer_size``.
        """
        if self.state is not State.OPEN:
            raise local_error(f"receive_data in state {self.state.name}")
        if not data:
            self.state = State.CLOSED
            return
        if self.buffered + len(data) > self._max_buffer_size:
            raise LocalProtocolError(f"more than {self._max_buffer_size} unread octets: drain next_event() "
                                     "or pause reading", ErrorCode.CEASE, CeaseSubcode.OUT_OF_RESOURCES)
        self._buf += data

    def next_frame(self) -> bytes | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next message's octets, header included, with only the header checked; NEED_DATA or
        CLOSED otherwise. Raises RemoteProtocolError as :meth:`next_event` does."""
        got = self._frame()
        if isinstance(got, Signal):
            return got
        start, end, _ = got
        data = bytes(self._buf[start:end])
        self._consume(end)
        return data

    def next_event(self) -> Message | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The next message, NEED_DATA (feed more octets) or CLOSED (clean end of stream).

        Raises RemoteProtocolError when the peer broke BGP, after queueing the NOTIFICATION
        :meth:`data_to_send` returns; the decoder then stays in ERROR and raises again.
        """
        got = self._frame()
        if isinstance(got, Signal):
            return got
        start, end, kind = got
        try:
            message = decode_body(kind, self._buf, start + HEADER_SIZE, end, self.four_octet_as)
        except RemoteProtocolError as exc:
            self._fail(exc)
        self._consume(end)
        return message

    def data_to_send(self) -> bytes:
        """Octets to write to the peer before closing, once: after a RemoteProtocolError, the
        NOTIFICATION that tells the peer why (RFC 4271 6); b"" otherwise."""
        data, self._send = self._send, b""
        return data

    def _frame(self) -> tuple[int, int, MessageType] | Signal:
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        try:
            header = read_header(buf, pos, self.max_size)
        except RemoteProtocolError as exc:
            self._fail(exc)
        if header is not None and pos + header[1] <= len(buf):
            return pos, pos + header[1], header[0]
        if self.state is State.CLOSED:
            if pos == len(buf):
                return CLOSED
            # The peer is gone: there is nobody to send a NOTIFICATION to.
            self._fail(header_error(f"stream ended inside a message ({len(buf) - pos} octets left)",
                                    HeaderSubcode.UNSPECIFIC), notify=False)
        return NEED_DATA

    def _fail(self, exc: RemoteProtocolError, notify: bool = True) -> NoReturn:
        self.state = State.ERROR
        self._error = exc
        if notify:
            self._send = encode(Notification.from_error(exc), max_size=self.max_size)
        raise exc

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
