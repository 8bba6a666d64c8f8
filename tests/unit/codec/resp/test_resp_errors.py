"""The error family: one base, two sides, the Redis error text and the reply that carries it."""

from __future__ import annotations

import pytest

from pipework.codec.resp import (
    LocalProtocolError,
    RemoteProtocolError,
    RESPError,
    SimpleString,
    decode,
    encode,
)


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        RESPError("no side")


def test_sides_error_text_and_reply() -> None:
    remote = RemoteProtocolError("bad length", "Protocol error: invalid bulk length")
    assert isinstance(remote, RESPError)
    assert str(remote) == "bad length"
    assert remote.error == "ERR Protocol error: invalid bulk length"
    assert remote.reply == b"-ERR Protocol error: invalid bulk length\r\n"
    assert "invalid bulk length" in repr(remote)
    local = LocalProtocolError("unsendable")
    assert isinstance(local, RESPError)
    assert local.error == "ERR Protocol error"


def test_reply_parses_as_the_error_it_names() -> None:
    exc = RemoteProtocolError("x", "Protocol error: expected '$', got ':'")
    result = decode(exc.reply)
    assert result is not None
    assert result[0].value == exc.error.encode()  # type: ignore[union-attr]


def test_decoder_raises_remote_and_encoder_raises_local() -> None:
    with pytest.raises(RemoteProtocolError):
        decode(b"+a\nb\r\n")
    with pytest.raises(LocalProtocolError):
        encode(SimpleString(b"a\nb"))
