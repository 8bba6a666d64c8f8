"""UDP through the proxy: datagrams keep their boundaries, each peer is its own session."""

from __future__ import annotations

import socket
import time

from helpers import free_port
from peers import UdpEcho


def test_udp_echo_through_the_proxy(pipework, loop_kind: str) -> None:
    a, b = UdpEcho(b"A:"), UdpEcho(b"B:")
    try:
        port = free_port(kind=socket.SOCK_DGRAM)
        p = pipework(
            "proxy",
            "--udp",
            "--listen",
            f"127.0.0.1:{port}",
            "--to",
            a.address,
            "--to",
            b.address,
            "--loop",
            loop_kind,
        )
        p.wait_log("listening on udp")
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            for c in clients:
                c.settimeout(5)
            for i in range(5):
                for n, c in enumerate(clients):
                    payload = f"{n}-{i}-".encode() * (i + 1)
                    c.sendto(payload, ("127.0.0.1", port))
                    data, _ = c.recvfrom(65536)
                    # one session per client address: client 0 always reaches A, client 1 always B
                    assert data == (b"A:" if n == 0 else b"B:") + payload
            big = bytes(range(256)) * 200  # 51,200 bytes: one datagram, one answer
            clients[0].sendto(big, ("127.0.0.1", port))
            assert clients[0].recvfrom(65536)[0] == b"A:" + big
        finally:
            for c in clients:
                c.close()
        assert len({peer for peer in a.peers}) == 1
        assert len({peer for peer in b.peers}) == 1
    finally:
        a.close()
        b.close()


def test_udp_sessions_expire_when_idle(pipework) -> None:
    a = UdpEcho(b"")
    try:
        port = free_port(kind=socket.SOCK_DGRAM)
        p = pipework(
            "proxy", "--udp", "--listen", f"127.0.0.1:{port}", "--to", a.address, "--idle-timeout", "0.3"
        )
        p.wait_log("listening on udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            c.sendto(b"1", ("127.0.0.1", port))
            assert c.recvfrom(10)[0] == b"1"
            time.sleep(0.8)
            c.sendto(b"2", ("127.0.0.1", port))
            assert c.recvfrom(10)[0] == b"2"
        # a new upstream socket (a new source port) after the idle session ended
        assert len(set(a.peers)) == 2
    finally:
        a.close()
