"""A real BGP speaker as the peer: BIRD 2 on loopback addresses, our sans-IO Session over a socket.

The test starts ``bird`` with a configuration in a temporary directory: it listens on 127.0.0.2
(passive), exports two IPv4 and one IPv6 static route, and expects AS 4200000001 from 127.0.0.3.
The test side connects from 127.0.0.3, drives a Session with ``time.monotonic`` as its clock, and
checks that BIRD accepts our OPEN, that its UPDATEs decode, that our keepalives hold the session
past one hold time, and (with ``birdc``) that BIRD imported the UPDATE we sent. Skipped without
BIRD, failed under PIPEWORK_REQUIRE_ALL=1 (``apt-get install bird2``).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path

import pytest
from helpers import require

from pipework.codec.bgp import (
    AFI,
    IPV4_UNICAST,
    IPV6_UNICAST,
    SAFI,
    AsPath,
    CloseConnection,
    Command,
    Event,
    MpReachNlri,
    NextHop,
    Origin,
    OriginValue,
    RoutesReceived,
    SendKeepalive,
    Session,
    SessionDown,
    SessionEstablished,
    State,
    Update,
    make_open,
)

BIRD_ADDRESS, OUR_ADDRESS = "127.0.0.2", "127.0.0.3"
CONFIG = """
router id 192.0.2.2;
log "{log}" all;
protocol device {{ }}
protocol static s4 {{ ipv4; route 203.0.113.0/24 blackhole; route 198.51.100.0/25 blackhole; }}
protocol static s6 {{ ipv6; route 2001:db8:1::/48 blackhole; }}
protocol bgp pw {{
  local {bird} port {port} as 65002;
  neighbor {ours} as 4200000001;
  passive on;
  multihop 2;
  hold time 9;
  ipv4 {{ import all; export all; next hop self; }};
  ipv6 {{ import all; export all; next hop address 2001:db8::2; }};
}}
"""


@dataclass
class Bird:
    port: int
    control: Path
    log: Path

    def query(self, *command: str) -> str:
        birdc = require("birdc")
        out = subprocess.run([birdc, "-s", str(self.control), *command], capture_output=True, text=True,
                             timeout=5, check=False)
        return out.stdout + out.stderr


@pytest.fixture
def bird(tmp_path: Path) -> Iterator[Bird]:
    binary = require("bird")
    with socket.socket() as probe:  # a free port on BIRD's address
        probe.bind((BIRD_ADDRESS, 0))
        port = probe.getsockname()[1]
    conf, control, log = tmp_path / "bird.conf", tmp_path / "bird.ctl", tmp_path / "bird.log"
    conf.write_text(CONFIG.format(log=log, bird=BIRD_ADDRESS, ours=OUR_ADDRESS, port=port))
    proc = subprocess.Popen([binary, "-f", "-c", str(conf), "-s", str(control)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 5
        while True:  # wait until it listens
            try:
                socket.create_connection((BIRD_ADDRESS, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"bird did not start listening on {port}: {out}")
                time.sleep(0.05)
        yield Bird(port, control, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout:
            proc.stdout.close()


@dataclass
class Peer:
    """Carries out a Session's commands on a plain blocking socket."""

    session: Session
    sock: socket.socket
    start: float = field(default_factory=time.monotonic)
    seen: list[Command] = field(default_factory=list)
    closed: bool = False

    def now(self) -> float:
        return time.monotonic() - self.start

    def run(self, commands: list[Command]) -> None:
        for command in commands:
            self.seen.append(command)
            data = getattr(command, "data", b"")
            if data and not self.closed:
                self.sock.sendall(data)
            if isinstance(command, CloseConnection):
                self.closed = True

    def pump(self, seconds: float, until: type | None = None) -> None:
        """Read and fire timers for ``seconds``, or until a command of type ``until`` appears."""
        end = self.now() + seconds
        while not self.closed and self.now() < end:
            if until is not None and any(isinstance(c, until) for c in self.seen):
                return
            deadline = self.session.next_deadline()
            wait = min(end, deadline if deadline is not None else end) - self.now()
            self.sock.settimeout(max(wait, 0.001))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                self.run(self.session.expire(self.now()))
                continue
            self.run(self.session.receive_data(data, self.now()))
            self.run(self.session.expire(self.now()))


def test_session_with_bird(bird: Bird) -> None:
    ours = make_open(4200000001, "192.0.2.3", 3, families=(IPV4_UNICAST, IPV6_UNICAST), graceful_restart=30)
    session = Session(ours, peer_as=65002)
    with socket.socket() as sock:
        sock.bind((OUR_ADDRESS, 0))
        peer = Peer(session, sock)
        peer.run(session.handle(Event.MANUAL_START, peer.now()))
        sock.settimeout(5)
        sock.connect((BIRD_ADDRESS, bird.port))
        peer.run(session.handle(Event.TCP_CR_ACKED, peer.now()))
        peer.pump(5, until=SessionEstablished)
        assert session.state is State.ESTABLISHED, peer.seen
        (up,) = [c for c in peer.seen if isinstance(c, SessionEstablished)]
        negotiated = up.negotiated
        assert (negotiated.peer_as, negotiated.peer_id) == (65002, IPv4Address("192.0.2.2"))
        assert (negotiated.hold_time, negotiated.keepalive_time) == (3, 1)
        assert negotiated.families == {IPV4_UNICAST, IPV6_UNICAST}
        assert negotiated.four_octet_as
        assert negotiated.route_refresh

        # Hold the session for more than one hold time: BIRD drops it unless our keepalives flow.
        peer.pump(3.4)
        assert session.state is State.ESTABLISHED, peer.seen[-5:]
        assert sum(isinstance(c, SendKeepalive) for c in peer.seen) >= 3

        updates = [c.update for c in peer.seen if isinstance(c, RoutesReceived)]
        routes = {net for u in updates for net in u.reachable}
        assert routes == {ip_network("203.0.113.0/24"), ip_network("198.51.100.0/25"),
                          ip_network("2001:db8:1::/48")}
        ipv4 = next(u for u in updates if u.nlri)
        assert ipv4.next_hop == IPv4Address(BIRD_ADDRESS)
        assert ipv4.attribute(AsPath) == AsPath.sequence(65002)
        ipv6 = next(u.attribute(MpReachNlri) for u in updates if u.attribute(MpReachNlri))
        assert ipv6 is not None
        assert (ipv6.afi, ipv6.safi) == (AFI.IPV6, SAFI.UNICAST)
        assert ipv6.next_hops == (IPv6Address("2001:db8::2"),)
        assert {u.end_of_rib for u in updates} >= {IPV4_UNICAST, IPV6_UNICAST}

        ours_route = Update((), (Origin(OriginValue.IGP), AsPath.sequence(4200000001),
                                 NextHop(IPv4Address(OUR_ADDRESS))), (ip_network("10.99.0.0/16"),))
        peer.run(session.send_update(ours_route, peer.now()))
        peer.pump(0.3)
        table = bird.query("show", "route", "10.99.0.0/16", "all")
        assert "10.99.0.0/16" in table, table
        assert "4200000001" in table, table

        peer.run(session.handle(Event.MANUAL_STOP, peer.now()))
        assert isinstance(peer.seen[-1], SessionDown)
    time.sleep(0.2)
    assert "Administrative shutdown" in bird.query("show", "protocols", "all", "pw") + bird.log.read_text()
