"""IP sets, access lists and X-Forwarded-For, checked against brute force with ``ipaddress``."""

from __future__ import annotations

import ipaddress
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.policy.cidr import AccessList, IpSet, client_address, parse_network

# -- strategies: networks of either family, addresses near them -------------------------------


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if draw(st.booleans()):
        plen = draw(st.integers(0, 32))
        n = draw(st.integers(0, 2**32 - 1))
        return ipaddress.IPv4Network((n >> (32 - plen) << (32 - plen), plen))
    plen = draw(st.integers(0, 128))
    n = draw(st.integers(0, 2**128 - 1))
    return ipaddress.IPv6Network((n >> (128 - plen) << (128 - plen), plen))


def _probes(nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[str]:
    """Addresses at and around every network's edges, where off-by-one mistakes live."""
    return [
        str(type(net.network_address)(n + d))
        for net in nets
        for n in (int(net.network_address), int(net.broadcast_address))
        for d in (-1, 0, 1)
        if 0 <= n + d < 2**net.max_prefixlen
    ]


# -- IpSet ---------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(nets=st.lists(networks(), max_size=12), extra=st.lists(st.integers(0, 2**32 - 1), max_size=5))
def test_ipset_agrees_with_brute_force(
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network], extra: list[int]
) -> None:
    # mapped networks (::ffff:0:0/96 and inside) are IPv4 by design; leave them to their own test
    nets = [
        n
        for n in nets
        if not (n.version == 6 and n.prefixlen >= 96 and n.subnet_of(ipaddress.IPv6Network("::ffff:0:0/96")))
    ]
    s = IpSet(str(n) for n in nets)
    for probe in [*_probes(nets), *(str(ipaddress.IPv4Address(x)) for x in extra)]:
        addr = ipaddress.ip_address(probe)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            continue
        expected = any(addr in n for n in nets if n.version == addr.version)
        assert (probe in s) is expected, probe
        assert (addr in s) is expected, probe


@given(nets=st.lists(networks(), max_size=12))
def test_ipset_ranges_are_merged_and_disjoint(
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    ranges = IpSet(nets).ranges()
    for (_, last), (first, _) in itertools.pairwise(ranges):
        if first.version == last.version:
            assert int(first) > int(last) + 1  # neither overlapping nor touching


def test_ipset_v4_v6_and_single_addresses() -> None:
    s = IpSet(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "fe80::1"])
    assert "10.255.255.255" in s
    assert "11.0.0.0" not in s
    assert "192.0.2.7" in s
    assert "192.0.2.8" not in s
    assert "2001:db8:1::1" in s
    assert "2001:db9::" not in s
    assert "fe80::1" in s
    assert ipaddress.IPv6Address("fe80::1") in s
    assert "fe80::1%eth0" in s  # a zone does not change the address
    assert "10.0.0.1" not in IpSet()
    assert not IpSet()
    assert IpSet(["::/0"])


def test_ipset_mapped_addresses_are_ipv4() -> None:
    s = IpSet(["10.0.0.0/8"])
    assert "::ffff:10.1.2.3" in s
    assert ipaddress.IPv6Address("::ffff:10.1.2.3") in s
    assert "::ffff:11.1.2.3" not in s
    assert "::10.1.2.3" not in s  # IPv4-compatible (deprecated) is not IPv4-mapped
    m = IpSet(["::ffff:192.168.0.0/112"])
    assert "192.168.5.5" in m
    assert "::ffff:192.168.5.5" in m
    assert m.ranges() == [(ipaddress.IPv4Address("192.168.0.0"), ipaddress.IPv4Address("192.168.255.255"))]
    assert parse_network("::ffff:1.2.3.4") == ipaddress.IPv4Network("1.2.3.4/32")
    assert parse_network("::/64").version == 6  # wider than the mapped block: stays IPv6


def test_ipset_accepts_ipaddress_objects_and_refuses_other_types() -> None:
    s = IpSet([ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv6Address("::1")])
    assert "::1" in s
    assert "10.9.9.9" in s
    with pytest.raises(TypeError):
        IpSet([42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _ = 167772161 in s
    with pytest.raises(ValueError, match="does not appear"):
        _ = "10.0.0.256" in s


def test_ipset_from_text_comments_and_blank_lines() -> None:
    s = IpSet.from_text("# office\n10.0.0.0/8   # LAN\n\n   \n2001:db8::/32\n192.0.2.1\n")
    assert s.networks == (
        ipaddress.IPv4Network("10.0.0.0/8"),
        ipaddress.IPv6Network("2001:db8::/32"),
        ipaddress.IPv4Network("192.0.2.1/32"),
    )


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "10.0.0.0/8\n10.0.0.1/8\n",
            2,
            r"'10\.0\.0\.1/8' has host bits set \(the network would be 10\.0\.0\.0/8\)",
        ),
        ("# a\n10.0.0.0/33\n", 2, r"'10\.0\.0\.0/33' is not .*'33' is not a valid netmask"),
        ("10.0.0.300\n", 1, r"Octet 300 \(> 255\) not permitted"),
        ("\n\n2001:db8::/129\n", 3, r"'129' is not a valid netmask"),
        ("2001:db8:::1\n", 1, r"'2001:db8:::1' is not an IPv4 or IPv6"),
        ("10.0.0.0/8 10.1.0.0/16\n", 1, r"one address or network per line"),
        ("example.com\n", 1, r"'example\.com' is not"),
        ("010.0.0.1\n", 1, r"Leading zeros are not permitted"),  # octal or decimal? refuse
        ("fe80::/10\n::1/64\n", 2, r"host bits set"),
    ],
)
def test_ipset_from_file_reports_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "deny.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"^{path}:{line}: .*{reason}"):
        IpSet.from_file(path)


def test_ipset_from_file_reads_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "allow.txt"
    path.write_text("10.0.0.0/8\n::1\n")
    s = IpSet.from_file(str(path))
    assert "10.1.1.1" in s
    assert "::1" in s
    with pytest.raises(FileNotFoundError):
        IpSet.from_file(tmp_path / "missing.txt")


# -- AccessList ----------------------------------------------------------------------------------


def _reference_verdict(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    deny: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    default: bool,
) -> bool:
    """Longest prefix wins; deny wins a tie; else the default."""
    matches = [(n.prefixlen, 0) for n in allow if n.version == addr.version and addr in n]
    matches += [(n.prefixlen, 1) for n in deny if n.version == addr.version and addr in n]
    if not matches:
        return default
    return max(matches)[1] == 0  # longest prefix; at equal prefixes deny (1) is the max


@settings(max_examples=300)
@given(
    allow=st.lists(networks(), max_size=8),
    deny=st.lists(networks(), max_size=8),
    default=st.sampled_from(["allow", "deny"]),
)
def test_access_list_agrees_with_longest_prefix_reference(
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    deny: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    default: str,
) -> None:
    def not_mapped(n: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        return not (
            n.version == 6 and n.prefixlen >= 96 and n.subnet_of(ipaddress.IPv6Network("::ffff:0:0/96"))
        )

    allow = [n for n in allow if not_mapped(n)]
    deny = [n for n in deny if not_mapped(n)]
    acl = AccessList(allow=allow, deny=deny, default=default)  # type: ignore[arg-type]
    for probe in [*_probes(allow + deny), "0.0.0.0", "255.255.255.255", "::", "ffff::"]:
        addr = ipaddress.ip_address(probe)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            continue
        assert acl.allows(probe) is _reference_verdict(addr, allow, deny, default == "allow"), probe


def test_access_list_nginx_idioms() -> None:
    # nginx: deny 192.168.1.1; allow 192.168.1.0/24; allow 10.1.1.0/16; allow 2001:0db8::/32; deny all;
    acl = AccessList(
        allow=["192.168.1.0/24", "10.1.0.0/16", "2001:db8::/32"], deny=["192.168.1.1"], default="deny"
    )
    assert not acl.allows("192.168.1.1")
    assert acl.allows("192.168.1.2")
    assert acl.allows("10.1.200.3")
    assert acl.allows("2001:db8::1")
    assert acl.allows("::ffff:192.168.1.2")
    assert not acl.allows("::ffff:192.168.1.1")
    assert not acl.allows("8.8.8.8")
    # nginx would never reach `deny 10.6.6.6` after `allow 10.0.0.0/8`; the narrower rule applies here
    acl = AccessList(allow=["10.0.0.0/8"], deny=["10.6.6.6"], default="allow")
    assert not acl.allows("10.6.6.6")
    assert acl.allows("10.6.6.7")
    assert acl.allows("11.0.0.0")


def test_access_list_ties_nesting_and_defaults() -> None:
    acl = AccessList(allow=["10.0.0.0/8", "10.1.1.0/24"], deny=["10.1.0.0/16", "10.0.0.0/8"])
    assert not acl.allows("10.2.0.0")  # 10/8 both allowed and denied: deny wins the tie
    assert not acl.allows("10.1.0.9")  # /16 deny inside the /8
    assert acl.allows("10.1.1.9")  # /24 allow inside the /16
    assert not acl.allows("10.1.2.0")  # back to the /16 after the /24 ends
    assert not acl.allows("1.1.1.1")  # default deny
    assert AccessList(default="allow").allows("1.1.1.1")
    assert not AccessList(default="deny").allows("::1")
    assert not AccessList(default="allow").allows("not an address")  # fails closed
    assert AccessList(allow=IpSet(["0.0.0.0/0"]), deny=IpSet(["::/0"]), default="deny").allows("1.2.3.4")
    with pytest.raises(ValueError, match="'allow' or 'deny'"):
        AccessList(default="maybe")  # type: ignore[arg-type]


# -- X-Forwarded-For -----------------------------------------------------------------------------

TRUSTED = IpSet(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("203.0.113.9", ["1.1.1.1"], "203.0.113.9"),  # untrusted peer: its header is ignored
        ("10.0.0.1", [], "10.0.0.1"),  # trusted, no header
        ("10.0.0.1", ["1.1.1.1"], "1.1.1.1"),
        ("10.0.0.1", ["6.6.6.6, 1.1.1.1, 10.0.0.2"], "1.1.1.1"),  # the spoofed 6.6.6.6 is never reached
        ("10.0.0.1", ["6.6.6.6, 1.1.1.1", "10.0.0.3, 10.0.0.2"], "1.1.1.1"),  # headers joined in order
        ("10.0.0.1", ["10.0.0.9, 10.0.0.2"], "10.0.0.9"),  # all trusted: the leftmost
        ("10.0.0.1", ["1.1.1.1,,  ,10.0.0.2, "], "1.1.1.1"),  # empty elements are skipped
        ("10.0.0.1", ["1.1.1.1, unknown, 10.0.0.2"], "10.0.0.2"),  # garbage stops at the last good hop
        ("10.0.0.1", ["garbage"], "10.0.0.1"),
        ("10.0.0.1", ["1.1.1.1, 10.0.0.300"], "10.0.0.1"),
        ("10.0.0.1", ["1.1.1.1:4711"], "1.1.1.1"),  # ports are dropped
        ("10.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("10.0.0.1", ["[2001:db8::1]"], "2001:db8::1"),
        ("10.0.0.1", ["[2001:db8::1]x"], "10.0.0.1"),
        ("10.0.0.1", ["[2001:db8::1"], "10.0.0.1"),
        ("10.0.0.1", ["1.1.1.1:http"], "10.0.0.1"),
        ("10.0.0.1", ["1.1.1.1:١٢"], "10.0.0.1"),  # non-ASCII digits are not a port
        ("::ffff:10.0.0.1", ["::ffff:1.1.1.1"], "1.1.1.1"),  # mapped peer and element: IPv4
        ("fd00::1", ["2001:db8::7, fd00::2"], "2001:db8::7"),
        ("10.0.0.1", ["2001:db8::7, fd12::1"], "2001:db8::7"),
    ],
)
def test_client_address(peer: str, xff: list[str], client: str) -> None:
    assert client_address(peer, xff, TRUSTED) == client


def test_client_address_untrusted_peer_is_canonical_and_malformed_peer_raises() -> None:
    assert client_address(ipaddress.IPv6Address("::ffff:8.8.8.8"), ["1.1.1.1"], TRUSTED) == "8.8.8.8"
    assert client_address("2001:DB8:0::1", [], TRUSTED) == "2001:db8::1"
    with pytest.raises(ValueError, match="does not appear"):
        client_address("nonsense", [], TRUSTED)


@given(st.lists(st.text(max_size=20), max_size=4))
def test_client_address_never_returns_garbage(xff: list[str]) -> None:
    result = client_address("10.0.0.1", xff, TRUSTED)
    ipaddress.ip_address(result)  # always an address


def test_an_access_list_remembers_verdicts_within_a_bound() -> None:
    import pipework.policy.cidr as cidr

    rules = AccessList(allow=["10.0.0.0/8"], deny=["10.1.0.0/16"])
    for _ in range(2):  # the second time from what it remembers: the same answers
        assert rules.allows("10.2.3.4")
        assert not rules.allows("10.1.2.3")
        assert not rules.allows("192.0.2.1")
        assert not rules.allows("not an address")
    for i in range(cidr._SEEN + 10):
        rules.allows(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(rules._seen) <= cidr._SEEN
    assert not rules.allows("10.1.0.1")


def test_the_client_of_a_request() -> None:
    from pipework.policy.cidr import request_client

    proxies = IpSet(["127.0.0.0/8"])
    xff = [(b"X-Forwarded-For", b"203.0.113.7, 127.0.0.2")]
    assert request_client("127.0.0.1", xff, proxies) == "203.0.113.7"
    assert request_client("198.51.100.1", xff, proxies) == "198.51.100.1"  # not a trusted proxy
    assert request_client("127.0.0.1", xff, None) == "127.0.0.1"
    assert request_client("/run/app.sock", xff, proxies) == "/run/app.sock"
