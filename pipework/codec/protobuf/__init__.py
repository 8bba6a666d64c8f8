"""A sans-IO codec for Protocol Buffers and gRPC's message framing.

Theory of operation: bytes in, values out; values in, bytes out; no sockets, no event loop, no
clock. Three layers, each usable alone:

* The wire format without a schema (:mod:`.wire`, :mod:`.fields`, :mod:`.scalars`,
  :mod:`.peek`): :func:`decode_fields` turns a message into ``Field(number, wire_type, value)``
  records and :func:`encode_fields` back; :func:`decode_packed` / :func:`encode_packed` and
  :func:`scalar_value` / :func:`scalar_field` read and write the .proto scalar types;
  :func:`read_field` finds one (possibly nested) field for routing without decoding the rest.
* Messages by schema (:mod:`.schema`, the one module that needs the ``protobuf`` package):
  :class:`DescriptorSet` loads a ``protoc --descriptor_set_out --include_imports`` file,
  :class:`MessageType` decodes bytes to a dict and encodes a dict to bytes, and
  :func:`method_types` maps a gRPC ``/pkg.Service/Method`` path to its request and response types.
  These names are imported on first use, so the rest of the package works without protobuf.
* gRPC framing (:mod:`.framing`, :mod:`.compression`): :class:`MessageDecoder` splits a call's
  HTTP/2 DATA into messages (``receive_data`` / ``next_event`` → :class:`MessageReceived`,
  NEED_DATA or CLOSED), inflating gzip/deflate within ``max_message_size`` (gRPC's 4 MiB by
  default); :func:`encode_message` compresses and frames one.

Every failure is a :class:`ProtobufError` carrying a gRPC :class:`StatusCode`:
:class:`RemoteProtocolError` for the peer's bytes (INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED),
:class:`LocalProtocolError` for our misuse (INVALID_ARGUMENT unless said otherwise);
``exc.trailers()`` gives the ``grpc-status`` / ``grpc-message`` trailers that report it.

Why write the wire format here rather than use protobuf for it: protobuf parses only against a
schema (a message with no fields keeps the rest as opaque unknown fields), builds the whole
message to read one field, and must be installed; a proxy routing on a field in raw bytes wants
none of that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .compression import (
    DEFLATE,
    GZIP,
    IDENTITY,
    SUPPORTED_ENCODINGS,
    compress,
    decompress,
    normalize_encoding,
)
from .errors import (
    LocalProtocolError,
    ProtobufError,
    RemoteProtocolError,
    StatusCode,
    encode_grpc_message,
    status_trailers,
)
from .fields import DEFAULT_MAX_FIELDS, Field, decode_fields, encode_fields
from .framing import (
    CLOSED,
    DEFAULT_MAX_MESSAGE_SIZE,
    NEED_DATA,
    MessageDecoder,
    MessageReceived,
    Signal,
    State,
    encode_message,
    frame,
)
from .peek import read_field, read_fields
from .scalars import (
    SCALAR_TYPES,
    ScalarType,
    decode_packed,
    encode_packed,
    scalar_field,
    scalar_type,
    scalar_value,
)
from .wire import (
    DEFAULT_MAX_DEPTH,
    MAX_FIELD_NUMBER,
    MAX_MESSAGE_SIZE,
    MAX_VARINT_BYTES,
    WireType,
    encode_tag,
    encode_varint,
    read_tag,
    read_varint,
    zigzag_decode,
    zigzag_encode,
)

if TYPE_CHECKING:
    from .schema import DescriptorSet, MessageType, load_descriptor_set, method_types

# Names of .schema, imported (with protobuf) on first access, so that importing this package
# does not need protobuf.
_SCHEMA_NAMES = frozenset({"DescriptorSet", "MessageType", "load_descriptor_set", "method_types"})


def __getattr__(name: str) -> Any:
    if name in _SCHEMA_NAMES:
        from . import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLOSED",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FIELDS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFLATE",
    "GZIP",
    "IDENTITY",
    "MAX_FIELD_NUMBER",
    "MAX_MESSAGE_SIZE",
    "MAX_VARINT_BYTES",
    "NEED_DATA",
    "SCALAR_TYPES",
    "SUPPORTED_ENCODINGS",
    "DescriptorSet",
    "Field",
    "LocalProtocolError",
    "MessageDecoder",
    "MessageReceived",
    "MessageType",
    "ProtobufError",
    "RemoteProtocolError",
    "ScalarType",
    "Signal",
    "State",
    "StatusCode",
    "WireType",
    "compress",
    "decode_fields",
    "decode_packed",
    "decompress",
    "encode_fields",
    "encode_grpc_message",
    "encode_message",
    "encode_packed",
    "encode_tag",
    "encode_varint",
    "frame",
    "load_descriptor_set",
    "method_types",
    "normalize_encoding",
    "read_field",
    "read_fields",
    "read_tag",
    "read_varint",
    "scalar_field",
    "scalar_type",
    "scalar_value",
    "status_trailers",
    "zigzag_decode",
    "zigzag_encode",
]
