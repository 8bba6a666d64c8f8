"""The sans-IO WebSocket connection: bytes in, events out; events in, bytes out.

Theory of operation: a :class:`Connection` starts where the opening handshake ended, knowing its
role and the agreed permessage-deflate parameters. :meth:`~Connection.receive_data` appends to one
``bytearray``; each :meth:`~Connection.next_event` decodes frames at the read offset with
:func:`~.frames.decode_frame` — masked from a client, unmasked from a server (5.1) — until one
completes an event: a control frame at once (even between the fragments of a message, 5.4), a data
message when its FIN frame is in. Fragments are checked for order (5.4), counted against
``max_message_size`` after decompression (7692 7.2.2), and a text message's UTF-8 is validated
incrementally as its fragments arrive, so invalid text fails without waiting for the end (8.1).
The buffer is compacted only when fully consumed or when the consumed prefix is large.

:meth:`~Connection.send` turns an event into frame bytes — compressed, fragmented to
``fragment_size`` and masked with a fresh key when we are the client. Which events may be sent and
received is the closing handshake's table below; a missing key is an error (ours on send, the
peer's on receive).

When the peer breaks the protocol the connection queues the Close frame that says why (1002,
1007 or 1009; :meth:`~Connection.data_to_send`) unless we already sent one, enters ERROR for good
and raises RemoteProtocolError: the caller flushes and closes (7.1.7). The end of stream at a
message boundary yields ``Close(1006)`` when no Close frame was received (7.1.5), then CLOSED;
inside a frame or a fragmented message it raises RemoteProtocolError with close code 1006.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from enum import Enum
from typing import Final

from .deflate import DeflateParams, Deflater, Inflater, deflate_bound
from .errors import CloseCode, LocalProtocolError, RemoteProtocolError, invalid_data, protocol_error, too_big
from .events import CLOSED, NEED_DATA, Close, Event, Message, Ping, Pong, Role, Sentinel
from .frames import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FIN,
    MAX_CLOSE_REASON,
    RSV1,
    Frame,
    Opcode,
    RandomMaskKeys,
    build_close,
    decode_frame,
    encode_frame,
    pack_frame,
    parse_close,
)


class State(Enum):
    """Where the closing handshake stands (RFC 6455 7.1)."""

    OPEN = "OPEN"
    LOCAL_CLOSING = "LOCAL_CLOSING"  # we sent a Close; the peer's is due
    REMOTE_CLOSING = "REMOTE_CLOSING"  # the peer sent a Close; ours is due
    CLOSED = "CLOSED"  # both Closes were exchanged, or the stream ended
    ERROR = "ERROR"  # a protocol error; nothing more is decoded or sent


class Input(Enum):
    """What moves the state: a frame sent or received, Close or not."""

    SEND_DATA = "SEND_DATA"  # a message, Ping or Pong
    SEND_CLOSE = "SEND_CLOSE"
    RECV_DATA = "RECV_DATA"
    RECV_CLOSE = "RECV_CLOSE"


_S = State
_I = Input
#                 send Close                    receive Close
#   OPEN ─────────────────────▶ LOCAL_CLOSING ─────────────────▶ CLOSED
#    │  receive Close                            send Close        ▲
#    └────────────────────────▶ REMOTE_CLOSING ────────────────────┘
#
# OPEN sends and receives anything. After sending a Close "the endpoint MUST NOT send any more data
# frames" (5.5.1), so LOCAL_CLOSING only receives, until the peer's Close; the peer is held to the
# same rule, so REMOTE_CLOSING receives nothing, and may still send ("An endpoint MAY delay
# sending a Close frame until its current message is sent", 5.5.1) before its own Close.
TRANSITIONS: Final[dict[tuple[State, Input], State]] = {
    (_S.OPEN, _I.SEND_DATA): _S.OPEN,
    (_S.OPEN, _I.RECV_DATA): _S.OPEN,
    (_S.OPEN, _I.SEND_CLOSE): _S.LOCAL_CLOSING,
    (_S.OPEN, _I.RECV_CLOSE): _S.REMOTE_CLOSING,
    (_S.LOCAL_CLOSING, _I.RECV_DATA): _S.LOCAL_CLOSING,
    (_S.LOCAL_CLOSING, _I.RECV_CLOSE): _S.CLOSED,
    (_S.REMOTE_CLOSING, _I.SEND_DATA): _S.REMOTE_CLOSING,
    (_S.REMOTE_CLOSING, _I.SEND_CLOSE): _S.CLOSED,
}

# Compact the receive buffer once this much of it has been consumed (and it is over half the
# buffer): moving the unread tail costs a copy, so it is done rarely, but the consumed prefix must
# not grow with the connection's lifetime.
_COMPACT_AT: Final = 64 * 1024


class Connection:
    """One end of an open WebSocket connection, after the opening handshake.

    ``role``: the side we play; a client masks what it sends and expects unmasked frames,
    a server the reverse (5.1). ``deflate``: the permessage-deflate parameters agreed in the
    handshake, or None. ``max_message_size``: the largest message accepted, in bytes after
    decompression; larger ones fail the connection with 1009. ``fragment_size``: split
    outgoing data messages into frames of at most this many payload bytes; None sends each
    in one frame. ``mask_key``: where a client's 4-byte masking keys come from (for tests);
    the default draws them from os.urandom.
    """

    __slots__ = ("_buf", "_chunks", "_compressed", "_deflater", "_eof", "_error", "_fragment_size",
                 "_frame_max", "_inflater", "_mask_key", "_mask_required", "_max", "_opcode", "_pos", "_role",
                 "_rsv", "_send", "_size", "_state", "_texts", "_utf8")

    def __init__(self, role: Role, *, deflate: DeflateParams | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, fragment_size: int | None = None,
                 mask_key: Callable[[], bytes] | None = None) -> None:
        if max_message_size < 0:
            raise LocalProtocolError(f"max_message_size must be 0 or more, not {max_message_size}")
        if fragment_size is not None and fragment_size < 1:
            raise LocalProtocolError(f"fragment_size must be 1 or more, not {fragment_size}")
        self._role = role
        self._state = State.OPEN
        self._max = max_message_size
        self._fragment_size = fragment_size
        self._mask_required = role is Role.SERVER
        self._mask_key: Callable[[], bytes] | None = None
        if role is Role.CLIENT:
            self._mask_key = mask_key or RandomMaskKeys()
        self._deflater: Deflater | None = None
        self._inflater: Inflater | None = None
        self._frame_max = max_message_size
        self._rsv = 0
        if deflate is not None:
            server = role is Role.SERVER
            self._deflater = Deflater(
                deflate.server_max_window_bits if server else deflate.client_max_window_bits,
                deflate.server_no_context_takeover if server else deflate.client_no_context_takeover)
            self._inflater = Inflater(
                deflate.client_max_window_bits if server else deflate.server_max_window_bits,
                deflate.client_no_context_takeover if server else deflate.server_no_context_takeover)
            self._frame_max = deflate_bound(max_message_size)
            self._rsv = RSV1
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self._send = b""
        self._error: RemoteProtocolError | None = None
        # The message being reassembled: its opcode (None between messages), whether it is
        # compressed, its parts so far (text or bytes), its size after decompression.
        self._opcode: Opcode | None = None
        self._compressed = False
        self._texts: list[str] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    @property
    def role(self) -> Role:
        return self._role

    @property
    def state(self) -> State:
        return self._state

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed its end of the stream.

        Raises LocalProtocolError after the end of stream. Call :meth:`next_event` until it
        returns NEED_DATA before receiving more, or the buffer grows without bound.
        """
        if self._eof:
            raise LocalProtocolError("data received after the end of stream")
        if not data:
            self._eof = True
        elif self._error is None:
            self._buf += data

    def next_event(self) -> Event | Sentinel:
        """The next event, NEED_DATA (feed more bytes) or CLOSED (the stream ended, said once
        as a Close event before).

        Raises RemoteProtocolError when the peer broke the protocol, after queueing the Close
        that :meth:`data_to_send` returns; the connection then stays in ERROR and raises again.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise

    def data_to_send(self) -> bytes:
        """Bytes the codec queued on its own, once: after a RemoteProtocolError, the Close frame
        that tells the peer why (RFC 6455 7.1.7); b"" when there is none."""
        data, self._send = self._send, b""
        return data

    def send(self, event: Event) -> bytes:
        """The frame bytes that carry ``event`` to the peer: write them as they are.

        Raises LocalProtocolError, changing nothing, for what may not be sent: any frame after
        our Close or in ERROR, a control frame over 125 bytes, a reserved close code, text with
        a lone surrogate.
        """
        if isinstance(event, Message):
            after = self._after(Input.SEND_DATA)
            out = self._encode_message(event.data)
        elif isinstance(event, Ping | Pong):
            after = self._after(Input.SEND_DATA)
            opcode = Opcode.PING if isinstance(event, Ping) else Opcode.PONG
            out = self._encode(Frame(opcode, bytes(event.payload)))
        elif isinstance(event, Close):
            payload = build_close(event.code, event.reason)
            after = self._after(Input.SEND_CLOSE)
            out = self._encode(Frame(Opcode.CLOSE, payload))
        else:
            raise LocalProtocolError(f"cannot send {event!r}: not a Message, Ping, Pong or Close")
        self._state = after
        return out

    def _after(self, what: Input) -> State:
        if self._state is State.OPEN and what is Input.SEND_DATA:
            return State.OPEN  # the table's (OPEN, SEND_DATA) without hashing two enums per frame
        after = TRANSITIONS.get((self._state, what))
        if after is None:
            action = what.name.lower().replace("_", " ")
            raise LocalProtocolError(f"cannot {action} in state {self._state.name} (RFC 6455 5.5.1)")
        return after

    def _encode(self, frame: Frame) -> bytes:
        key = self._mask_key
        return encode_frame(frame, key() if key is not None else None)

    def _encode_message(self, data: str | bytes | bytearray | memoryview) -> bytes:
        if isinstance(data, str):
            try:
                payload = data.encode("utf-8")
            except UnicodeEncodeError:
                raise LocalProtocolError("text holds a lone surrogate: it cannot be UTF-8 (5.6)") from None
            opcode = Opcode.TEXT
        else:
            payload = bytes(data)
            opcode = Opcode.BINARY
        first_byte = int(opcode)
        if self._deflater is not None:
            payload = self._deflater.compress(payload)
            first_byte |= RSV1  # "Per-Message Compressed", on the first frame only (RFC 7692 6)
        key = self._mask_key
        size = self._fragment_size
        n = len(payload)
        if size is None or n <= size:
            return pack_frame(first_byte | FIN, payload, key() if key is not None else None)
        frames = [pack_frame(first_byte, payload[:size], key() if key is not None else None)]
        for i in range(size, n, size):
            last = FIN if i + size >= n else 0
            frames.append(pack_frame(Opcode.CONTINUATION | last, payload[i:i + size],
                                     key() if key is not None else None))
        return b"".join(frames)

    def _fail(self, exc: RemoteProtocolError) -> None:
        if exc.close_code != CloseCode.ABNORMAL_CLOSURE and self._state in (State.OPEN, State.REMOTE_CLOSING):
            reason = str(exc).encode("utf-8")[:MAX_CLOSE_REASON].decode("utf-8", "ignore")
            self._send += encode_frame(Frame(Opcode.CLOSE, build_close(exc.close_code, reason)),
                                       self._mask_key() if self._mask_key is not None else None)
        self._state = State.ERROR
        self._error = exc
        self._buf = bytearray()
        self._pos = 0
        self._texts = []
        self._chunks = []

    def _next(self) -> Event | Sentinel:
        buf = self._buf
        while True:
            pos = self._pos
            got = decode_frame(buf, pos, mask_required=self._mask_required, max_size=self._frame_max,
                               rsv_allowed=self._rsv)
            if got is None:
                return self._starved()
            frame, used = got
            end = pos + used
            if end == len(buf):
                buf.clear()
                self._pos = 0
            elif end > _COMPACT_AT and end * 2 > len(buf):
                del buf[:end]
                self._pos = 0
            else:
                self._pos = end
            event = self._on_frame(frame)
            if event is not None:
                return event

    def _on_frame(self, frame: Frame) -> Event | None:
        opcode = frame.opcode
        if opcode >= 0x8:
            if frame.rsv1:
                raise protocol_error(f"RSV1 set on a {opcode.name} frame (RFC 7692 6.1)")
            if opcode is Opcode.CLOSE:
                code, reason = parse_close(frame.payload)
                self._state = self._peer_may(Input.RECV_CLOSE, opcode)
                if self._opcode is not None:  # a Close may cut a fragmented message short (5.4)
                    self._opcode = None
                    self._texts, self._chunks = [], []
                    self._utf8.reset()
                return Close(code, reason)
            if self._state is not State.OPEN:
                self._state = self._peer_may(Input.RECV_DATA, opcode)
            return Ping(frame.payload) if opcode is Opcode.PING else Pong(frame.payload)
        if self._state is not State.OPEN:  # (OPEN, RECV_DATA) -> OPEN: spare the common case the lookup
            self._state = self._peer_may(Input.RECV_DATA, opcode)
        if opcode is Opcode.CONTINUATION:
            if self._opcode is None:
                raise protocol_error("continuation frame with no message to continue (5.4)")
            if frame.rsv1:
                raise protocol_error("RSV1 set on a continuation frame: only a message's first frame "
                                     "says it is compressed (RFC 7692 6.1)")
        elif self._opcode is not None:
            raise protocol_error(f"{opcode.name} frame inside a fragmented {self._opcode.name} message: "
                                 "fragments MUST NOT interleave (5.4)")
        elif frame.fin and not frame.rsv1:  # the common case: a whole uncompressed message
            payload = frame.payload
            if len(payload) > self._max:
                raise too_big(f"message of {len(payload)} bytes exceeds the limit of {self._max}")
            if opcode is Opcode.BINARY:
                return Message(payload)
            try:
                return Message(payload.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise invalid_data(f"text message is not valid UTF-8 (8.1): {exc.reason}") from None
        else:
            self._opcode = opcode
            self._compressed = frame.rsv1
            self._size = 0
        return self._on_fragment(frame.payload, frame.fin)

    def _peer_may(self, what: Input, opcode: Opcode) -> State:
        after = TRANSITIONS.get((self._state, what))
        if after is None:
            raise protocol_error(f"{opcode.name} frame after the peer's Close: it \"MUST NOT send any more "
                                 "data frames after sending a Close frame\" (5.5.1)")
        return after

    def _on_fragment(self, data: bytes, fin: bool) -> Message | None:
        if self._compressed:
            assert self._inflater is not None  # RSV1 is only allowed when deflate was agreed
            data = self._inflater.feed(data, self._max - self._size, fin)
        size = self._size + len(data)
        if size > self._max:
            raise too_big(f"message of {size} bytes exceeds the limit of {self._max}")
        self._size = size
        if self._opcode is Opcode.TEXT:
            try:
                text = self._utf8.decode(data, fin)
            except UnicodeDecodeError as exc:
                raise invalid_data(f"text message is not valid UTF-8 (8.1): {exc.reason}") from None
            if text:
                self._texts.append(text)
        elif data:
            self._chunks.append(data)
        if not fin:
            return None
        if self._opcode is Opcode.TEXT:
            message = Message("".join(self._texts))
            self._texts = []
        else:
            message = Message(b"".join(self._chunks))
            self._chunks = []
        self._opcode = None
        self._utf8.reset()
        return message

    def _starved(self) -> Sentinel | Close:
        if not self._eof:
            return NEED_DATA
        if self._pos < len(self._buf):
            left = len(self._buf) - self._pos
            raise RemoteProtocolError(f"stream ended inside a frame ({left} bytes left)",
                                      CloseCode.ABNORMAL_CLOSURE)
        if self._opcode is not None:
            raise RemoteProtocolError(f"stream ended inside a fragmented {self._opcode.name} message",
                                      CloseCode.ABNORMAL_CLOSURE)
        state, self._state = self._state, State.CLOSED
        if state in (State.OPEN, State.LOCAL_CLOSING):
            # "If _The WebSocket Connection is Closed_ and no Close control frame was received by
            # the endpoint ... _The WebSocket Connection Close Code_ is considered to be 1006" (7.1.5).
            return Close(CloseCode.ABNORMAL_CLOSURE)
        return CLOSED
