"""Source address pools: outbound connections spread over local addresses, past one IP's ports."""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, free_port, require_root_netns
from peers import TcpServer, echo


def test_pool_spreads_connections_over_its_addresses(pipework) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        p = pipework(
            "proxy", "--listen", f"127.0.0.1:{port}", "--to", backend.address, "--bind", "127.0.0.2-127.0.0.9"
        )
        p.wait_log("listening on tcp")
        socks = []
        try:
            for i in range(80):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"%03d" % i)
                assert s.recv(3) == b"%03d" % i
                socks.append(s)
        finally:
            for s in socks:
                s.close()
        by_source = collections.Counter(host for host, _ in backend.peers)
        assert set(by_source) == {f"127.0.0.{i}" for i in range(2, 10)}
        assert set(by_source.values()) == {10}  # least-used first: an even spread
    finally:
        backend.close()


def test_single_bind_address_is_used(pipework) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        p = pipework("proxy", "--listen", f"127.0.0.1:{port}", "--to", backend.address, "--bind", "127.0.0.5")
        p.wait_log("listening on tcp")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"x")
            assert s.recv(1) == b"x"
        assert [h for h, _ in backend.peers] == ["127.0.0.5"]
    finally:
        backend.close()


# -- in a network namespace whose ephemeral port range holds only 20 ports ---------------------

NS_BACKEND = """\
import asyncio, sys
async def main():
    async def hold(r, w):
        data = await r.read(100)
        w.write(data)
        await w.drain()
        await r.read(100)   # keep the connection until the client goes
        w.close()
    srv = await asyncio.start_server(hold, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    print("ready", flush=True)
    await srv.serve_forever()
asyncio.run(main())
"""

NS_CLIENT = """\
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ok = 0
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 50000 + i))  # outside the narrowed range, so only the proxy is limited
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"ping")
    socks.append(s)
for s in socks:
    try:
        if s.recv(4) == b"ping":
            ok += 1
    except OSError:
        pass
print("ok", ok, flush=True)
"""


@pytest.fixture
def netns() -> Iterator[str]:
    require_root_netns()
    name = f"pw-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40019"],
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def ns_python(ns: str, code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )  # type: ignore[call-overload]


@pytest.mark.netns
@pytest.mark.parametrize(("bind", "expect_all"), [(None, False), ("127.0.0.2-127.0.0.9", True)])
def test_pool_goes_past_the_port_range(
    pipework, netns: str, tmp_path: Path, bind: str | None, expect_all: bool
) -> None:
    assert shutil.which("ip")
    backend = ns_python(netns, NS_BACKEND, "9000")
    try:
        assert backend.stdout is not None
        assert backend.stdout.readline().strip() == "ready"
        args = ["proxy", "--listen", "127.0.0.1:8000", "--to", "127.0.0.1:9000"]
        if bind:
            args += ["--bind", bind]
        p = pipework(*args, prefix=["ip", "netns", "exec", netns], cwd=ROOT)
        p.wait_log("listening on tcp")
        client = ns_python(netns, NS_CLIENT, "8000", "100")
        out, _ = client.communicate(timeout=60)
        ok = int(out.split()[-1])
        if expect_all:
            assert ok == 100, out + p.output()
        else:
            assert ok <= 20, out  # one source address: at most 20 ports toward one backend
            assert "connect to 127.0.0.1:9000 failed: AddressNotAvailable" in p.output()
    finally:
        backend.kill()
        backend.communicate()
