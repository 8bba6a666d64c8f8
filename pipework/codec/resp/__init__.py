"""A sans-IO codec for Redis's RESP2 and RESP3: bytes in, values out; values in, bytes out.

Theory of operation: no sockets, no event loop, no clock. A :class:`Decoder` takes chunks of any
size (``receive_data``, ``b""`` for EOF) and hands out one top-level value per ``next_event``
(or NEED_DATA, or CLOSED), resuming where the last chunk ended. Told that its peer is a client,
it reads requests exactly as a Redis server does, inline commands included, and on a protocol
error queues Redis's ``-ERR Protocol error: ...`` reply (``data_to_send``) before raising.
:func:`encode` writes any value back; :func:`encode_command` and :func:`encode_inline` write the
two forms of a request. :func:`decode` reads one value from a buffer for message-style callers.

Values are frozen slotted dataclasses, one per wire type (:mod:`.values`), so that a value
re-encodes to the bytes it came from and can be a RESP3 map key. Every failure is a
:class:`RESPError`: :class:`RemoteProtocolError` for the peer's bytes, :class:`LocalProtocolError`
for what we were asked to send; each carries the Redis error text that names it on the wire.
Limits on bulk length, message size, nesting depth, element count and line length are arguments
of the decoder with documented defaults (:mod:`.decoder`).

Why write it rather than use a library: hiredis and redis-py's parsers are client-side readers
that turn replies into Python types and drop the wire type (simple vs bulk string, ``$-1`` vs
``*-1``, map vs attribute), have no request-side grammar (inline commands, Redis's own error
replies) and no per-connection limits. They are the independent peers the tests check this
codec against (DESIGN.md 6).

Not implemented: RESP3 streamed strings (``$?`` and ``;`` chunks) and streamed aggregates
(``*?`` ... ``.``), which the spec defines but no Redis version sends; they are refused as
protocol errors.
"""

from .decoder import (
    CLOSED,
    DEFAULT_MAX_BULK_LENGTH,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ELEMENTS,
    DEFAULT_MAX_MESSAGE_SIZE,
    NEED_DATA,
    REDIS_MAX_BULK_LENGTH,
    Decoder,
    Peer,
    Sentinel,
    State,
    decode,
)
from .encoder import DEFAULT_MAX_ENCODE_DEPTH, encode, encode_command
from .errors import LocalProtocolError, RemoteProtocolError, RESPError
from .inline import MAX_INLINE_LENGTH, encode_inline, quote_arg, split_inline
from .parsing import MAX_BIG_NUMBER_DIGITS
from .values import (
    MAX_INTEGER,
    MIN_INTEGER,
    NULL,
    NULL_ARRAY,
    NULL_BULK_STRING,
    RESP2,
    RESP3,
    Array,
    Attribute,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Double,
    InlineCommand,
    Integer,
    Map,
    Null,
    Push,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
    command,
    command_args,
)

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_BULK_LENGTH",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ELEMENTS",
    "DEFAULT_MAX_ENCODE_DEPTH",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_BIG_NUMBER_DIGITS",
    "MAX_INLINE_LENGTH",
    "MAX_INTEGER",
    "MIN_INTEGER",
    "NEED_DATA",
    "NULL",
    "NULL_ARRAY",
    "NULL_BULK_STRING",
    "REDIS_MAX_BULK_LENGTH",
    "RESP2",
    "RESP3",
    "Array",
    "Attribute",
    "BigNumber",
    "Boolean",
    "BulkError",
    "BulkString",
    "Decoder",
    "Double",
    "InlineCommand",
    "Integer",
    "LocalProtocolError",
    "Map",
    "Null",
    "Peer",
    "Push",
    "RESPError",
    "RemoteProtocolError",
    "Sentinel",
    "Set",
    "SimpleError",
    "SimpleString",
    "State",
    "Value",
    "VerbatimString",
    "command",
    "command_args",
    "decode",
    "encode",
    "encode_command",
    "encode_inline",
    "quote_arg",
    "split_inline",
]
