"""The stub resolver against a real DNS server (dnspython, tests/dns_server.py), under both loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from dns_server import DnsServer, SilentServer
from helpers import free_port

from pipework.net import run
from pipework.net.resolver import (
    DEFAULT_NEGATIVE_TTL,
    FALLBACK_SERVERS,
    Answer,
    ResolveError,
    SrvRecord,
    resolve,
    system_servers,
)

TWO = ["192.0.2.1", "192.0.2.2"]  # a.test's addresses; dnspython sends an RRset in any order


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer() as s:
        s.set("www.test", "CNAME", 120, "web.test.")
        s.set("web.test", "CNAME", 90, "a.test.")
        s.set("a.test", "A", 300, "192.0.2.1", "192.0.2.2")
        s.set("a.test", "AAAA", 200, "2001:db8::1")
        s.set("_http._tcp.test", "SRV", 100, "10 60 8080 a.test.", "20 40 8081 b.test.", "30 0 0 .")
        s.set("b.test", "A", 50, "192.0.2.9")
        yield s


def ask(kind: str, coro: Coroutine[Any, Any, Any]) -> Any:
    return run(coro, kind)


def test_a_records_with_their_ttl(server: DnsServer, loop_kind: str) -> None:
    got = ask(loop_kind, resolve("a.test", servers=[server.address]))
    assert isinstance(got, Answer)
    assert (sorted(got.records), got.ttl, got.rcode, got.name, got.additional) == (TWO, 300, 0, "a.test", {})
    assert server.queries == [("udp", "a.test.", "A")]


def test_aaaa(server: DnsServer, loop_kind: str) -> None:
    got = ask(loop_kind, resolve("a.test.", "AAAA", servers=[server.address]))
    assert (got.records, got.ttl) == (["2001:db8::1"], 200)


def test_cname_chain_is_followed_and_bounds_the_ttl(server: DnsServer, loop_kind: str) -> None:
    got = ask(loop_kind, resolve("WWW.test", servers=[server.address]))
    assert sorted(got.records) == TWO
    assert got.name == "a.test"
    assert got.ttl == 90  # web.test's CNAME expires first


def test_srv_with_addresses_from_the_additional_section(server: DnsServer, loop_kind: str) -> None:
    got = ask(loop_kind, resolve("_http._tcp.test", "srv", servers=[server.address]))
    # the third record's target is ".": no such service there, left out
    assert sorted(got.records) == [SrvRecord(10, 60, 8080, "a.test"), SrvRecord(20, 40, 8081, "b.test")]
    assert {k: sorted(v) for k, v in got.additional.items()} == {
        "a.test": ["192.0.2.1", "192.0.2.2", "2001:db8::1"],
        "b.test": ["192.0.2.9"],
    }
    assert got.ttl == 50  # b.test's A record, used from the additional section
    assert got.rcode == 0


def test_nxdomain_and_no_data_carry_the_negative_ttl(server: DnsServer, loop_kind: str) -> None:
    got = ask(loop_kind, resolve("nope.test", servers=[server.address]))
    assert (got.records, got.rcode, got.ttl) == ([], 3, 60)  # min(SOA TTL 300, MINIMUM 60)
    server.soa = (20, "ns.test. hostmaster.test. 1 3600 600 86400 60")
    got = ask(loop_kind, resolve("b.test", "AAAA", servers=[server.address]))
    assert (got.records, got.rcode, got.ttl) == ([], 0, 20)
    got = ask(loop_kind, resolve("www.test", "SRV", servers=[server.address]))
    assert (got.records, got.name, got.ttl) == ([], "a.test", 20)


def test_no_soa_means_the_default_negative_ttl(server: DnsServer, loop_kind: str) -> None:
    server.set("lame.test", "SRV", 100, "0 0 0 .")
    got = ask(loop_kind, resolve("lame.test", "SRV", servers=[server.address]))
    assert (got.records, got.ttl) == ([], DEFAULT_NEGATIVE_TTL)


def test_changes_are_seen_by_the_next_query(server: DnsServer, loop_kind: str) -> None:
    async def main() -> list[Answer[str]]:
        first = await resolve("a.test", servers=[server.address])
        server.set("a.test", "A", 5, "192.0.2.7")
        second = await resolve("a.test", servers=[server.address])
        del server.zone[("a.test.", "A")]
        third = await resolve("a.test", servers=[server.address])
        return [first, second, third]

    first, second, third = ask(loop_kind, main())
    assert (sorted(first.records), first.ttl) == (TWO, 300)
    assert (second.records, second.ttl) == (["192.0.2.7"], 5)
    assert (third.records, third.rcode, third.ttl) == ([], 0, 60)


@pytest.mark.parametrize("how", ["servfail", "refused"])
def test_server_failures_raise_after_every_attempt(server: DnsServer, loop_kind: str, how: str) -> None:
    server.behaviour["a.test."] = how
    with pytest.raises(ResolveError, match=how.upper()) as info:
        ask(loop_kind, resolve("a.test", servers=[server.address], attempts=3))
    assert info.value.server == server.address
    assert str(server.port) in str(info.value)
    assert len(server.queries) == 3


def test_the_next_server_answers_when_the_first_fails(loop_kind: str) -> None:
    with DnsServer() as bad, DnsServer() as good:
        bad.behaviour["a.test."] = "servfail"
        good.set("a.test", "A", 30, "192.0.2.5")
        got = ask(loop_kind, resolve("a.test", servers=[bad.address, good.address], attempts=1))
    assert got.records == ["192.0.2.5"]


def test_truncated_udp_reply_is_asked_again_over_tcp(server: DnsServer, loop_kind: str) -> None:
    server.behaviour["a.test."] = "truncate"
    got = ask(loop_kind, resolve("a.test", servers=[server.address]))
    assert sorted(got.records) == TWO
    assert server.queries == [("udp", "a.test.", "A"), ("tcp", "a.test.", "A")]


def test_silent_server_times_out_each_attempt(loop_kind: str) -> None:
    silent = SilentServer()
    try:
        start = time.monotonic()
        with pytest.raises(ResolveError, match=r"no answer over UDP within 0\.2 s") as info:
            ask(loop_kind, resolve("a.test", servers=[silent.address], timeout=0.2, attempts=2))
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert info.value.server == silent.address
    assert 0.4 <= elapsed < 2.0


def test_a_silent_first_server_falls_over_to_the_next(server: DnsServer, loop_kind: str) -> None:
    silent = SilentServer()
    try:
        got = ask(loop_kind, resolve("a.test", servers=[silent.address, server.address], timeout=0.2))
    finally:
        silent.close()
    assert sorted(got.records) == TWO


def test_a_closed_port_fails_fast(server: DnsServer, loop_kind: str) -> None:
    closed = ("127.0.0.1", free_port(kind=2))  # SOCK_DGRAM: nothing listens there
    start = time.monotonic()
    got = ask(loop_kind, resolve("a.test", servers=[closed, server.address], timeout=3))
    assert sorted(got.records) == TWO
    assert time.monotonic() - start < 2.5  # the ICMP error ended the first try, not the timeout


def test_forged_and_mismatched_datagrams_are_ignored(server: DnsServer, loop_kind: str) -> None:
    server.behaviour["a.test."] = "spoof"
    got = ask(loop_kind, resolve("a.test", servers=[server.address]))
    assert sorted(got.records) == TWO
    assert len(server.queries) == 1


def test_malformed_reply_is_an_error(server: DnsServer, loop_kind: str) -> None:
    server.behaviour["a.test."] = "garbage"
    with pytest.raises(ResolveError, match="malformed reply"):
        ask(loop_kind, resolve("a.test", servers=[server.address], attempts=1))


def test_a_cname_loop_is_an_error(server: DnsServer, loop_kind: str) -> None:
    server.set("x.test", "CNAME", 60, "y.test.")
    server.set("y.test", "CNAME", 60, "x.test.")
    with pytest.raises(ResolveError, match="CNAME chain"):
        ask(loop_kind, resolve("x.test", servers=[server.address], attempts=1))


def test_an_ipv6_server(loop_kind: str) -> None:
    try:
        v6 = DnsServer("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with v6:
        v6.set("six.test", "AAAA", 40, "2001:db8::6")
        got = ask(loop_kind, resolve("six.test", "AAAA", servers=[v6.address]))
        v6.behaviour["six.test."] = "truncate"
        again = ask(loop_kind, resolve("six.test", "AAAA", servers=[v6.address]))
    assert got.records == again.records == ["2001:db8::6"]
    assert got.ttl == 40


def test_concurrent_calls_each_get_their_own_reply(server: DnsServer, loop_kind: str) -> None:
    async def main() -> list[Answer[str]]:
        return list(await asyncio.gather(*(resolve("a.test", servers=[server.address]) for _ in range(5))))

    assert all(sorted(a.records) == TWO for a in ask(loop_kind, main()))
    assert len(server.queries) == 5


def test_system_servers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.com\nnameserver 10.0.0.1\nnameserver  ::1 \noptions ndots:2\n")
    assert system_servers(str(conf)) == [("10.0.0.1", 53), ("::1", 53)]
    conf.write_text("search example.com\n")
    assert system_servers(str(conf)) == list(FALLBACK_SERVERS) == [("127.0.0.1", 53)]
    assert system_servers(str(tmp_path / "missing")) == [("127.0.0.1", 53)]


@pytest.mark.parametrize(
    ("args", "kw"),
    [
        (("a.test", "MX"), {}),
        (("a..test",), {}),
        (("a.test",), {"attempts": 0}),
        (("a.test",), {"timeout": 0}),
        (("a.test",), {"servers": []}),
    ],
)
def test_bad_arguments(args: tuple[str, ...], kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="resolve"):
        asyncio.run(resolve(*args, **kw))
