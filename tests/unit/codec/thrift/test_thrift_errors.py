"""The error family, its wire meanings, and the TApplicationException struct."""

from __future__ import annotations

import pytest

from pipework.codec.thrift import (
    ApplicationErrorType,
    ApplicationException,
    LocalProtocolError,
    Message,
    MessageType,
    Protocol,
    ProtocolErrorType,
    RemoteProtocolError,
    Struct,
    ThriftError,
    TType,
    decode_message,
    encode_message,
    exception_message,
)


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        ThriftError("no side")


def test_sides_and_wire_meanings() -> None:
    remote = RemoteProtocolError("bad")
    assert isinstance(remote, ThriftError)
    assert (remote.protocol_type, remote.application_type, remote.reply) == (
        ProtocolErrorType.INVALID_DATA, ApplicationErrorType.PROTOCOL_ERROR, None)
    assert repr(remote) == "RemoteProtocolError('bad', INVALID_DATA)"
    local = LocalProtocolError("deep", ProtocolErrorType.DEPTH_LIMIT, ApplicationErrorType.INTERNAL_ERROR)
    assert isinstance(local, ThriftError)
    assert (local.protocol_type, local.application_type) == (
        ProtocolErrorType.DEPTH_LIMIT, ApplicationErrorType.INTERNAL_ERROR)


def test_type_tables_match_the_thrift_libraries() -> None:
    assert [int(t) for t in ProtocolErrorType] == list(range(7))
    assert [int(t) for t in ApplicationErrorType] == list(range(11))
    assert int(ApplicationErrorType.PROTOCOL_ERROR) == 7
    assert int(ProtocolErrorType.DEPTH_LIMIT) == 6


@pytest.mark.parametrize("protocol", [Protocol.BINARY, Protocol.COMPACT])
def test_application_exception_round_trip(protocol: Protocol) -> None:
    message = exception_message("getUser", 12, ApplicationErrorType.UNKNOWN_METHOD, "no such method")
    assert message.type is MessageType.EXCEPTION
    assert message.body == {1: (TType.STRING, b"no such method"), 2: (TType.I32, 1)}
    decoded = decode_message(encode_message(message, protocol), protocol)
    exc = ApplicationException.from_message(decoded)
    assert exc == ApplicationException(ApplicationErrorType.UNKNOWN_METHOD, "no such method")


def test_application_exception_is_read_leniently() -> None:
    assert ApplicationException.from_struct({}) == ApplicationException(ApplicationErrorType.UNKNOWN, None)
    odd: Struct = {1: (TType.I32, 5), 2: (TType.STRING, b"x"), 9: (TType.BOOL, True)}
    assert ApplicationException.from_struct(odd) == ApplicationException()  # wrong types are skipped
    unknown = ApplicationException.from_struct({2: (TType.I32, 99), 1: (TType.STRING, b"\xff")})
    assert unknown.type == 99
    assert unknown.message is not None
    assert unknown.to_struct() == {1: (TType.STRING, b"\xff"), 2: (TType.I32, 99)}  # bytes survive
    assert ApplicationException(ApplicationErrorType.INTERNAL_ERROR).to_struct() == {2: (TType.I32, 6)}


def test_from_message_needs_an_exception() -> None:
    with pytest.raises(LocalProtocolError):
        ApplicationException.from_message(Message("m", MessageType.REPLY, 1, {}))
