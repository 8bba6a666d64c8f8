"""IP address sets by CIDR, allow/deny lists and the trusted-proxy rule for X-Forwarded-For.

Theory of operation: every entry (``"10.0.0.0/8"``, ``"2001:db8::/32"``, ``"192.0.2.7"``) is a
range of integers ``[first, last]`` in its family's address space. An :class:`IpSet` sorts the
ranges of each family, merges those that overlap or touch, and keeps the starts and ends in two
lists; a lookup is one ``bisect`` on the starts and one comparison with the end, so it costs
O(log n) whatever the size of the list (no linear scan). IPv4-mapped IPv6 addresses
(``::ffff:1.2.3.4``), in entries and in lookups, are their IPv4 address: a dual-stack socket
reports IPv4 peers that way.

An :class:`AccessList` paints allow and deny networks onto the address line, the most specific
network winning, and keeps the result as sorted boundaries with a verdict per segment: again one
``bisect`` per lookup.

Pure code: no I/O except :meth:`IpSet.from_file`, which reads the file it is given once, at load
time (a reload builds a new set and swaps it in).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Entry: TypeAlias = str | Address | Network

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def parse_network(text: str) -> Network:
    """One entry, an address or a CIDR network, as a network (IPv4-mapped IPv6 become IPv4).

    Raises ValueError with the reason: not an address, prefix out of range, or host bits set
    (``10.0.0.1/8``: nginx only warns that "low address bits are meaningless"; here it is an
    error, because it is more often a typo than an intent).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty entry")
    net: Network
    try:
        net = ipaddress.IPv6Network(text) if ":" in text else ipaddress.IPv4Network(text)
    except ValueError as e:
        if "host bits set" in str(e):
            fixed = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"{text!r} has host bits set (the network would be {fixed})") from None
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address or CIDR network: {e}") from None
    return _unmap_network(net)


def parse_address(value: str | Address) -> Address:
    """An address as an ``ipaddress`` object, IPv4-mapped IPv6 as IPv4; ValueError if malformed."""
    addr = ipaddress.ip_address(value) if isinstance(value, str) else value
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _unmap_network(net: Network) -> Network:
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        first = ipaddress.IPv4Address(int(net.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network((first, net.prefixlen - 96))
    return net


def _to_network(entry: Entry) -> Network:
    if isinstance(entry, str):
        return parse_network(entry)
    if isinstance(entry, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return _unmap_network(ipaddress.ip_network(entry))
    if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return _unmap_network(entry)
    raise TypeError(f"an IP set entry is a str, an address or a network, not {type(entry).__name__}")


def _span(net: Network) -> tuple[int, int]:
    """First and last address as integers (``broadcast_address`` is 3x slower to build)."""
    first = int(net.network_address)
    return first, first | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


def _parse_lines(lines: Iterable[str], source: str) -> list[Network]:
    nets = []
    for lineno, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text.split()) > 1:
            raise ValueError(f"{source}:{lineno}: one address or network per line, not {text!r}")
        try:
            nets.append(parse_network(text))
        except ValueError as e:
            raise ValueError(f"{source}:{lineno}: {e}") from None
    return nets


class _Ranges:
    """Disjoint, non-adjacent integer ranges of one address family, sorted."""

    __slots__ = ("ends", "starts")

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        ranges.sort()
        starts: list[int] = []
        ends: list[int] = []
        for first, last in ranges:
            if ends and first <= ends[-1] + 1:  # overlaps or touches the previous one: merge
                if last > ends[-1]:
                    ends[-1] = last
            else:
                starts.append(first)
                ends.append(last)
        self.starts = starts
        self.ends = ends

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self.starts, n) - 1
        return i >= 0 and n <= self.ends[i]


class IpSet:
    """A set of IPv4 and IPv6 addresses given as addresses and CIDR networks.

    ``IpSet(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])``; then ``"10.1.2.3" in ipset``, with a
    str or an ``ipaddress`` address (a malformed str raises ValueError). Lookups are O(log n).
    """

    __slots__ = ("_v4", "_v6", "networks")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        nets = [_to_network(e) for e in entries]
        #: the entries as given (normalised, in order); AccessList needs their prefixes
        self.networks: tuple[Network, ...] = tuple(nets)
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for net in nets:
            (v4 if net.version == 4 else v6).append(_span(net))
        self._v4 = _Ranges(v4)
        self._v6 = _Ranges(v6)

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str = "<lines>") -> IpSet:
        """One entry per line; ``#`` starts a comment; blank lines are skipped.

        Raises ValueError ``"source:line: reason"`` for the first bad entry.
        """
        return cls(_parse_lines(lines, source))

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> IpSet:
        return cls.from_lines(text.splitlines(), source)

    @classmethod
    def from_file(cls, path: str | Path) -> IpSet:
        """Read a list file (see :meth:`from_lines`); errors name the file and the line.

        OSError if the file cannot be read; ValueError ``"path:line: reason"`` for a bad entry.
        """
        with open(path, encoding="utf-8") as f:
            return cls.from_lines(f, str(path))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str | ipaddress.IPv4Address | ipaddress.IPv6Address):
            addr = parse_address(item)
        else:
            raise TypeError(f"an address is a str or an ipaddress address, not {type(item).__name__}")
        return int(addr) in (self._v4 if addr.version == 4 else self._v6)

    def __bool__(self) -> bool:
        return bool(self._v4.starts or self._v6.starts)

    def ranges(self) -> list[tuple[Address, Address]]:
        """The merged ranges, first and last address of each, IPv4 before IPv6."""
        out: list[tuple[Address, Address]] = [
            (ipaddress.IPv4Address(a), ipaddress.IPv4Address(b))
            for a, b in zip(self._v4.starts, self._v4.ends, strict=True)
        ]
        out += [
            (ipaddress.IPv6Address(a), ipaddress.IPv6Address(b))
            for a, b in zip(self._v6.starts, self._v6.ends, strict=True)
        ]
        return out

    def __repr__(self) -> str:
        return (
            f"<IpSet {len(self.networks)} entries, "
            f"{len(self._v4.starts)} IPv4 and {len(self._v6.starts)} IPv6 ranges>"
        )


class _Verdicts:
    """Piecewise-constant verdict over one family's address line: ``verdicts[i]`` holds from
    ``bounds[i]`` up to ``bounds[i+1]``; None where no network covers the address."""

    __slots__ = ("bounds", "verdicts")

    def __init__(self, rules: list[tuple[int, int, bool]]) -> None:
        # CIDR networks are laminar (two are nested or disjoint), so sorting by (start, size
        # descending) gives each network after all those that contain it, and a stack of the open
        # ones says what holds after one ends. At equal networks, deny (False) sorts first and
        # the later, equal allow is dropped: deny wins a tie.
        rules.sort(key=lambda r: (r[0], -r[1], r[2]))
        self.bounds: list[int] = [0]
        self.verdicts: list[bool | None] = [None]
        stack: list[tuple[int, bool]] = []  # (end, exclusive; verdict) of the open networks
        last: tuple[int, int] | None = None
        for start, end, verdict in rules:
            if (start, end) == last:
                continue
            last = (start, end)
            while stack and stack[-1][0] <= start:
                stop, _ = stack.pop()
                self._paint(stop, stack[-1][1] if stack else None)
            self._paint(start, verdict)
            stack.append((end, verdict))
        while stack:
            stop, _ = stack.pop()
            self._paint(stop, stack[-1][1] if stack else None)

    def _paint(self, at: int, verdict: bool | None) -> None:
        bounds, verdicts = self.bounds, self.verdicts
        if bounds[-1] == at:
            verdicts[-1] = verdict
            if len(verdicts) > 1 and verdicts[-2] == verdict:
                bounds.pop()
                verdicts.pop()
        elif verdicts[-1] != verdict:
            bounds.append(at)
            verdicts.append(verdict)

    def lookup(self, n: int) -> bool | None:
        return self.verdicts[bisect_right(self.bounds, n) - 1]


class AccessList:
    """Allow and deny networks with a default, answering ``allows(address)`` in O(log n).

    The rule: **the most specific network that contains the address decides** (longest prefix
    match, as routers do); when the same network is both allowed and denied, deny wins; when
    none contains the address, ``default`` decides.

    nginx's ``allow``/``deny`` are checked in the order written and the first match wins. Written
    the usual way, specific rules first (``deny 192.168.1.1; allow 192.168.1.0/24; deny all;``),
    both rules give the same answers: that is ``AccessList(allow=["192.168.1.0/24"],
    deny=["192.168.1.1"], default="deny")``. They differ only where nginx lets an earlier, broader
    rule shadow a later, narrower one (``allow 10.0.0.0/8; deny 10.6.6.6;`` never denies
    10.6.6.6 in nginx); here the narrower rule applies, so the order of the lists never matters.
    nginx's ``allow all``/``deny all`` is ``default``.
    """

    __slots__ = ("_default", "_seen", "_v4", "_v6")

    def __init__(
        self,
        allow: IpSet | Iterable[Entry] = (),
        deny: IpSet | Iterable[Entry] = (),
        default: Literal["allow", "deny"] = "deny",
    ) -> None:
        if default not in ("allow", "deny"):
            raise ValueError(f"default is 'allow' or 'deny', not {default!r}")
        self._default = default == "allow"
        allow_set = allow if isinstance(allow, IpSet) else IpSet(allow)
        deny_set = deny if isinstance(deny, IpSet) else IpSet(deny)
        v4: list[tuple[int, int, bool]] = []
        v6: list[tuple[int, int, bool]] = []
        for nets, verdict in ((allow_set.networks, True), (deny_set.networks, False)):
            for net in nets:
                first, last = _span(net)
                (v4 if net.version == 4 else v6).append((first, last + 1, verdict))
        self._v4 = _Verdicts(v4)
        self._v6 = _Verdicts(v6)
        #: verdicts by address text: the same clients come again and again, and parsing an
        #: address costs ten times a lookup; emptied when full, so it stays small
        self._seen: dict[str, bool] = {}

    def allows(self, address: str | Address) -> bool:
        """True if ``address`` may pass. A malformed address is refused (fails closed)."""
        if isinstance(address, str):
            seen = self._seen
            verdict = seen.get(address)
            if verdict is None:
                if len(seen) >= _SEEN:
                    seen.clear()
                verdict = seen[address] = self._allows(address)
            return verdict
        return self._allows(address)

    def _allows(self, address: str | Address) -> bool:
        try:
            addr = parse_address(address)
        except ValueError:
            return False
        verdict = (self._v4 if addr.version == 4 else self._v6).lookup(int(addr))
        return self._default if verdict is None else verdict

    def __repr__(self) -> str:
        return f"<AccessList default={'allow' if self._default else 'deny'}>"


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def _forwarded_address(item: str) -> Address | None:
    """One X-Forwarded-For element: an address, ``a.b.c.d:port``, ``[v6]`` or ``[v6]:port``."""
    if item.startswith("["):
        close = item.find("]")
        rest = item[close + 1 :]
        if close < 0 or (rest and not (rest[0] == ":" and _is_port(rest[1:]))):
            return None
        item = item[1:close]
    elif item.count(":") == 1:  # IPv4 with a port, as some proxies write it
        item, port = item.split(":")
        if not _is_port(port):
            return None
    try:
        return parse_address(item)
    except ValueError:
        return None


#: addresses an AccessList remembers the verdict of
_SEEN = 4096


def request_client(peer: object, fields: Iterable[tuple[bytes, bytes]], trusted: IpSet | None) -> str:
    """The client of a request that came from ``peer`` with header ``fields``: the peer, or behind
    ``trusted`` proxies the address they forwarded in X-Forwarded-For (:func:`client_address`);
    the peer as it is when it is not an IP address (a Unix socket)."""
    if not trusted:
        return str(peer)
    xff = [v.decode("latin-1") for k, v in fields if len(k) == 15 and k.lower() == b"x-forwarded-for"]
    try:
        return client_address(str(peer), xff, trusted)
    except ValueError:
        return str(peer)


def client_address(peer: str | Address, xff_values: Iterable[str], trusted: IpSet) -> str:
    """The client's address, given the connection's ``peer`` and the X-Forwarded-For headers.

    This is nginx's realip module with ``set_real_ip_from <trusted>``,
    ``real_ip_header X-Forwarded-For`` and ``real_ip_recursive on``:

    - if ``peer`` is not trusted, the headers are ignored and ``peer`` is the client (anyone can
      write X-Forwarded-For; only a trusted proxy's word counts);
    - otherwise the elements of all the X-Forwarded-For headers, joined in order (as nginx does
      since 1.23.0), are walked from the right; each trusted proxy is skipped, and the first
      address that is not trusted is the client;
    - if every element is trusted, the leftmost one is the client.

    Malformed elements: empty elements (``a,,b``) are skipped, as nginx does. An element that is
    not an address (``unknown``, garbage, an obfuscated RFC 7239 identifier) stops the walk and
    the last address walked over, a trusted proxy (or the peer), is returned: nothing to the left
    of it can be vouched for, and garbage must never become the client's address. Ports
    (``1.2.3.4:5678``, ``[2001:db8::1]:443``) are accepted and dropped.

    Returns the address in canonical form (IPv4-mapped IPv6 as IPv4). ValueError if ``peer``
    itself is malformed.
    """
    addr = parse_address(peer)
    if addr not in trusted:
        return str(addr)
    items = [item.strip() for value in xff_values for item in value.split(",")]
    for item in reversed(items):
        if not item:
            continue
        hop = _forwarded_address(item)
        if hop is None:
            break
        addr = hop
        if addr not in trusted:
            break
    return str(addr)
