"""Checks shared by the binary and compact protocols: names, message types, sizes, sendable values.

Theory of operation: the two protocols lay values out differently but refuse the same things, with
the same error types, so that a message one protocol accepts the other accepts once re-encoded.
Reading helpers raise ``RemoteProtocolError``; the writing helpers raise ``LocalProtocolError``.
"""

from __future__ import annotations

from uuid import UUID

from .errors import (
    ApplicationErrorType,
    LocalProtocolError,
    ProtocolErrorType,
    RemoteProtocolError,
    invalid,
    negative,
    too_large,
    truncated,
)
from .model import (
    MAX_SIZE,
    MESSAGE_TYPE_BY_ID,
    TTYPE_BY_ID,
    Limits,
    MessageType,
    TList,
    TMap,
    TSet,
    TType,
    Value,
)

_MAP, _LIST = TType.MAP, TType.LIST


def decode_name(buf: bytes | bytearray | memoryview, start: int, end: int) -> str:
    """The method name in ``buf[start:end]``; INVALID_DATA unless it is UTF-8 (it is a Thrift string)."""
    try:
        return str(buf[start:end], "utf-8")
    except UnicodeDecodeError:
        raise invalid("the method name is not UTF-8") from None


def message_type(type_id: int) -> MessageType:
    """The ``MessageType`` for a header's type id; a server answers any other with
    INVALID_MESSAGE_TYPE, as Apache Thrift's processors do."""
    mtype = MESSAGE_TYPE_BY_ID.get(type_id)
    if mtype is None:
        raise RemoteProtocolError(f"message type {type_id} is not CALL, REPLY, EXCEPTION or ONEWAY",
                                  ProtocolErrorType.INVALID_DATA, ApplicationErrorType.INVALID_MESSAGE_TYPE)
    return mtype


def check_name(size: int, lim: Limits) -> None:
    if size < 0:
        raise negative("method name", size)
    if size > lim.max_name_size:
        raise too_large("method name", size, lim.max_name_size)


def bad_size(what: str, size: int, limit: int) -> RemoteProtocolError:
    """The error for a length that is negative, over ``limit``, or past the end of the message."""
    if size < 0:
        return negative(what, size)
    if size > limit:
        return too_large(what, size, limit)
    return truncated(what)


def check_count(buf: bytes, pos: int, count: int, min_size: int, lim: Limits) -> None:
    """Refuse a container count before looping: negative, over the limit, or more elements of at
    least ``min_size`` bytes each than ``buf[pos:]`` can hold."""
    if count < 0:
        raise negative("container", count)
    if count > lim.max_container_size:
        raise too_large("container", count, lim.max_container_size)
    if count * min_size > len(buf) - pos:
        raise truncated(f"container of {count} elements")


def encode_string(value: Value) -> bytes | bytearray | memoryview:
    """A STRING value's bytes: ``bytes`` as they are, ``str`` as UTF-8."""
    if type(value) is str:
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError("a string holds a lone surrogate: it has no UTF-8 form") from None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise LocalProtocolError(f"a STRING is bytes or str, not {type(value).__name__}")
    if len(value) > MAX_SIZE:
        raise LocalProtocolError(f"a string of {len(value)} bytes does not fit an i32 length")
    return value


def encode_name(name: str) -> bytes:
    if type(name) is not str:
        raise LocalProtocolError(f"a method name is a str, not {type(name).__name__}")
    return bytes(encode_string(name))


def check_bool(value: Value) -> bool:
    if value is True or value is False:
        return value
    raise LocalProtocolError(f"a BOOL is True or False, not {value!r}")


def check_uuid(value: Value) -> bytes:
    if type(value) is not UUID:
        raise LocalProtocolError(f"a UUID value is a uuid.UUID, not {type(value).__name__}")
    return value.bytes


def check_struct(value: Value, depth: int, lim: Limits) -> None:
    """Raise unless ``value`` is a struct that may sit at ``depth``."""
    if type(value) is not dict:
        kind = type(value).__name__
        raise LocalProtocolError(f"a struct is a dict of field id -> (type, value), not {kind}")
    if depth > lim.max_depth:
        raise too_deep_local(lim)


def check_container(value: Value, t: int, depth: int, lim: Limits) -> None:
    """Raise unless ``value`` is the container class for type ``t`` and may sit at ``depth + 1``."""
    cls = TMap if t == _MAP else TList if t == _LIST else TSet
    if type(value) is not cls:
        raise LocalProtocolError(f"a {TType(t).name} value is a {cls.__name__}, not {type(value).__name__}")
    if depth + 1 > lim.max_depth:
        raise too_deep_local(lim)


def check_elements(*types: int) -> None:
    """Raise unless every one of ``types`` is a value type (the type of a container's elements)."""
    for t in types:
        if not 0 <= t <= 0xFF or TTYPE_BY_ID[t] is None:
            raise LocalProtocolError(f"element type {t} is not a Thrift value type")


def too_deep_local(lim: Limits) -> LocalProtocolError:
    # Also what keeps a struct that contains itself from recursing until RecursionError.
    return LocalProtocolError(f"structs and containers nested deeper than {lim.max_depth}",
                              ProtocolErrorType.DEPTH_LIMIT)
