"""Lingering close, end to end: a pipework HTTP server that refuses a request early (413 for a body
past ``max_body``, 400 for a malformed head) while the client is still sending must not reset the
connection under the client's feet. Clients: curl, and raw sockets that send the whole request
before reading, as simple clients do. The linger limits come from ``pw.listen`` options."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import Pipework, free_port, require, serve_listeners

SCRIPT = """\
import pipework as pw


def handle(req):
    return "ok"


def server(p):
    return p.demux_http(max_body=1024).to(lambda p: p.serve_http(handle))


pw.listen("127.0.0.1:{default}", server)
pw.listen("127.0.0.1:{short}", server, lingering_timeout=0.4, lingering_time=1.5)
pw.listen("127.0.0.1:{off}", server, lingering_time=0)
"""
LISTENERS = ["default", "short", "off"]
BIG = 8 * 1024 * 1024  # far more than the server reads before it answers
HEAD_413 = f"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {BIG}\r\n\r\n".encode()
HEAD_400 = b"POST /up HTTP/1.1\r\nHost: t\r\nContent Length: 5\r\n\r\n"  # a space in a field name
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    yield from serve_listeners(tmp_path_factory.mktemp("linger"), SCRIPT, LISTENERS)


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    # a small send buffer: most of the body is still in the client when the server answers
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return s


def read_to_eof(s: socket.socket) -> bytes:
    got = b""
    while data := s.recv(65536):
        got += data
    return got


def answered_then_ended(s: socket.socket, request: bytes) -> bytes:
    """Send ``request`` whole, then read until the server's EOF; return what it sent."""
    s.sendall(request)
    return read_to_eof(s)


def server_holds(pid: int, server_port: int, s: socket.socket) -> bool:
    """Whether process ``pid`` still has its end of the connection ``s`` open (Linux's /proc)."""
    want = f":{s.getsockname()[1]:04X}"
    inode = "0"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{server_port:04X}") and fields[2].endswith(want):
                inode = fields[9]
    if inode == "0":  # gone, or in TIME_WAIT: no process holds it
        return False
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(f"{fds}/{fd}") == f"socket:[{inode}]":
                return True
        except OSError:
            pass
    return False


def reset_by_server(s: socket.socket, within: float) -> bool:
    """Whether the server has closed its socket: bytes sent now are answered by RST."""
    deadline = time.monotonic() + within
    while True:
        try:
            s.send(b"x" * 100)
            time.sleep(0.05)
            s.recv(1)  # EOF (b"") while the server lingers; an error once it has gone
        except (ConnectionResetError, BrokenPipeError):
            return True
        if time.monotonic() >= deadline:
            return False


@pytest.mark.parametrize("request_", [HEAD_413 + b"b" * BIG, HEAD_400 + b"g" * BIG], ids=["413", "400"])
def test_a_client_that_sends_all_before_reading_gets_the_answer(
    ports: SimpleNamespace, request_: bytes
) -> None:
    with connect(ports.default) as s:
        got = answered_then_ended(s, request_)
    status = 413 if request_.startswith(HEAD_413) else 400
    assert got.startswith(f"HTTP/1.1 {status} ".encode()), got[:200]


@pytest.mark.parametrize("framing", [[], ["-H", "Transfer-Encoding: chunked"]], ids=["length", "chunked"])
def test_curl_uploading_a_big_file_gets_413(
    ports: SimpleNamespace, tmp_path: Path, framing: list[str]
) -> None:
    """curl reads an early answer while it uploads, so it is hit less often than a simple client
    (a chunked upload was reset about once in 20 before lingering); a few rounds each."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * BIG)
    url = f"http://127.0.0.1:{ports.default}/up"
    curl = [require("curl"), "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"]
    for _ in range(5):
        upload = [*curl, "-H", "Expect:", *framing, "--data-binary", f"@{big}", url]
        r = subprocess.run(upload, capture_output=True, timeout=30, check=False)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"413", b"")


def test_the_server_closes_at_the_clients_eof(ports: SimpleNamespace) -> None:
    pid = ports.proc.proc.pid
    with connect(ports.default) as s:
        s.sendall(HEAD_413 + b"b" * 4096)
        assert read_to_eof(s).startswith(b"HTTP/1.1 413 ")
        assert not reset_by_server(s, 0.3)  # the server lingers: what comes is read and dropped
        assert server_holds(pid, ports.default, s)
        s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 2.0
        while server_holds(pid, ports.default, s) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not server_holds(pid, ports.default, s)


def test_lingering_ends_after_a_silent_timeout(ports: SimpleNamespace) -> None:
    """``lingering_timeout`` 0.4 s: a client that keeps the connection open but sends nothing
    more is closed that long after the answer."""
    with connect(ports.short) as s:
        s.sendall(HEAD_413 + b"b" * 4096)
        t0 = time.monotonic()
        assert read_to_eof(s).startswith(b"HTTP/1.1 413 ")
        time.sleep(0.1)
        assert not reset_by_server(s, 0)
        time.sleep(0.6)
        assert reset_by_server(s, 2.0)
        assert time.monotonic() - t0 < 3.0


def test_lingering_ends_after_lingering_time_however_busy(ports: SimpleNamespace) -> None:
    """``lingering_time`` 1.5 s bounds a client that never stops sending."""
    with connect(ports.short) as s:
        s.sendall(HEAD_413 + b"b" * 4096)
        assert read_to_eof(s).startswith(b"HTTP/1.1 413 ")
        t0 = time.monotonic()
        gone = None
        while time.monotonic() - t0 < 5.0:
            try:
                s.sendall(b"b" * 1000)  # well within lingering_timeout of each other
                time.sleep(0.05)
                s.recv(1)
            except (ConnectionResetError, BrokenPipeError):
                gone = time.monotonic() - t0
                break
        assert gone is not None
        assert 1.0 < gone < 3.0


def test_lingering_time_0_closes_at_once(ports: SimpleNamespace) -> None:
    with connect(ports.off) as s:
        s.sendall(HEAD_413 + b"b" * 4096)
        assert read_to_eof(s).startswith(b"HTTP/1.1 413 ")
        assert reset_by_server(s, 1.0)


def test_shutdown_does_not_wait_for_lingering_clients(tmp_path: Path) -> None:
    """SIGTERM closes idle keep-alive connections at once: their clients get EOF and the process
    exits without waiting ``lingering_timeout`` for clients that do not close (nginx does the same
    with lingering connections when it shuts down)."""
    port = free_port()
    script = tmp_path / "server.py"
    script.write_text(SCRIPT.split("\n\npw.listen(")[0] + f'\n\npw.listen("127.0.0.1:{port}", server)\n')
    p = Pipework("run", str(script))
    try:
        p.wait_log("listening on tcp")
        with connect(port) as idle, connect(port) as refused:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert idle.recv(65536).startswith(b"HTTP/1.1 200 ")
            refused.sendall(HEAD_413 + b"b" * 4096)
            assert read_to_eof(refused).startswith(b"HTTP/1.1 413 ")  # lingering from now on
            t0 = time.monotonic()
            p.signal(signal.SIGTERM)
            assert read_to_eof(idle) == b""
            assert p.proc.wait(4.0) == 0
            assert time.monotonic() - t0 < 3.0  # lingering_timeout is 5 s
    finally:
        p.cleanup()
