"""Source address pools: spread outbound connections over several local addresses.

One local IP can hold at most one connection per local port to a given destination, so the
ephemeral port range (``net.ipv4.ip_local_port_range``, about 28,000 ports by default) caps the
connections a proxy can open to one upstream address. A pool of N local addresses lifts the cap
N-fold, as HAProxy's ``source ... usesrc`` ranges and nginx's ``proxy_bind`` with variables do.

Each connection is bound to the pool address that has the fewest open connections, with
``IP_BIND_ADDRESS_NO_PORT`` so the kernel picks the port at ``connect()`` time knowing the whole
4-tuple (ports are then shared across destinations). An address whose ports run out
(``EADDRNOTAVAIL``) is skipped for the next attempt of the same connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

#: a range like 127.0.0.2-127.0.0.9 may name at most this many addresses (it is a list in memory)
MAX_POOL_SIZE = 65536


def parse_addresses(spec: str | Iterable[str]) -> list[str]:
    """Addresses from ``"a,b"``, ``"first-last"``, a CIDR such as ``"127.0.0.0/29"`` or a list.

    Raises ``ValueError`` with the reason for a malformed or oversized range.
    """
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    out: list[str] = []
    for item in items:
        if not item:
            continue
        if "/" in item:
            net = ipaddress.ip_network(item, strict=False)
            if net.num_addresses > MAX_POOL_SIZE:
                raise ValueError(f"source range {item} has over {MAX_POOL_SIZE} addresses")
            hosts = list(net.hosts()) or [net.network_address]
            out.extend(str(h) for h in hosts)
        elif "-" in item:
            a_s, b_s = item.split("-", 1)
            a, b = ipaddress.ip_address(a_s.strip()), ipaddress.ip_address(b_s.strip())
            if a.version != b.version or int(b) < int(a):
                raise ValueError(f"bad source range {item!r}: the first address must come first")
            if int(b) - int(a) + 1 > MAX_POOL_SIZE:
                raise ValueError(f"source range {item} has over {MAX_POOL_SIZE} addresses")
            out.extend(str(ipaddress.ip_address(i)) for i in range(int(a), int(b) + 1))
        else:
            out.append(str(ipaddress.ip_address(item)))
    if not out:
        raise ValueError("a source address pool needs at least one address")
    return out


class SourcePool:
    """A set of local addresses to bind outbound connections to, least used first."""

    def __init__(self, addresses: str | Iterable[str]) -> None:
        self.addresses = parse_addresses(addresses)
        self.active = dict.fromkeys(self.addresses, 0)
        self.failures = dict.fromkeys(self.addresses, 0)
        self._turn = -1

    def __repr__(self) -> str:
        return f"SourcePool({len(self.addresses)} addresses)"

    def candidates(self, family: int) -> list[str]:
        """Addresses of ``family`` (AF_INET / AF_INET6), least used first."""
        v6 = family == socket.AF_INET6
        addrs = [a for a in self.addresses if (":" in a) == v6]
        # rotate first, so that among equally used addresses each gets its turn (this spreads the
        # TIME_WAIT ports that closed connections leave behind too)
        self._turn = (self._turn + 1) % max(1, len(addrs))
        addrs = addrs[self._turn :] + addrs[: self._turn]
        addrs.sort(key=self.active.__getitem__)
        return addrs

    def acquire(self, address: str) -> None:
        self.active[address] += 1

    def release(self, address: str) -> None:
        self.active[address] -= 1

    def bound_socket(self, address: str, family: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A non-blocking socket bound to ``address`` with the port left to ``connect()``."""
        sock = socket.socket(family, kind)
        try:
            sock.setblocking(False)
            if kind == socket.SOCK_STREAM:
                try:
                    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                except OSError:
                    pass
            sock.bind((address, 0))
        except BaseException:
            sock.close()
            raise
        return sock
