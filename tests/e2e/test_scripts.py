"""Scripts run by `pipework run`: errors with file:line, check, reload, watch, drain, tasks."""

from __future__ import annotations

import os
import signal
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers import free_port
from peers import TcpServer, echo, roundtrip


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


GREETER = """\
    import pipework as pw

    pw.listen("127.0.0.1:{port}", pw.pipeline(
        lambda p: p.connect("{backend}").on_start(lambda: b"{greeting}\\n")))
"""


BAD_SCRIPTS = {
    "syntax": ("import pipework as pw\n\npw.listen(8000, \n", 3, "SyntaxError"),
    "name": ("import pipework as pw\n\nx = 1\npw.listen(8000, undefined_layout)\n", 4, "NameError"),
    "bad_filter": (
        "import pipework as pw\n\npw.listen(8000, pw.pipeline(\n    lambda p: p.conect('a:1')))\n",
        4,
        "no filter named 'conect'",
    ),
    "bad_option": (
        "import pipework as pw\n\npw.listen(8000, pw.pipeline(lambda p: p), idle=3)\n",
        3,
        "unknown option 'idle'",
    ),
    "missing_to": (
        "import pipework as pw\n\n\npw.listen(8000, pw.pipeline(lambda p: p.demux()))\n",
        4,
        "needs a sub-pipeline",
    ),
    "nothing": ("import pipework as pw\n", 1, "declares nothing"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCRIPTS))
def test_bad_script_fails_at_start_with_file_and_line(pipework, tmp_path: Path, case: str) -> None:
    text, line, reason = BAD_SCRIPTS[case]
    script = tmp_path / f"{case}.py"
    script.write_text(text)
    for cmd in ("check", "run"):
        p = pipework(cmd, str(script))
        assert p.proc.wait(15) == 1, p.output()
        out = p.output()
        assert f"{script}:{line}:" in out, out
        assert reason in out, out


def test_check_accepts_a_good_script(pipework, tmp_path: Path) -> None:
    script = write(tmp_path / "ok.py", GREETER.format(port=free_port(), greeting="hi", backend="127.0.0.1:1"))
    p = pipework("check", str(script))
    assert p.proc.wait(15) == 0
    assert "ok (1 listeners, 0 tasks)" in p.output()


def test_reload_keeps_old_connections_and_gives_new_ones_the_new_script(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        script = write(tmp_path / "s.py", GREETER.format(port=port, greeting="v1", backend=backend.address))
        p = pipework("run", str(script))
        p.wait_log("listening on tcp")
        old = socket.create_connection(("127.0.0.1", port), timeout=5)
        f_old = old.makefile("rb")
        assert f_old.readline() == b"v1\n"

        write(script, GREETER.format(port=port, greeting="v2", backend=backend.address))
        p.signal(signal.SIGHUP)
        p.wait_log("reloaded")
        assert roundtrip("127.0.0.1", port, b"ping", greeting=True) == b"v2\nping"
        old.sendall(b"still here")  # the old connection goes on, on the old pipeline
        assert old.recv(100) == b"still here"
        old.close()

        write(script, "import pipework as pw\n\npw.listen(  # broken\n")
        p.signal(signal.SIGHUP)
        p.wait_log(r"reload failed, the previous script keeps serving: .*s\.py:3: SyntaxError")
        assert roundtrip("127.0.0.1", port, b"ping", greeting=True) == b"v2\nping"
    finally:
        backend.close()


def test_reload_under_load_drops_nothing(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        script = write(tmp_path / "s.py", GREETER.format(port=port, greeting="v0", backend=backend.address))
        p = pipework("run", str(script))
        p.wait_log("listening on tcp")
        stop = threading.Event()
        results = {"ok": 0, "failed": []}

        def client() -> None:
            while not stop.is_set():
                try:
                    got = roundtrip("127.0.0.1", port, b"abc", greeting=True)
                    if got.endswith(b"\nabc"):
                        results["ok"] += 1
                    else:
                        results["failed"].append(got)
                except OSError as exc:
                    results["failed"].append(repr(exc))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(1, 6):
            time.sleep(0.2)
            write(script, GREETER.format(port=port, greeting=f"v{i}", backend=backend.address))
            p.signal(signal.SIGHUP)
            p.wait_log("reloaded", count=i)
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(10)
        assert results["failed"] == []
        assert results["ok"] > 50
        assert roundtrip("127.0.0.1", port, b"x", greeting=True) == b"v5\nx"
    finally:
        backend.close()


def test_watch_reloads_on_change(pipework, tmp_path: Path) -> None:
    port = free_port()
    script = write(tmp_path / "s.py", GREETER.format(port=port, greeting="one", backend="127.0.0.1:1"))
    p = pipework("run", str(script), "--watch")
    p.wait_log("listening on tcp")
    time.sleep(0.05)
    write(script, GREETER.format(port=port, greeting="two-changed", backend="127.0.0.1:1"))
    p.wait_log("reloaded", timeout=10)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert s.makefile("rb").readline() == b"two-changed\n"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_watch_sees_a_file_renamed_over_the_script(pipework, tmp_path: Path, workers: str) -> None:
    """As editors and deploy tools save: a new file renamed over the old one, here with the same
    size and modification time, so that only its inode tells it is another file."""
    port = free_port()
    script = write(tmp_path / "s.py", GREETER.format(port=port, greeting="one", backend="127.0.0.1:1"))
    p = pipework("run", str(script), "--watch", "--workers", workers)
    p.wait_log("listening on tcp", count=int(workers))
    new = write(tmp_path / "s.py.new", GREETER.format(port=port, greeting="two", backend="127.0.0.1:1"))
    st = script.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    new.replace(script)
    p.wait_log("reload", timeout=10)
    deadline = time.monotonic() + 10
    got = b""
    while got != b"two\n" and time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            got = s.makefile("rb").readline()
    assert got == b"two\n"


def test_sigterm_drains_open_connections(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        script = write(tmp_path / "s.py", GREETER.format(port=port, greeting="hi", backend=backend.address))
        p = pipework("run", str(script), "--drain-timeout", "20")
        p.wait_log("listening on tcp")
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert s.makefile("rb").readline() == b"hi\n"
        p.signal(signal.SIGTERM)
        p.wait_log("draining 1 open sessions")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()  # no longer accepting
        s.sendall(b"during drain")
        assert s.recv(100) == b"during drain"
        assert p.proc.poll() is None
        s.close()
        assert p.proc.wait(10) == 0
    finally:
        backend.close()


def test_drain_timeout_closes_what_is_left(pipework, tmp_path: Path) -> None:
    backend = TcpServer(echo)
    try:
        port = free_port()
        script = write(tmp_path / "s.py", GREETER.format(port=port, greeting="hi", backend=backend.address))
        p = pipework("run", str(script), "--drain-timeout", "0.5")
        p.wait_log("listening on tcp")
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert s.makefile("rb").readline() == b"hi\n"
        p.signal(signal.SIGTERM)
        assert p.proc.wait(10) == 0
        assert "drain timeout: closing 1 sessions" in p.output()
        s.close()
    finally:
        backend.close()


def test_tasks_and_on_exit(pipework, tmp_path: Path) -> None:
    marker = tmp_path / "ticks.txt"
    script = write(
        tmp_path / "t.py",
        f"""\
        import pipework as pw

        def tick():
            with open({str(marker)!r}, "a") as f:
                f.write("tick\\n")

        def bye():
            with open({str(marker)!r}, "a") as f:
                f.write("bye\\n")

        pw.task(0.05, pw.pipeline(lambda p: p.on_start(tick)))
        pw.task(None, pw.pipeline(lambda p: p.on_start(lambda: None)))
        pw.on_exit(bye)
    """,
    )
    p = pipework("run", str(script))
    deadline = time.monotonic() + 10
    while (not marker.exists() or marker.read_text().count("tick") < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.stop() == 0
    lines = marker.read_text().split()
    assert lines.count("tick") >= 3
    assert lines[-1] == "bye"


def test_every_task_on_a_signal_runs_and_a_reload_keeps_them(pipework, tmp_path: Path) -> None:
    """Two tasks on SIGUSR2 both run on each signal; after a reload the new program's do."""
    script = write(
        tmp_path / "t.py",
        """\
        import logging
        import pipework as pw

        say = logging.getLogger("pipework").warning
        pw.task("SIGUSR2", pw.pipeline(lambda p: p.on_start(lambda: say("first ran"))))
        pw.task("SIGUSR2", pw.pipeline(lambda p: p.on_start(lambda: say("second ran"))))
        pw.task(None, pw.pipeline(lambda p: p.on_start(lambda: say("script is up"))))
    """,
    )
    p = pipework("run", str(script))
    p.wait_log("script is up")
    p.signal(signal.SIGUSR2)
    p.wait_log("first ran")
    p.wait_log("second ran")
    p.signal(signal.SIGHUP)
    p.wait_log("script is up", count=2)
    p.signal(signal.SIGUSR2)
    p.wait_log("first ran", count=2)
    p.wait_log("second ran", count=2)
    assert p.output().count("first ran") == 2
    assert p.stop() == 0
