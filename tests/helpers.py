"""Shared test helpers: free ports, system tools, and a real pipework process to talk to.

The fixtures here are re-exported by tests/conftest.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REQUIRE_ALL = os.environ.get("PIPEWORK_REQUIRE_ALL") == "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def require(tool: str) -> str:
    """The path of a system tool; skip the test without it (fail under PIPEWORK_REQUIRE_ALL=1)."""
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} is not installed (apt-get install it, or run .ci/run)"
        if REQUIRE_ALL:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def require_root_netns() -> None:
    """Skip (or fail in CI) unless this process may create network namespaces."""
    require("ip")
    ok = (
        os.geteuid() == 0
        and subprocess.run(["ip", "netns", "list"], capture_output=True, check=False).returncode == 0
    )
    if not ok:
        msg = "needs root and `ip netns` to build test namespaces"
        if REQUIRE_ALL:
            pytest.fail(msg)
        pytest.skip(msg)


#: ports free_port handed out in this test run: the system may offer a port again as soon as
#: its probe socket closes, and two servers of one test must not get the same one
_GIVEN: set[tuple[int, int]] = set()


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free now and not handed out before in this run."""
    for _ in range(100):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if (kind, port) not in _GIVEN:
            _GIVEN.add((kind, port))
            return port
    raise RuntimeError("no fresh free port after 100 tries")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` different free ports (see free_port)."""
    return [free_port(host) for _ in range(n)]


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


class Pipework:
    """A ``pipework`` subprocess with its log captured to a file."""

    def __init__(
        self,
        *args: str,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
    ) -> None:
        self.args = list(args)
        self.log = tempfile.NamedTemporaryFile(prefix="pipework-", suffix=".log", delete=False)  # noqa: SIM115
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "pipework", *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=cwd or ROOT,
            env=full_env,
        )

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears ``count`` times in the log; return the last match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            found = list(rx.finditer(self.output()))
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"pipework exited ({self.proc.returncode}) before logging {pattern!r}:\n" + self.output()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the log after {timeout}s:\n" + self.output())
            time.sleep(0.02)

    def wait_listening(self, host: str, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"pipework exited ({self.proc.returncode}):\n" + self.output())
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"pipework not listening on {host}:{port}:\n" + self.output()
                    ) from None
                time.sleep(0.02)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        self.stop()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def run_script(pipework: Any, path: Path, text: str) -> Pipework:
    """Write ``text`` to ``path``, run it with ``pipework run`` (the fixture of that name) and wait
    until it listens."""
    path.write_text(text)
    p: Pipework = pipework("run", str(path))
    p.wait_log("listening on tcp")
    return p


def get_small(sock: socket.socket, path: str, body: bytes) -> bytes:
    """Send a keep-alive GET of ``path`` on ``sock`` and read the answer, which ends with ``body``."""
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    got = b""
    while not got.endswith(b"\r\n\r\n" + body):
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    return got


def serve_listeners(directory: Path, script: str, listeners: Iterable[str]) -> Iterator[SimpleNamespace]:
    """For a module-scoped fixture: run ``script`` (a template with a ``{name}`` per listener,
    each filled with a free port) in one pipework process, yield the ports by name and ``proc``,
    and stop it afterwards."""
    names = list(listeners)
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    path = directory / "server.py"
    path.write_text(script.format(**ports))
    p = Pipework("run", str(path))
    try:
        p.wait_log("listening on tcp", count=len(ports))
        yield SimpleNamespace(**ports, proc=p)
    finally:
        p.cleanup()


@pytest.fixture
def pipework() -> Iterator[type[Pipework]]:
    """Start pipework processes with ``pipework(*args)``; all are stopped after the test."""
    started: list[Pipework] = []

    def start(*args: str, **kw: object) -> Pipework:
        p = Pipework(*args, **kw)  # type: ignore[arg-type]
        started.append(p)
        return p

    yield start  # type: ignore[misc]
    for p in started:
        p.cleanup()


@pytest.fixture(params=["uvloop", "asyncio"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    """Run an I/O test under both event loops."""
    return str(request.param)
