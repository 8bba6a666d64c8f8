"""--workers N: ports shared by SO_REUSEPORT, crashed workers restarted, reload and stop relayed."""

from __future__ import annotations

import os
import re
import signal
import socket
import textwrap
import time
from pathlib import Path

from helpers import free_port
from peers import roundtrip

SCRIPT = """\
    import os
    import pipework as pw

    pw.listen("127.0.0.1:{port}", pw.pipeline(
        lambda p: p.on_start(lambda: f"{tag} pid={{os.getpid()}}\\n").replace_data(lambda d: d)))
"""


def worker_pids(log: str) -> list[int]:
    return [int(m) for m in re.findall(r"started worker \d+ \(pid (\d+)\)", log)]


def greet(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.makefile("rb").readline().decode().strip()


def test_workers_share_the_port_and_a_killed_one_is_restarted(pipework, tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "w.py"
    script.write_text(textwrap.dedent(SCRIPT.format(port=port, tag="v1")))
    p = pipework("run", str(script), "--workers", "2")
    p.wait_log("listening on tcp", count=2)
    pids = worker_pids(p.output())
    assert len(pids) == 2

    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:  # the kernel spreads connections over both
        seen.add(greet(port))
    assert seen == {f"v1 pid={pid}" for pid in pids}

    os.kill(pids[0], signal.SIGKILL)
    p.wait_log(r"worker 1 \(pid \d+\) exited with signal SIGKILL; restarting")
    p.wait_log("listening on tcp", count=3)
    new = worker_pids(p.output())
    assert len(new) == 3
    assert new[2] not in pids
    # every connection is served while and after the worker is replaced
    for _ in range(20):
        assert greet(port).startswith("v1 pid=")

    script.write_text(textwrap.dedent(SCRIPT.format(port=port, tag="v2")))
    p.signal(signal.SIGHUP)
    p.wait_log("reloaded", count=2)
    for _ in range(10):
        assert greet(port).startswith("v2 pid=")

    script.write_text("import pipework as pw\nraise RuntimeError('broken on purpose')\n")
    p.signal(signal.SIGHUP)
    p.wait_log(
        r"reload refused, the workers keep the running script: .*w\.py:2: RuntimeError: broken on purpose"
    )
    assert greet(port).startswith("v2 pid=")

    assert p.stop() == 0
    assert "all workers stopped" in p.output()
    for pid in new[1:]:
        assert not Path(f"/proc/{pid}").exists()


def test_workers_serve_udp_too(pipework, tmp_path: Path) -> None:
    port = free_port(kind=socket.SOCK_DGRAM)
    script = tmp_path / "u.py"
    script.write_text(
        textwrap.dedent(f"""\
        import pipework as pw
        pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.replace_data(lambda d: d.upper())),
                  protocol="udp")
    """)
    )
    p = pipework("run", str(script), "--workers", "2")
    p.wait_log("listening on udp", count=2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"hello", ("127.0.0.1", port))
        assert s.recvfrom(100)[0] == b"HELLO"
    assert roundtrip is not None
