"""The error family: one base, two sides, a gRPC status and the trailers that report it."""

from __future__ import annotations

import pytest

from pipework.codec.protobuf import (
    LocalProtocolError,
    ProtobufError,
    RemoteProtocolError,
    StatusCode,
    decode_fields,
    encode_fields,
    encode_grpc_message,
    status_trailers,
)


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        ProtobufError("no side", StatusCode.INTERNAL)


def test_sides_and_default_statuses() -> None:
    remote = RemoteProtocolError("bad bytes")
    assert isinstance(remote, ProtobufError)
    assert (remote.status, str(remote)) == (StatusCode.INTERNAL, "bad bytes")
    local = LocalProtocolError("cannot send")
    assert isinstance(local, ProtobufError)
    assert local.status is StatusCode.INVALID_ARGUMENT
    assert RemoteProtocolError("big", StatusCode.RESOURCE_EXHAUSTED).status == 8
    assert repr(local) == "LocalProtocolError('cannot send', INVALID_ARGUMENT)"


def test_status_codes_are_grpcs() -> None:
    s = StatusCode
    codes = (s.OK, s.INVALID_ARGUMENT, s.RESOURCE_EXHAUSTED, s.UNIMPLEMENTED, s.INTERNAL, s.UNAUTHENTICATED)
    assert codes == (0, 3, 8, 12, 13, 16)
    assert len(StatusCode) == 17


def test_decoders_raise_remote_and_encoders_local() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_fields(b"\x08")
    with pytest.raises(LocalProtocolError):
        encode_fields([(0, 0, 1)])


def test_trailers() -> None:
    assert status_trailers(StatusCode.OK) == [(b"grpc-status", b"0")]
    error = RemoteProtocolError("message of 5 bytes is larger than the limit", StatusCode.RESOURCE_EXHAUSTED)
    assert error.trailers() == [(b"grpc-status", b"8"),
                                (b"grpc-message", b"message of 5 bytes is larger than the limit")]


@pytest.mark.parametrize(("text", "wire"), [
    ("plain text", b"plain text"),
    ("100% sure", b"100%25 sure"),  # '%' itself is encoded
    ("line\nbreak", b"line%0Abreak"),
    ("caf\u00e9", b"caf%C3%A9"),  # UTF-8, then percent-encoded
    ("\u2603", b"%E2%98%83"),
    ("~!$&", b"~!$&"),
])
def test_grpc_message_is_percent_encoded(text: str, wire: bytes) -> None:
    """PROTOCOL-HTTP2.md: Percent-Byte-Unencoded is %x20-%x24 / %x26-%x7E."""
    assert encode_grpc_message(text) == wire
