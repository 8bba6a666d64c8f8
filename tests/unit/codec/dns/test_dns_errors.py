"""The error family: one base, two sides, an rcode and an optional prepared reply."""

from __future__ import annotations

import pytest

from pipework.codec.dns import DNSError, LocalProtocolError, Name, Rcode, RemoteProtocolError, decode


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        DNSError("no side")


def test_sides_and_rcode() -> None:
    remote = RemoteProtocolError("bad")
    assert isinstance(remote, DNSError)
    assert (remote.rcode, remote.reply, str(remote)) == (Rcode.FORMERR, None, "bad")
    local = LocalProtocolError("unsendable", Rcode.SERVFAIL)
    assert isinstance(local, DNSError)
    assert local.rcode == Rcode.SERVFAIL


def test_decode_raises_remote_and_text_raises_local() -> None:
    with pytest.raises(RemoteProtocolError):
        decode(b"\x00")
    with pytest.raises(LocalProtocolError):
        Name.from_text("a..b")


def test_name_from_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="from_text"):
        Name("www.example.com")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Name(b"www")  # type: ignore[arg-type]
