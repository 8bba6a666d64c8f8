"""Address parsing and source address pools."""

from __future__ import annotations

import socket

import pytest

from pipework.net import SourcePool, split_address
from pipework.net.source_pool import MAX_POOL_SIZE, parse_addresses


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        (8080, ("0.0.0.0", 8080)),
        ("8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:443", ("::1", 443)),
        ("example.com:53", ("example.com", 53)),
        ("0", ("0.0.0.0", 0)),
    ],
)
def test_split_address(spec: str | int, want: tuple[str, int]) -> None:
    assert split_address(spec) == want


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("nonsense", "expected host:port"),
        ("::1:80", "write IPv6 addresses as"),
        ("[::1]80", r"expected \[IPv6\]:port"),
        ("host:99999", "from 0 to 65535"),
        ("host:http", "from 0 to 65535"),
        (True, "bad address"),
    ],
)
def test_split_address_errors(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        split_address(spec)


def test_pool_specs() -> None:
    assert parse_addresses("127.0.0.2-127.0.0.4") == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert parse_addresses("10.0.0.0/30") == ["10.0.0.1", "10.0.0.2"]
    assert parse_addresses("10.0.0.1, ::1") == ["10.0.0.1", "::1"]
    assert parse_addresses(["192.0.2.1"]) == ["192.0.2.1"]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("127.0.0.9-127.0.0.2", "must come first"),
        ("127.0.0.1-::1", "must come first"),
        ("10.0.0.0/8", f"over {MAX_POOL_SIZE}"),
        ("", "at least one address"),
        ("not-an-ip", "does not appear to be"),
    ],
)
def test_pool_spec_errors(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_addresses(spec)


def test_pool_prefers_least_used_and_rotates_among_equals() -> None:
    pool = SourcePool("127.0.0.2-127.0.0.4")
    firsts = [pool.candidates(socket.AF_INET)[0] for _ in range(3)]
    assert sorted(firsts) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    pool.acquire("127.0.0.2")
    pool.acquire("127.0.0.3")
    assert pool.candidates(socket.AF_INET)[0] == "127.0.0.4"
    pool.release("127.0.0.2")
    assert pool.candidates(socket.AF_INET)[:2] in (["127.0.0.2", "127.0.0.4"], ["127.0.0.4", "127.0.0.2"])
    assert pool.candidates(socket.AF_INET6) == []
