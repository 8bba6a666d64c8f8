"""Schema-based protobuf: messages decoded to dicts and encoded from them, by descriptor set.

Theory of operation: a schema arrives as a FileDescriptorSet, the file ``protoc
--descriptor_set_out=api.desc --include_imports api.proto`` writes (or a gRPC server's reflection
service returns). :class:`DescriptorSet` loads one into a ``DescriptorPool`` of its own, so sets
that reuse names do not collide, adding the files in dependency order and taking the well-known
types (``google/protobuf/timestamp.proto``…) from the protobuf package when the set left them
out. :meth:`DescriptorSet.message_type` looks a message up by full name (``pkg.Msg``,
``pkg.Outer.Inner``); the :class:`MessageType` it returns decodes bytes to a dict and encodes a
dict to bytes. :meth:`DescriptorSet.method_types` maps a gRPC ``:path`` (``/pkg.Service/Method``)
to its request and response types, which is what a gRPC proxy needs to look into a call.

Why the ``protobuf`` library (DESIGN.md 6): parsing against a schema means the full language —
proto2 and proto3 presence, editions, maps, oneofs, extensions, groups, Any and the other
well-known types — and the ProtoJSON mapping between messages and dicts; protobuf's upb core does
all of it in C and is the reference those rules are written against. This module is the only one
of the package that imports it: the wire format (:mod:`.fields`, :mod:`.peek`) and gRPC framing
(:mod:`.framing`) work without it.

Dicts follow ``json_format.MessageToDict``, i.e. the ProtoJSON mapping: lowerCamelCase keys
(``field_names="proto"`` keeps the .proto names), enums by name, int64 and uint64 as decimal
strings, bytes as base64, Timestamp as RFC 3339. ``encode`` accepts either key spelling. Callers
that want native values use :meth:`MessageType.parse`, which returns the protobuf message itself.
Errors: bytes that do not parse as the type raise RemoteProtocolError (INTERNAL); protobuf's own
limits apply (100 levels of nesting, 2 GiB) and, like protobuf's Python parser, decoding does
not insist on proto2 required fields, which ``encode`` and ``serialize`` do. A dict that does
not fit the type, an unknown type name or a broken descriptor set raise LocalProtocolError; an
unknown method raises RemoteProtocolError (UNIMPLEMENTED: gRPC's "Method not found").
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Final, Literal

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message, message_factory
from google.protobuf.descriptor import Descriptor

from .errors import LocalProtocolError, RemoteProtocolError, StatusCode, malformed

FieldNames = Literal["json", "proto"]

# The well-known types that ship with protobuf, by file, for sets made without --include_imports.
_WELL_KNOWN: Final = {
    f"google/protobuf/{name}.proto": f"google.protobuf.{name}_pb2"
    for name in ("any", "api", "descriptor", "duration", "empty", "field_mask", "source_context",
                 "struct", "timestamp", "type", "wrappers")
}


class MessageType:
    """One message type of a :class:`DescriptorSet`: bytes to dict, dict to bytes."""

    __slots__ = ("_class", "_pool", "descriptor", "full_name")

    def __init__(self, descriptor: Descriptor, pool: descriptor_pool.DescriptorPool) -> None:
        self.descriptor = descriptor
        self.full_name: str = descriptor.full_name
        self._pool = pool
        self._class = message_factory.GetMessageClass(descriptor)

    def __repr__(self) -> str:
        return f"MessageType({self.full_name!r})"

    def parse(self, data: bytes | bytearray | memoryview) -> message.Message:
        """The protobuf message ``data`` holds; RemoteProtocolError (INTERNAL) if it does not parse."""
        msg = self._class()
        try:
            msg.ParseFromString(bytes(data))
        except (message.Error, ValueError, TypeError, RuntimeError) as exc:
            raise malformed(f"not a valid {self.full_name}: {exc}") from None
        return msg

    def decode(self, data: bytes | bytearray | memoryview, *, field_names: FieldNames = "json",
               enums_as_ints: bool = False, include_defaults: bool = False) -> Any:
        """The message ``data`` holds, as a dict (see the module doc for the mapping; a
        well-known type with a JSON form of its own, such as a Timestamp, gives that form).

        ``field_names``: ``"json"`` for lowerCamelCase keys, ``"proto"`` for the .proto names.
        ``enums_as_ints``: enum values as numbers instead of names. ``include_defaults``: also the
        fields without presence that hold their default (0, "", empty lists).
        Raises RemoteProtocolError (INTERNAL) for bytes that are not a valid message of the type.
        """
        msg = self.parse(data)
        try:
            return json_format.MessageToDict(
                msg, preserving_proto_field_name=field_names == "proto", use_integers_for_enums=enums_as_ints,
                always_print_fields_with_no_presence=include_defaults, descriptor_pool=self._pool)
        except (json_format.Error, message.Error, ValueError, TypeError, KeyError) as exc:
            # e.g. an Any whose type URL names a type the set does not hold
            raise malformed(f"{self.full_name} has no dict form: {exc}") from None

    def encode(self, value: Any, *, ignore_unknown_fields: bool = False) -> bytes:
        """The serialized message that ``value`` (a dict, or what :meth:`decode` returns) describes.

        Keys may be .proto or JSON names; ``ignore_unknown_fields`` drops keys the type lacks.
        Raises LocalProtocolError (INVALID_ARGUMENT) when ``value`` does not fit the type.
        """
        try:
            msg = json_format.ParseDict(value, self._class(), descriptor_pool=self._pool,
                                        ignore_unknown_fields=ignore_unknown_fields)
            return msg.SerializeToString()
        except (json_format.Error, message.Error, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise LocalProtocolError(f"value does not fit {self.full_name}: {exc}") from None

    def serialize(self, msg: message.Message) -> bytes:
        """``msg`` (a message of this type, as :meth:`parse` returns) to bytes.

        Raises LocalProtocolError for a message of another type or one missing required fields.
        """
        if msg.DESCRIPTOR is not self.descriptor:
            raise LocalProtocolError(f"a {msg.DESCRIPTOR.full_name} is not a {self.full_name}")
        try:
            return msg.SerializeToString()
        except message.Error as exc:
            raise LocalProtocolError(f"{self.full_name} cannot be serialized: {exc}") from None


class DescriptorSet:
    """The messages and services of one FileDescriptorSet, in a descriptor pool of their own.

    ``data`` is the serialized set. Raises LocalProtocolError when it does not parse, a file
    imports one the set lacks (rebuild it with ``--include_imports``), or protobuf refuses a file.
    """

    __slots__ = ("_methods", "_pool", "_types", "files")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        try:
            fds = descriptor_pb2.FileDescriptorSet.FromString(bytes(data))
        except message.Error as exc:
            raise LocalProtocolError(f"not a FileDescriptorSet: {exc}") from None
        self._pool = descriptor_pool.DescriptorPool()
        self._types: dict[str, MessageType] = {}
        self._methods: dict[str, tuple[MessageType, MessageType]] = {}
        by_name = {f.name: f for f in fds.file}
        added: set[str] = set()
        for name in by_name:
            self._add(name, by_name, added, ())
        #: The .proto files of the set, as protoc named them.
        self.files: tuple[str, ...] = tuple(by_name)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> DescriptorSet:
        """The set in the file ``path`` (e.g. ``api.desc``); OSError if it cannot be read."""
        with open(path, "rb") as f:
            return cls(f.read())

    def _add(self, name: str, by_name: dict[str, descriptor_pb2.FileDescriptorProto], added: set[str],
             chain: tuple[str, ...]) -> None:
        """Add file ``name`` after its imports (protoc lists them first; other tools may not)."""
        if name in added:
            return
        if name in chain:
            raise LocalProtocolError(f"import cycle: {' -> '.join((*chain, name))}")
        proto = by_name.get(name)
        if proto is None:
            proto = _well_known(name)
            if proto is None:
                raise LocalProtocolError(f"{chain[-1]} imports {name}, which the set lacks: "
                                         "run protoc with --include_imports")
        for dependency in proto.dependency:
            self._add(dependency, by_name, added, (*chain, name))
        try:
            self._pool.AddSerializedFile(proto.SerializeToString())
        except (TypeError, ValueError, message.Error) as exc:
            raise LocalProtocolError(f"protobuf refuses {name}: {exc}") from None
        added.add(name)

    def message_names(self) -> list[str]:
        """The full names of the set's own message types, nested ones included (map entries not)."""
        names: list[str] = []
        for file_name in self.files:
            stack = list(self._pool.FindFileByName(file_name).message_types_by_name.values())
            while stack:
                desc = stack.pop()
                if not desc.GetOptions().map_entry:
                    names.append(desc.full_name)
                stack.extend(desc.nested_types)
        return sorted(names)

    def method_paths(self) -> list[str]:
        """The gRPC ``:path`` of every method of every service in the set."""
        return sorted(f"/{service.full_name}/{method.name}"
                      for file_name in self.files
                      for service in self._pool.FindFileByName(file_name).services_by_name.values()
                      for method in service.methods)

    def message_type(self, full_name: str) -> MessageType:
        """The message type named ``full_name`` (``pkg.Msg``; a leading dot is allowed).

        Raises LocalProtocolError when the set has no such message type.
        """
        found = self._types.get(full_name)
        if found is None:
            try:
                descriptor = self._pool.FindMessageTypeByName(full_name.removeprefix("."))
            except KeyError:
                raise LocalProtocolError(f"no message type {full_name!r} in the descriptor set") from None
            found = self._types[full_name] = MessageType(descriptor, self._pool)
        return found

    def method_types(self, path: str | bytes) -> tuple[MessageType, MessageType]:
        """The request and response types of the method at the gRPC ``:path`` ``path``.

        ``path`` is ``/`` Service-Name ``/`` Method-Name, the service fully qualified
        (PROTOCOL-HTTP2.md, "Path"). Raises RemoteProtocolError (UNIMPLEMENTED) when the set has no
        such method or ``path`` has another shape: the path came from the peer's request.
        """
        key = path.decode("utf-8", "replace") if isinstance(path, bytes) else path
        found = self._methods.get(key)
        if found is not None:
            return found
        service_name, slash, method_name = key[1:].partition("/")
        if not key.startswith("/") or not slash or not service_name or not method_name or "/" in method_name:
            raise RemoteProtocolError(f"{key!r} is not a gRPC path (/package.Service/Method)",
                                      StatusCode.UNIMPLEMENTED)
        try:
            method = self._pool.FindServiceByName(service_name).methods_by_name[method_name]
        except KeyError:
            raise RemoteProtocolError(f"unknown method {key}", StatusCode.UNIMPLEMENTED) from None
        found = (self.message_type(method.input_type.full_name),
                 self.message_type(method.output_type.full_name))
        self._methods[key] = found  # only methods that exist: peers cannot grow this table
        return found


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    module = _WELL_KNOWN.get(name)
    if module is None:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    importlib.import_module(module).DESCRIPTOR.CopyToProto(proto)
    return proto


def load_descriptor_set(source: bytes | bytearray | memoryview | str | os.PathLike[str]) -> DescriptorSet:
    """A :class:`DescriptorSet` from serialized bytes or from the path of a ``.desc`` file."""
    if isinstance(source, bytes | bytearray | memoryview):
        return DescriptorSet(bytes(source))
    return DescriptorSet.from_file(source)


def method_types(descriptor_set: DescriptorSet, path: str | bytes) -> tuple[MessageType, MessageType]:
    """The request and response types of the method at ``path``: see :meth:`DescriptorSet.method_types`."""
    return descriptor_set.method_types(path)
