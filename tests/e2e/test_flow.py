"""Back-pressure end to end: a slow side pauses the other, and the proxy's memory stays flat."""

from __future__ import annotations

import asyncio
import socket
import time

from helpers import free_port
from peers import TcpServer


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def in_flight_bound() -> int:
    """The most two TCP hops can hold in kernel buffers here, plus the proxy's 256 KiB write mark.

    Each hop is a sender's buffer and a receiver's autotuned one, whose ceilings are the
    third numbers of tcp_wmem and tcp_rmem (a CI machine may allow 32 MiB per receiver).
    """
    def ceiling(name: str) -> int:
        with open(f"/proc/sys/net/ipv4/{name}") as f:
            return int(f.read().split()[2])

    return 2 * (ceiling("tcp_wmem") + ceiling("tcp_rmem")) + 256 * 1024 + 1024 * 1024


def push_until_blocked(s: socket.socket, seconds: float = 1.5) -> int:
    """Send as much as the peer lets us within ``seconds``; return the byte count."""
    s.setblocking(False)
    chunk = b"x" * 65536
    sent = 0
    stalled_since = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > seconds:
                return sent
            time.sleep(0.01)
    raise AssertionError(f"never blocked after {sent} bytes: back-pressure does not work")


def test_slow_upstream_pauses_the_client(pipework, loop_kind: str) -> None:
    gate = asyncio.Event()

    async def sleepy(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await gate.wait()  # never reads until the test is over

    backend = TcpServer(sleepy)
    try:
        port = free_port()
        p = pipework("proxy", "--listen", f"127.0.0.1:{port}", "--to", backend.address, "--loop", loop_kind)
        p.wait_log("listening on tcp")
        base = rss_kib(p.proc.pid)
        with socket.create_connection(("127.0.0.1", port)) as s:
            sent = push_until_blocked(s)
            grown = rss_kib(p.proc.pid) - base
        # kernel socket buffers on both hops plus the proxy's write mark; never the stream
        assert sent < in_flight_bound(), sent
        assert grown < 16 * 1024, f"proxy grew by {grown} KiB"
    finally:
        backend.loop.call_soon_threadsafe(gate.set)
        backend.close()


def test_slow_client_pauses_the_upstream(pipework, loop_kind: str) -> None:
    sent = {"n": 0}

    async def firehose(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        chunk = b"y" * 65536
        start = time.monotonic()
        while time.monotonic() - start < 20:
            w.write(chunk)
            try:
                await asyncio.wait_for(w.drain(), 1.5)
            except TimeoutError:
                return  # blocked: the proxy stopped reading from us
            sent["n"] += len(chunk)

    backend = TcpServer(firehose)
    try:
        port = free_port()
        p = pipework("proxy", "--listen", f"127.0.0.1:{port}", "--to", backend.address, "--loop", loop_kind)
        p.wait_log("listening on tcp")
        base = rss_kib(p.proc.pid)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            deadline = time.monotonic() + 25
            last = -1
            while time.monotonic() < deadline:  # wait until the backend stops making progress
                time.sleep(1.6)
                if sent["n"] == last:
                    break
                last = sent["n"]
            grown = rss_kib(p.proc.pid) - base
            assert sent["n"] < in_flight_bound(), sent
            assert grown < 16 * 1024, f"proxy grew by {grown} KiB"
            got = 0
            s.settimeout(5)
            while got < sent["n"]:  # and nothing was lost on the way
                chunk = s.recv(1 << 20)
                assert chunk
                got += len(chunk)
    finally:
        backend.close()
