"""The command line and listener options: version, help, JSON logs, limits, timeouts, IPv6, demo."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port, get_small, require, require_root_netns
from peers import TcpServer, echo, roundtrip

import pipework


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipework", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )


def test_version() -> None:
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"pipework {pipework.__version__}"


def test_help_lists_commands_and_examples() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    for word in ("run", "check", "proxy", "examples:"):
        assert word in r.stdout
    r = run_cli("run", "--help")
    for opt in ("--workers", "--watch", "--drain-timeout", "--log-level", "--log-format", "--loop"):
        assert opt in r.stdout
    assert run_cli().returncode == 2


def test_bad_option_value_says_what_is_expected() -> None:
    r = run_cli("run", "--workers", "zero")
    assert r.returncode == 2
    assert "expected a whole number, got 'zero'" in r.stderr


def test_a_pid_file_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    r = run_cli(
        "serve", str(tmp_path), "--listen", "127.0.0.1:0", "--pid-file", str(tmp_path / "no" / "p.pid")
    )
    assert r.returncode == 2
    assert f"--pid-file {tmp_path / 'no' / 'p.pid'}: No such file or directory" in r.stderr


def test_serve_a_directory(pipework, tmp_path: Path) -> None:
    require("curl")
    (tmp_path / "index.html").write_text("<p>home</p>")
    port = free_port()
    p = pipework("serve", str(tmp_path), "--listen", f"127.0.0.1:{port}", "--revalidate", "0")
    p.wait_log("listening on tcp")
    r = subprocess.run(
        ["curl", "-si", f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=10, check=False
    )
    assert r.stdout.startswith("HTTP/1.1 200 OK")
    assert "content-type: text/html; charset=utf-8" in r.stdout
    assert r.stdout.endswith("<p>home</p>")
    (tmp_path / "index.html").write_text("<p>changed</p>")
    r = subprocess.run(
        ["curl", "-s", f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=10, check=False
    )
    assert r.stdout == "<p>changed</p>"
    bad = run_cli("serve", str(tmp_path / "missing"))
    assert bad.returncode == 1
    assert "is not a directory" in bad.stderr


@pytest.mark.parametrize("command", ["serve", "reverse-proxy"])
def test_idle_timeout_option(pipework, tmp_path: Path, command: str) -> None:
    """--idle-timeout closes a kept-alive client connection left quiet (the default is 75 s)."""
    (tmp_path / "a.txt").write_text("a")
    port = free_port()
    if command == "serve":
        p = pipework("serve", str(tmp_path), "--listen", f"127.0.0.1:{port}", "--idle-timeout", "0.5")
    else:  # in front of a `pipework serve` of the same directory
        backend = free_port()
        pipework("serve", str(tmp_path), "--listen", f"127.0.0.1:{backend}").wait_log("listening on tcp")
        p = pipework(
            "reverse-proxy",
            "--listen",
            f"127.0.0.1:{port}",
            "--to",
            f"http://127.0.0.1:{backend}",
            "--idle-timeout",
            "0.5",
        )
    p.wait_log("listening on tcp")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        assert get_small(c, "/a.txt", b"a").startswith(b"HTTP/1.1 200 ")
        t0 = time.monotonic()
        assert c.recv(1) == b""
        assert 0.3 < time.monotonic() - t0 < 3


def test_json_logs(pipework) -> None:
    port = free_port()
    p = pipework("proxy", "--listen", f"127.0.0.1:{port}", "--to", "127.0.0.1:1", "--log-format", "json")
    p.wait_log("listening on tcp")
    p.stop()
    lines = [json.loads(line) for line in p.output().splitlines() if line.strip()]
    assert any(rec["msg"] == f"listening on tcp 127.0.0.1:{port}" and rec["level"] == "info" for rec in lines)
    assert all({"time", "level", "msg", "pid"} <= rec.keys() for rec in lines)


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.py"
    path.write_text("import pipework as pw\n" + textwrap.dedent(body))
    return path


def test_max_connections(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        s = script(
            tmp_path,
            f"""
            pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.connect("{backend.address}")),
                      max_connections=2)
        """,
        )
        pipework("run", str(s)).wait_log("listening on tcp")
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        for c in held:
            c.sendall(b"a")
            assert c.recv(1) == b"a"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as third:
            assert third.recv(1) == b""  # closed at once: the listener is full
        held.pop().close()
        time.sleep(0.2)
        assert roundtrip("127.0.0.1", port, b"again") == b"again"
        for c in held:
            c.close()
    finally:
        backend.close()


def test_read_timeout(pipework, tmp_path: Path) -> None:
    port = free_port()
    s = script(
        tmp_path,
        f"""
        pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.replace_data(lambda d: d)), read_timeout=0.3)
    """,
    )
    pipework("run", str(s)).wait_log("listening on tcp")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        t0 = time.monotonic()
        assert c.recv(1) == b""
        assert 0.2 < time.monotonic() - t0 < 3


def test_ipv6_listener(pipework, tmp_path: Path) -> None:
    try:
        port = free_port("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    s = script(
        tmp_path,
        f"""
        pw.listen("[::1]:{port}", pw.pipeline(lambda p: p.replace_data(lambda d: d[::-1])))
    """,
    )
    pipework("run", str(s)).wait_log(r"listening on tcp \[::1\]:")
    with socket.create_connection(("::1", port), timeout=5) as c:
        c.sendall(b"abc")
        assert c.recv(3) == b"cba"


@pytest.fixture
def netns() -> Iterator[str]:
    require_root_netns()
    name = f"pw-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def ns_run(ns: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=30, check=False
    )


CLIENT = """\
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
f = s.makefile("rb")
head = f.readline()
s.sendall(b"shout\\n")
s.shutdown(socket.SHUT_WR)
print(head.decode().strip(), "|", f.readline().decode().strip(), "|", s.recv(10), flush=True)
"""


@pytest.mark.netns
def test_built_in_demo(pipework, netns: str) -> None:
    """`pipework run` with no script (what `make run` starts), in a namespace of its own ports."""
    p = pipework("run", prefix=["ip", "netns", "exec", netns])
    p.wait_log("listening on tcp 0.0.0.0:8000")
    require("curl")
    r = ns_run(netns, "curl", "-s", "http://127.0.0.1:8080/")
    assert "<h1>pipework is running</h1>" in r.stdout
    r = ns_run(netns, "curl", "-s", "http://127.0.0.1:8080/api/hello")
    assert r.stdout.startswith('{"hello":"from the built-in API","path":"/api/hello"')
    runs = [ns_run(netns, sys.executable, "-c", CLIENT, "8000") for _ in range(2)]
    outs = [r.stdout.strip() for r in runs]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert outs == [
        "hello from backend-1: type a line and it comes back upper-cased | SHOUT | b''",
        "hello from backend-2: type a line and it comes back upper-cased | SHOUT | b''",
    ]


@pytest.mark.netns
def test_connect_timeout(pipework, netns: str) -> None:
    """SYNs to the target are dropped by nftables: the proxy gives up after --connect-timeout."""
    require("nft")
    for cmd in (
        "add table inet t",
        "add chain inet t out { type filter hook output priority 0 ; }",
        "add rule inet t out tcp dport 9999 drop",
    ):
        r = ns_run(netns, "nft", cmd)
        assert r.returncode == 0, r.stderr
    p = pipework(
        "proxy",
        "--listen",
        "127.0.0.1:8000",
        "--to",
        "127.0.0.1:9999",
        "--connect-timeout",
        "0.5",
        prefix=["ip", "netns", "exec", netns],
    )
    p.wait_log("listening on tcp")
    code = (
        "import socket, time; s = socket.create_connection(('127.0.0.1', 8000), timeout=10); t = time.time();"
        " s.sendall(b'x'); print(s.recv(1), round(time.time() - t, 1))"
    )
    out = ns_run(netns, sys.executable, "-c", code).stdout.split()
    assert out[0] == "b''"
    assert 0.4 <= float(out[1]) < 3
    p.wait_log("connect to 127.0.0.1:9999 failed: ConnectionTimeout")
