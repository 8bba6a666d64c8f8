"""The error family: one base, two sides, the reason and the header version."""

from __future__ import annotations

import pytest

from pipework.codec.proxy_protocol import (
    Command,
    LocalProtocolError,
    ProxyHeader,
    ProxyProtocolError,
    Reason,
    RemoteProtocolError,
    decode,
    encode,
)


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        ProxyProtocolError("no side", Reason.LINE)


def test_sides_reason_and_version() -> None:
    remote = RemoteProtocolError("bad", Reason.CHECKSUM, 2)
    assert isinstance(remote, ProxyProtocolError)
    assert (str(remote), remote.reason, remote.version) == ("bad", Reason.CHECKSUM, 2)
    assert "CHECKSUM" in repr(remote)
    local = LocalProtocolError("misuse", Reason.TLV)
    assert local.version is None


def test_decoder_raises_remote_and_encoder_raises_local() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode(b"SSH-2.0-OpenSSH\r\n")
    assert (info.value.reason, info.value.version) == (Reason.SIGNATURE, None)
    with pytest.raises(LocalProtocolError) as local:
        encode(ProxyHeader(Command.LOCAL, version=1))
    assert (local.value.reason, local.value.version) == (Reason.COMMAND, 1)
