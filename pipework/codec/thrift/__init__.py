"""A sans-IO Apache Thrift codec: the binary and compact protocols, framed and unframed transports.

Theory of operation: the codec does no I/O and needs no IDL. A message is a ``Message`` (name,
``MessageType``, seqid) whose ``body`` is a struct in a generic form that keeps what the wire says:
``{field_id: (TType, value)}`` in wire order, with ``TList``/``TSet``/``TMap`` for containers,
so a proxy can route on an argument (``message.value(1)``) and re-encode the message unchanged.
Three layers, each usable alone:

* ``decode_message``/``encode_message`` and ``decode_struct``/``encode_struct`` turn one message or
  struct into bytes and back, in ``Protocol.BINARY`` (strict or old header) or ``Protocol.COMPACT``;
  ``frame`` adds the framed transport's length; ``ApplicationException`` reads and builds the
  TApplicationException an EXCEPTION message carries.
* ``StreamDecoder`` takes a connection's bytes in chunks of any size (``receive_data``) and hands
  out messages (``next_event`` → ``Message``, ``NEED_DATA`` or ``CLOSED``), or undecoded ones
  (``next_raw`` → ``RawMessage``), finding their ends by frame length or, unframed, by walking
  the body; every size the peer declares is checked against ``Limits`` before it is waited for.
* ``peek_header``, ``skip``, ``peek_message_size``, ``replace_seqid`` and ``detect_protocol`` read or
  change a few fields in place for a proxy that forwards without decoding.

Every failure is a ``ThriftError``: ``RemoteProtocolError`` for the peer's bytes,
``LocalProtocolError`` for what we were asked to send, each carrying the ``TProtocolException``
type (``protocol_type``) and the ``TApplicationException`` type a server answers with
(``application_type``); the stream decoder also prepares that answer (``reply``).

Why write it rather than use the ``thrift`` package: that is a client/server library whose protocol
objects pull a few bytes at a time from a blocking transport into generated classes; it has no
incremental decoder, no way to find a message's end on an unframed stream short of reading it,
and without an IDL it can only skip. For a typical 146-byte call (``bench/codecs_thrift.py``, on a
busy 2-core VM) its pure-Python TBinaryProtocol took ~19 us to decode and ~10 us to encode, against
~7.5 and ~5 here; its TCompactProtocol ~26 and ~18, against ~7 and ~6. Its C extension
(fastbinary) is about as fast as this codec, but only for generated classes. It is the independent
peer the tests check this codec against (DESIGN.md 6).
"""

from .errors import (
    ApplicationErrorType,
    LocalProtocolError,
    ProtocolErrorType,
    RemoteProtocolError,
    ThriftError,
)
from .message import (
    ApplicationException,
    decode_message,
    decode_message_prefix,
    decode_struct,
    encode_message,
    encode_struct,
    exception_message,
    frame,
)
from .model import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_CONTAINER_SIZE,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_NAME_SIZE,
    DEFAULT_MAX_STRING_SIZE,
    Field,
    Header,
    Limits,
    Message,
    MessageType,
    Protocol,
    RawMessage,
    Struct,
    TList,
    TMap,
    Transport,
    TSet,
    TType,
    Value,
    split_name,
)
from .peek import detect_protocol, peek_header, peek_message_size, replace_seqid, skip
from .stream import CLOSED, NEED_DATA, Signal, State, StreamDecoder

__all__ = [
    "CLOSED",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_CONTAINER_SIZE",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_NAME_SIZE",
    "DEFAULT_MAX_STRING_SIZE",
    "NEED_DATA",
    "ApplicationErrorType",
    "ApplicationException",
    "Field",
    "Header",
    "Limits",
    "LocalProtocolError",
    "Message",
    "MessageType",
    "Protocol",
    "ProtocolErrorType",
    "RawMessage",
    "RemoteProtocolError",
    "Signal",
    "State",
    "StreamDecoder",
    "Struct",
    "TList",
    "TMap",
    "TSet",
    "TType",
    "ThriftError",
    "Transport",
    "Value",
    "decode_message",
    "decode_message_prefix",
    "decode_struct",
    "detect_protocol",
    "encode_message",
    "encode_struct",
    "exception_message",
    "frame",
    "peek_header",
    "peek_message_size",
    "replace_seqid",
    "skip",
    "split_name",
]
