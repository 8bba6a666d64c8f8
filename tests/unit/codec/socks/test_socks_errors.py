"""The error family: one base, two sides, the reply code and the version it belongs to."""

from __future__ import annotations

import pytest

from pipework.codec.socks import (
    Connection,
    Data,
    LocalProtocolError,
    RemoteProtocolError,
    ReplyCode,
    Role,
    SOCKSError,
    parse_request,
)


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        SOCKSError("no side")


def test_sides_and_codes() -> None:
    remote = RemoteProtocolError("bad", ReplyCode.COMMAND_NOT_SUPPORTED, 5)
    assert isinstance(remote, SOCKSError)
    assert (str(remote), remote.reply_code, remote.version) == ("bad", 7, 5)
    assert "reply_code=0x07" in repr(remote)
    local = LocalProtocolError("misuse")
    assert (local.reply_code, local.version) == (None, None)
    assert "reply_code=None" in repr(local)


def test_parser_raises_remote_and_misuse_raises_local() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(bytes.fromhex("05 04 00 01 00 00 00 00 00 00"), 0)
    assert info.value.reply_code == ReplyCode.COMMAND_NOT_SUPPORTED
    with pytest.raises(LocalProtocolError):
        Connection(Role.SERVER).send(Data(b"x"))  # no tunnel before the handshake
