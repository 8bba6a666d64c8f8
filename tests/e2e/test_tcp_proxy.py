"""`pipework proxy` and TCP scripts against real sockets: integrity, scale, round-robin, errors."""

from __future__ import annotations

import hashlib
import os
import resource
import socket
import threading
import time

import pytest
from helpers import free_port
from peers import TcpServer, digest, echo, greeter, pattern


@pytest.fixture(autouse=True)
def _more_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192 <= hard or soft < hard < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def start_proxy(pipework, *targets: str, extra: tuple[str, ...] = (), loop: str = "auto"):  # type: ignore[no-untyped-def]
    port = free_port()
    args = ["proxy", "--listen", f"127.0.0.1:{port}", "--loop", loop, *extra]
    for t in targets:
        args += ["--to", t]
    p = pipework(*args)
    p.wait_log(r"listening on tcp 127\.0\.0\.1:\d+")
    return p, port


def test_100_mb_each_way_arrives_intact(pipework, loop_kind: str) -> None:
    backend = TcpServer(digest)
    try:
        _, port = start_proxy(pipework, backend.address, loop=loop_kind)
        size = 100 * 1024 * 1024
        up = os.urandom(1 << 20)
        want = hashlib.sha256()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(f"{size}\n".encode())

            got_back = hashlib.sha256()
            received = bytearray()

            def reader() -> None:
                n = 0
                while True:
                    chunk = s.recv(1 << 18)
                    if not chunk:
                        break
                    received.extend(chunk[:100]) if len(received) < 100 else None
                    got_back.update(chunk)
                    n += len(chunk)
                received[:0] = n.to_bytes(8, "big")

            t = threading.Thread(target=reader)
            t.start()
            for _ in range(100):
                s.sendall(up)
                want.update(up)
            s.shutdown(socket.SHUT_WR)  # half-close: the server answers after our EOF
            t.join(60)
        total = int.from_bytes(received[:8], "big")
        expect = hashlib.sha256(want.hexdigest().encode() + b"\n" + pattern(size)).hexdigest()
        assert total == 65 + size
        assert got_back.hexdigest() == expect
    finally:
        backend.close()


def test_round_robin_over_targets(pipework) -> None:
    a, b = TcpServer(greeter("A")), TcpServer(greeter("B"))
    try:
        _, port = start_proxy(pipework, a.address, b.address)
        names = []
        for _ in range(6):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                names.append(s.makefile("rb").readline().strip().decode())
        assert names == ["A", "B"] * 3
    finally:
        a.close()
        b.close()


def test_1000_concurrent_connections(pipework, loop_kind: str) -> None:
    backend = TcpServer(echo, backlog=2048)
    try:
        _, port = start_proxy(pipework, backend.address, loop=loop_kind)
        socks = []
        try:
            for i in range(1000):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(f"{i:05d}".encode())
                socks.append(s)
            for i, s in enumerate(socks):
                got = b""
                while len(got) < 5:
                    chunk = s.recv(5 - len(got))
                    assert chunk, f"connection {i} closed early"
                    got += chunk
                assert got == f"{i:05d}".encode()
            assert backend.connections == 1000
        finally:
            for s in socks:
                s.close()
    finally:
        backend.close()


def test_refused_target_closes_the_client(pipework) -> None:
    dead = free_port()
    p, port = start_proxy(pipework, f"127.0.0.1:{dead}")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"hello")
        assert s.recv(10) == b""  # closed, not hung
    time.sleep(0.1)
    assert p.proc.poll() is None


def test_idle_timeout_closes_quiet_connections(pipework) -> None:
    backend = TcpServer(echo)
    try:
        _, port = start_proxy(pipework, backend.address, extra=("--idle-timeout", "0.3"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"x")
            assert s.recv(1) == b"x"
            t0 = time.monotonic()
            assert s.recv(1) == b""
            assert 0.2 < time.monotonic() - t0 < 3
    finally:
        backend.close()


def test_bad_target_is_a_clear_error(pipework) -> None:
    p = pipework("proxy", "--listen", "127.0.0.1:0", "--to", "nonsense")
    assert p.proc.wait(10) == 1
    assert "bad address 'nonsense'" in p.output()
