"""The incremental RESP decoder: chunks of bytes in, values out, resumable anywhere.

Theory of operation: :meth:`Decoder.receive_data` appends to one ``bytearray``;
:meth:`Decoder.next_event` parses from a read offset and returns one top-level value, NEED_DATA
or CLOSED. Parsing is iterative, never recursive: an aggregate header pushes a frame
``[type byte, values still expected, values so far]`` on a stack, each finished value is appended
to the top frame, and a frame that has all its values pops and becomes a value itself. When the
bytes run out in the middle of a value, the stack and the finished values stay and the offset
stays at the start of the unfinished one, so a reply fed byte by byte is parsed in linear time:
only the current line or bulk string is looked at again. The buffer is compacted when the
consumed prefix is large, so a long message does not sit in memory twice.

Whose bytes these are changes the grammar (``peer``):

* Peer.SERVER (or None): replies, every RESP2 type, and with ``protocol`` 3 every RESP3 type.
* Peer.CLIENT: requests, read as Redis reads them (``networking.c``): a request whose first byte
  is ``*`` is an array whose elements MUST be bulk strings ("expected '$', got 'X'"); ``*0`` and
  ``*-1`` are skipped; any other first byte starts an inline command (see :mod:`.inline`). On a
  RemoteProtocolError the decoder queues Redis's own answer, ``-ERR Protocol error: ...``, for
  :meth:`Decoder.data_to_send`, as Redis does before it closes the connection.

Numbers are read strictly (no sign on lengths, no leading zeros, no spaces, at most 19 digits)
so that every value has one encoding and ``encode(decode(b)) == b``. Every limit is named below
with its reason; a peer that exceeds one gets a RemoteProtocolError before the bytes that would
exceed it are buffered. After a RemoteProtocolError the decoder stays in ERROR: RESP has no
resynchronisation point, so the only way on is to close the connection.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError, protocol_error
from .inline import MAX_INLINE_LENGTH, split_inline
from .parsing import make_aggregate, make_blob, parse_length, parse_simple, resp3_only
from .values import NULL_ARRAY, NULL_BULK_STRING, PROTOCOLS, RESP3, Array, BulkString, InlineCommand, Value

#: Redis's own ceiling on a bulk string: "proto-max-bulk-len", 512 MB by default (redis.conf).
REDIS_MAX_BULK_LENGTH: Final = 512 * 1024 * 1024
#: Our default ceiling on one bulk string, bulk error or verbatim string. A decoder holds a whole
#: value in memory before it hands it on, once per connection; at Redis's 512 MB a few hostile
#: clients could exhaust a proxy. 64 MiB is far above the values well-behaved applications store
#: (Redis's docs warn against multi-megabyte values) yet bounds the damage; raise it per decoder.
DEFAULT_MAX_BULK_LENGTH: Final = 64 * 1024 * 1024
#: Our default ceiling on one top-level value on the wire, all of its nested parts included: the
#: bulk limit alone would let one array of many large strings grow without bound.
DEFAULT_MAX_MESSAGE_SIZE: Final = 128 * 1024 * 1024
#: How deeply aggregates may nest. Real replies nest a few levels (XINFO STREAM FULL, CLUSTER
#: SLOTS, search module results stay under ten); the decoder itself does not recurse, but the
#: encoder and the callers' code that walks values do, so depth is bounded well below Python's
#: recursion limit.
DEFAULT_MAX_DEPTH: Final = 32
#: How many values one top-level value may contain, at all levels. Each costs ~100 bytes of
#: Python objects for as little as 4 bytes of wire (``:1\r\n``), so the count, not the size,
#: bounds memory for small elements. 1 Mi is Redis's historical multibulk limit (Redis < 4 refused
#: larger requests as "invalid multibulk length") and above any sensible HGETALL or LRANGE.
DEFAULT_MAX_ELEMENTS: Final = 1024 * 1024
# Compact the buffer once this much of it has been consumed (and it is over half the buffer).
_COMPACT_AT: Final = 64 * 1024

_BLOBS: Final = frozenset(b"$!=")
_AGGREGATES: Final = frozenset(b"*%~>|")
_STAR, _DOLLAR, _PIPE, _PERCENT, _GT, _ZERO, _CR, _LF = b"*$|%>0\r\n"
_BULK_OR_ARRAY: Final = frozenset((_DOLLAR, _STAR))
_new = object.__new__
# The slots of the two values nearly every message is made of, set without the frozen dataclass's
# __init__ (a Python call that sets its field through object.__setattr__): the value is the same.
_set_bulk_value = vars(BulkString)["value"].__set__
_set_array_items = vars(Array)["items"].__set__


class Sentinel(Enum):
    """What :meth:`Decoder.next_event` returns when it has no value."""

    NEED_DATA = "NEED_DATA"  # feed more bytes with receive_data()
    CLOSED = "CLOSED"  # the peer closed its end cleanly, between two values

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
CLOSED: Final = Sentinel.CLOSED


class Peer(Enum):
    """Who sends the bytes a decoder reads."""

    CLIENT = "client"  # commands: arrays of bulk strings, or inline commands
    SERVER = "server"  # replies and pushes


class State(Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"  # the peer's end of stream was received
    ERROR = "ERROR"


class _Input(Enum):
    DATA = "DATA"
    EOF = "EOF"


# The input side of a RESP connection:
#
#     OPEN --data--> OPEN --EOF--> CLOSED        any state --RemoteProtocolError--> ERROR
#
# A (state, input) pair missing from the table is the caller's misuse (data after EOF).
_TRANSITIONS: Final[dict[tuple[State, _Input], State]] = {
    (State.OPEN, _Input.DATA): State.OPEN,
    (State.OPEN, _Input.EOF): State.CLOSED,
}


# "$" and a length of up to 19 digits: the longest length line a bulk string can have.
_LONGEST_LENGTH_LINE: Final = 20
# Length lines with their type byte, and their value: looked up, a line is read and validated at
# once ("$0" is there, "$00" and "$+1" are not); longer ones go to _long_length(). Bulk lengths
# under 1,000 and counts under 256 cover nearly all requests and replies, for ~100 KB of tables.
_LENGTH_TABLE: Final = 1000
_BULK_LENGTHS: Final = {b"$%d" % i: i for i in range(_LENGTH_TABLE)}
_ARRAY_LENGTHS: Final = {b"*%d" % i: i for i in range(256)}
# The fast path for arrays reads from a bytes copy of the buffer, made once per change of the
# buffer; above this size (a very long pipeline, or a big value) it is not worth holding twice.
_SNAPSHOT_MAX: Final = 256 * 1024


def _long_length(line: bytes) -> int | None:
    """The length in a length line past :data:`_LENGTHS` (type byte included), if it is "0" or
    1-19 digits without a leading zero as parse_length() reads it; None for anything else."""
    digits = line[1:]
    if not digits.isdigit() or len(digits) >= _LONGEST_LENGTH_LINE or digits[0] == _ZERO:
        return None
    return int(digits)


def _bulk_strings(data: bytes, pos: int, count: int,
                  max_bulk: int) -> tuple[tuple[BulkString, ...], int] | None:
    """The ``count`` bulk strings at ``data[pos:]`` and the offset after them, when all of them
    are there and well-formed; None otherwise.

    An array of bulk strings is every request and most replies, so the decoder reads one here in
    a single loop, without its general path's per-value stack work and with as few operations
    per value as it can: ``data`` is a ``bytes`` copy of the buffer (a slice of it is the value,
    where a slice of the bytearray would have to be copied again), the CRLF search has no end
    (the line found is then looked up or measured), a length line is read by one dict lookup
    that also validates it, and running off the end is an IndexError. Anything it does not
    expect (another type, a -1, a bad length line, a value over ``max_bulk``, missing bytes)
    returns None, and the general path reads the array again from its start with its own errors
    and resumption: the work done here is lost at most once per message.
    """
    items: list[BulkString] = []
    append = items.append
    find = data.find
    lengths = _BULK_LENGTHS.get
    try:
        for _ in range(count):
            line_end = find(b"\r\n", pos)
            if line_end < 0:
                return None
            line = data[pos:line_end]
            size = lengths(line)
            if size is None:  # over the table, which max_bulk covers (_arrays_fast), or not a length
                if line[:1] != b"$":
                    return None
                size = _long_length(line)
                if size is None or size > max_bulk:
                    return None
            pos = line_end + 2
            value = _new(BulkString)
            _set_bulk_value(value, data[pos : pos + size])
            pos += size
            if data[pos] != _CR or data[pos + 1] != _LF:
                return None
            append(value)
            pos += 2
    except IndexError:  # the array runs past the bytes received
        return None
    return tuple(items), pos


class _Frame:
    """An aggregate being read: its type byte, how many values it still needs, those it has."""

    __slots__ = ("items", "kind", "need")

    def __init__(self, kind: int, need: int) -> None:
        self.kind, self.need = kind, need
        self.items: list[Value] = []


class Decoder:
    """Decodes one direction of a RESP connection from chunks of any size.

    ``protocol``: 2 or 3 (settable, e.g. once a ``HELLO 3`` succeeds); with 2 the RESP3 type bytes
    are refused. ``peer``: Peer.CLIENT to read requests as a Redis server does, Peer.SERVER or
    None for replies. The ``max_*`` arguments are the limits named in this module.
    """

    __slots__ = ("_arrays_fast", "_buf", "_count", "_eof", "_error", "_max_bulk", "_max_depth",
                 "_max_elements", "_max_line", "_max_message", "_msg_start", "_peer", "_pos", "_protocol",
                 "_send", "_snapshot", "_stack", "_state")

    def __init__(self, protocol: int = RESP3, *, peer: Peer | None = None,
                 max_bulk_length: int = DEFAULT_MAX_BULK_LENGTH,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, max_depth: int = DEFAULT_MAX_DEPTH,
                 max_elements: int = DEFAULT_MAX_ELEMENTS, max_line_length: int = MAX_INLINE_LENGTH) -> None:
        self.protocol = protocol
        for name, limit in (("max_bulk_length", max_bulk_length), ("max_message_size", max_message_size),
                            ("max_depth", max_depth), ("max_elements", max_elements),
                            ("max_line_length", max_line_length)):
            if limit < 1:
                raise LocalProtocolError(f"{name} must be at least 1, not {limit}")
        self._peer = peer
        self._max_bulk, self._max_message = max_bulk_length, max_message_size
        self._max_depth, self._max_elements, self._max_line = max_depth, max_elements, max_line_length
        # The fast path for arrays (_bulk_strings()) looks for the header's CRLF only as far as
        # the longest length line goes, and takes the lengths in _BULK_LENGTHS as under the limit.
        self._arrays_fast = max_line_length >= _LONGEST_LENGTH_LINE and max_bulk_length >= _LENGTH_TABLE
        self._buf = bytearray()
        self._snapshot: bytes | None = None  # bytes(self._buf) for _bulk_strings(), until it changes
        self._pos = 0
        self._stack: list[_Frame] = []
        self._msg_start = 0
        self._count = 0
        self._eof = False
        self._state = State.OPEN
        self._send = b""
        self._error: RemoteProtocolError | None = None

    @property
    def protocol(self) -> int:
        """2 or 3: which types the peer may send."""
        return self._protocol

    @protocol.setter
    def protocol(self, value: int) -> None:
        if value not in PROTOCOLS:
            raise LocalProtocolError(f"protocol must be 2 or 3, not {value!r}")
        self._protocol = value

    @property
    def state(self) -> State:
        return self._state

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received but not yet returned as values, and whether the end of stream was seen
        (for a proxy that stops decoding and relays raw bytes, e.g. after PSYNC)."""
        return bytes(self._buf[self._pos :]), self._eof

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed its end of the stream.

        Raises LocalProtocolError after the end of stream or after a failure. Call
        :meth:`next_event` until it returns NEED_DATA before receiving more.
        """
        event = _Input.DATA if data else _Input.EOF
        nxt = _TRANSITIONS.get((self._state, event))
        if nxt is None:
            raise LocalProtocolError(f"receive_data({event.name}) in state {self._state.name}")
        if data:
            self._buf += data
            self._snapshot = None
        else:
            self._eof = True
        self._state = nxt

    def next_event(self) -> Value | InlineCommand | Sentinel:
        """The next top-level value, NEED_DATA (feed more bytes) or CLOSED (clean end of stream).

        Raises RemoteProtocolError when the peer broke RESP or a limit, after queueing the reply
        :meth:`data_to_send` returns; the decoder then stays in ERROR and raises again.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._state = State.ERROR
            self._error = exc
            self._send = exc.reply if self._peer is Peer.CLIENT else b""
            raise

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer before closing, once: after a RemoteProtocolError from a
        client's stream, Redis's ``-ERR Protocol error: ...`` reply; else b""."""
        data, self._send = self._send, b""
        return data

    def _next(self) -> Value | InlineCommand | Sentinel:
        # The hot loop: one pass per value, most of them bulk strings. Hence locals for the
        # limits and the element count (stored back before every return), a length read with
        # bytes.isdigit() and int() instead of parse_length()'s regex (which still reads, and
        # refuses, everything else), and BulkString and Array built without their dataclass
        # __init__ (see _set_bulk_value). Every check of the general path is made here too.
        buf, stack = self._buf, self._stack
        pos = self._pos
        if not stack and self._arrays_fast and pos < len(buf) <= _SNAPSHOT_MAX and buf[pos] == _STAR:
            # A whole array of bulk strings, read by _bulk_strings(). It passes every check the
            # general path makes: "*" + digits without a leading zero, 1 <= count and
            # 1 + count values <= max_elements; bulk lengths under max_bulk; each line shorter
            # than max_line (which _arrays_fast ensures); the whole within max_message; the depth
            # is 1 and "*" exists in both protocols; "$" is what a request's elements must be.
            data = self._snapshot
            if data is None:
                data = self._snapshot = bytes(buf)
            header_end = data.find(b"\r\n", pos, pos + _LONGEST_LENGTH_LINE + 2)
            if header_end > 0:
                header = data[pos:header_end]
                items = _ARRAY_LENGTHS.get(header)
                if items is None:
                    items = _long_length(header) or 0
                if 0 < items < self._max_elements:
                    got = _bulk_strings(data, header_end + 2, items, self._max_bulk)
                    if got is not None and got[1] - pos <= self._max_message:
                        array = _new(Array)
                        _set_array_items(array, got[0])
                        end = got[1]
                        if end != len(buf) and end <= _COMPACT_AT:
                            self._pos = end  # what _consumed() does then, without its call
                        else:
                            self._consumed(end)
                        return array
        n = len(buf)
        client = self._peer is Peer.CLIENT
        max_line, max_bulk, max_message = self._max_line, self._max_bulk, self._max_message
        max_elements = self._max_elements
        count, msg_start = self._count, self._msg_start
        find = buf.find
        while True:
            if pos >= n:
                self._count = count
                return self._starved(pos)
            if not stack:
                self._msg_start = msg_start = pos
                count = 0
                if client and buf[pos] != _STAR:
                    result = self._inline(pos)
                    if result is None:
                        self._count = count
                        return self._starved(pos)
                    command, pos = result
                    self._consumed(pos)
                    if command.args:
                        return command
                    # An empty line, which Redis skips; the buffer may have moved.
                    pos, n = self._pos, len(buf)
                    continue
            kind = buf[pos]
            if client and stack and kind != _DOLLAR:
                raise protocol_error(f"request array element starts with {chr(kind)!r}",
                                     f"expected '$', got '{chr(kind)}'")
            line_end = find(b"\r\n", pos + 1, pos + max_line + 3)
            if line_end < 0:
                if n - pos > max_line + 2:
                    raise protocol_error(f"line longer than {max_line} bytes",
                                         "too big bulk count string" if kind in _BLOBS else
                                         "too big mbulk count string" if kind in _AGGREGATES else
                                         "too big inline request")
                self._count = count
                return self._starved(pos)
            after = line_end + 2
            count += 1
            if count > max_elements:
                raise protocol_error(f"more than {max_elements} values in one message",
                                     "invalid multibulk length")
            value: Value
            if kind in _BULK_OR_ARRAY:
                # A length: "0" or 1-19 digits without a leading zero (parse_length's rule).
                digits = buf[pos + 1 : line_end]
                limit = max_bulk if kind == _DOLLAR else max_elements
                if (digits.isdigit() and line_end - pos <= _LONGEST_LENGTH_LINE
                        and (digits[0] != _ZERO or line_end - pos == 2)):
                    size = int(digits)
                    if size > limit:
                        parse_length(bytes(digits), kind, limit)  # raises, in its words
                else:
                    size = parse_length(bytes(digits), kind, limit)
                if kind == _DOLLAR:
                    if size < 0:
                        if client:  # Redis: "ll < 0 || ll > server.proto_max_bulk_len"
                            raise protocol_error("null bulk string in a request", "invalid bulk length")
                        value = NULL_BULK_STRING
                    else:
                        end = after + size
                        if end + 2 - msg_start > max_message:
                            self._check_size(end + 2)  # raises
                        if end + 2 > n:
                            self._count = count - 1
                            return self._starved(pos)
                        if buf[end] != _CR or buf[end + 1] != _LF:
                            raise protocol_error("bulk data not followed by CRLF", "invalid bulk format")
                        value = _new(BulkString)
                        _set_bulk_value(value, bytes(buf[after:end]))
                        after = end + 2
                else:
                    if client and size <= 0:  # Redis skips "*0\r\n" and "*-1\r\n" from a client
                        self._consumed(after)
                        pos, n = self._pos, len(buf)  # the buffer may have moved
                        continue
                    if size < 0:
                        value = NULL_ARRAY
                    else:
                        self._check_aggregate(kind, size)
                        if size:
                            stack.append(_Frame(kind, size))
                            pos = after
                            continue
                        value = make_aggregate(kind, [])
            else:
                line = bytes(buf[pos + 1 : line_end])
                if kind in _BLOBS:
                    if self._protocol != RESP3:
                        raise resp3_only(kind)
                    size = parse_length(line, kind, max_bulk)
                    if size < 0:
                        if client:
                            raise protocol_error("null bulk string in a request", "invalid bulk length")
                        value = NULL_BULK_STRING
                    else:
                        end = after + size
                        self._check_size(end + 2)
                        if end + 2 > n:
                            self._count = count - 1
                            return self._starved(pos)
                        if buf[end : end + 2] != b"\r\n":
                            raise protocol_error("bulk data not followed by CRLF", "invalid bulk format")
                        data = bytes(buf[after:end])
                        after = end + 2
                        value = make_blob(kind, data)
                elif kind in _AGGREGATES:
                    size = parse_length(line, kind, max_elements)
                    if client and size <= 0:
                        self._consumed(after)
                        pos, n = self._pos, len(buf)
                        continue
                    if size < 0:
                        value = NULL_ARRAY
                    else:
                        self._check_aggregate(kind, size)
                        need = size * 2 if kind in (_PERCENT, _PIPE) else size
                        if kind == _PIPE:
                            need += 1  # the value the attribute describes
                        if need:
                            stack.append(_Frame(kind, need))
                            pos = after
                            continue
                        value = make_aggregate(kind, [])
                else:
                    value = parse_simple(kind, line, self._protocol)
            if after - msg_start > max_message:
                self._check_size(after)  # raises
            pos = after
            while stack:  # attach the value to its aggregate; close the aggregates it completes
                frame = stack[-1]
                frame.items.append(value)
                frame.need -= 1
                if frame.need:
                    break
                stack.pop()
                if frame.kind == _STAR:
                    value = _new(Array)
                    _set_array_items(value, tuple(frame.items))
                else:
                    value = make_aggregate(frame.kind, frame.items)
            if not stack:
                self._count = count
                self._consumed(pos)
                return value

    def _check_aggregate(self, kind: int, count: int) -> None:
        if self._protocol != RESP3 and kind != _STAR:
            raise resp3_only(kind)
        if len(self._stack) >= self._max_depth:
            raise protocol_error(f"aggregates nested deeper than {self._max_depth}", "nesting too deep")
        # RESP3 "Push": "Push data may be interleaved with any protocol data, but always at the top
        # level, so the client will never find push data in the middle of a Map reply".
        if kind == _GT and any(f.kind != _PIPE or f.need != 1 for f in self._stack):
            raise protocol_error("push data inside an aggregate", "push not at the top level")

    def _check_size(self, end: int) -> None:
        if end - self._msg_start > self._max_message:
            raise protocol_error(f"message longer than {self._max_message} bytes", "invalid bulk length")

    def _inline(self, pos: int) -> tuple[InlineCommand, int] | None:
        buf = self._buf
        newline = buf.find(b"\n", pos, pos + self._max_line + 1)
        if newline < 0:
            if len(buf) - pos > self._max_line:
                raise protocol_error(f"inline command longer than {self._max_line} bytes",
                                     "too big inline request")
            return None
        end = newline - 1 if newline > pos and buf[newline - 1] == 0x0D else newline
        return InlineCommand(split_inline(bytes(buf[pos:end]))), newline + 1

    def _consumed(self, pos: int) -> None:
        buf = self._buf
        if pos == len(buf) and not self._stack:
            buf.clear()
            self._snapshot = None
            pos = 0
        elif pos > _COMPACT_AT and pos * 2 > len(buf):
            del buf[:pos]
            self._snapshot = None
            self._msg_start -= pos
            pos = 0
        self._pos = pos

    def _starved(self, pos: int) -> Sentinel:
        self._consumed(pos)
        if not self._eof:
            return NEED_DATA
        if self._pos == len(self._buf) and not self._stack:
            return CLOSED
        raise protocol_error("stream ended inside a value", "unexpected end of stream")


def decode(data: bytes | bytearray, protocol: int = RESP3, *, peer: Peer | None = None,
           **limits: int) -> tuple[Value | InlineCommand, int] | None:
    """The first value in ``data`` and the number of bytes it took, or None if ``data`` holds
    less than one whole value. Raises RemoteProtocolError for bytes that are not RESP."""
    decoder = Decoder(protocol, peer=peer, **limits)
    decoder.receive_data(data)
    value = decoder.next_event()
    if isinstance(value, Sentinel):
        return None
    return value, len(data) - len(decoder.trailing_data[0])
