"""Instructions per request on pipework's HTTP hot paths, counted by valgrind: a figure that does
not move with the machine's load, for A/B work on a shared, noisy machine.

Theory of operation: the CPU time of a server under wrk varies by +-25% here from run to run, too
much to see a change of a few percent. Counting instructions does not: this runs each scenario
in one process under ``valgrind --tool=callgrind`` twice, with a small and a large number of
requests, and divides the difference in instructions executed by the difference in requests, so
start-up and import costs cancel out. The scenarios drive the real engine (an inbound session,
its pipeline, the codecs, the filters) with no sockets: requests go in through the session's
``on_data`` as a connection would deliver them, and answers are written to a stand-in connection.

- ``static``: ``demux_http().to(serve_files(dir))``, a GET of a cached 1 KiB file.
- ``proxy``: ``demux_http().to(proxy(url))``, a GET answered by a pooled upstream connection
  (a stand-in) with the head nginx sends and a 1 KiB body.
- ``route``: the same through ``route()`` among 100 routes; ``gated``: through ``request_id()``
  and a ``rate_limit`` that is never reached, then the proxy.

The ``served-*`` scenarios count a real server process instead (uvloop, its transports and the
event loop included), answering one keep-alive client that sends ``GET /f.bin`` with a ``Host``
field, a request at a time, and compare pipework with the floors in ``bench/bare_http.py``:

- ``served-pipework``: ``pipework serve DIR``;
- ``served-bare``: ``bare_http.py`` (parses nothing but the end of each request);
- ``served-fields``: ``bare_http.py --fields`` (takes the target and fields, then does nothing);
- ``proxied-pipework`` and ``proxied-bare``: ``pipework reverse-proxy`` and ``bare_proxy.py`` in
  front of ``bare_http.py`` (not counted), which answers with the 1 KiB file.

System calls are counted on the user side only; the kernel's share of a request is what
bench/http_static.py and bench/http_proxy.py measure. Usage:
``bench/instructions.py [SCENARIO ...] [--requests N]`` (needs ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST = b"GET /f.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\n\r\n"
BODY = b"x" * 1024
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 04:03:15 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Thu, 26 Nov 2026 03:58:10 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6b07ae52-400"\r\nAccept-Ranges: bytes\r\n\r\n' + BODY
)
SERVED = ("served-pipework", "served-bare", "served-fields", "proxied-pipework", "proxied-bare")
SCENARIOS = ("static", "proxy", "route", "gated", *SERVED)
SERVED_REQUEST = b"GET /f.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class FakeConn:
    """Stands in for a connection: counts writes, keeps the last one."""

    peer = ("127.0.0.1", 5555)
    local = ("127.0.0.1", 8080)
    closed = False
    reading_paused = False

    def __init__(self) -> None:
        self.writes = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.last = data

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def close_lingering(self) -> None:
        pass

    def abort(self, error: str | None = None) -> None:
        pass


async def drive(scenario: str, n: int, www: str) -> None:
    """Send n requests through the scenario's pipeline, in this process."""
    sys.path.insert(0, str(ROOT))
    import pipework as pw
    from pipework.codec.http1 import ResponseDecoder
    from pipework.core.script import run_declarations
    from pipework.core.session import InboundSession
    from pipework.filters.upstream import Conn

    if scenario == "static":
        inner = lambda p: p.serve_files(www)  # noqa: E731
    elif scenario == "route":  # 100 routes, the request's the last prefix tried before "/"
        upstream = pw.Upstream(["127.0.0.1:9"])
        routes = pw.Router()
        for i in range(99):
            routes.add(upstream, prefix=f"/svc{i}/")
        routes.add(upstream, prefix="/")
        inner = lambda p: p.route(routes)  # noqa: E731
    elif scenario == "gated":  # a request id and a rate limit (never reached) before the proxy
        inner = lambda p: p.request_id().rate_limit(10**9, 1).proxy("http://127.0.0.1:9")  # noqa: E731
    else:
        inner = lambda p: p.proxy("http://127.0.0.1:9")  # noqa: E731
    prog = run_declarations(
        "bench", lambda: pw.listen("127.0.0.1:0", pw.pipeline(lambda p: p.demux_http().to(inner)))
    )
    layout = prog.listens[0].layout
    up = None
    if scenario in ("proxy", "route", "gated"):  # one kept-alive upstream connection, already pooled
        cfg = layout.templates[0].cfg.layout.templates[-1].cfg
        if scenario == "route":
            cfg = cfg.action(upstream).proxy
        cfg.upstream.max_requests_per_connection = 0  # the one connection carries them all
        ep = cfg.upstream.available[0]
        up = Conn.__new__(Conn)
        up.endpoint, up.exchange, up.idle_since, up.used, up.received = ep, None, 0.0, 1, 0
        up.dec = ResponseDecoder(one_at_a_time=True)
        up.conn = FakeConn()  # type: ignore[assignment]
        ep.conns += 1
        ep.idle.append(up)
    client = FakeConn()
    session = InboundSession(layout, client)
    feed = session.take_bytes or session.on_data  # as Connection.attach chooses
    for _ in range(n):
        feed(REQUEST)
        if up is not None:
            up.on_data(RESPONSE)
    if client.writes != n:
        raise SystemExit(f"{scenario}: {client.writes} answers to {n} requests; last: {client.last[:200]!r}")


def count(scenario: str, n: int) -> int:
    """Instructions executed by one run of n requests under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        # a fixed hash seed: dict layouts, and so the counts, are the same from run to run
        argv = [
            "env",
            "PYTHONHASHSEED=0",
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            scenario,
            str(n),
        ]
        r = subprocess.run(argv, capture_output=True, text=True, check=False)
        m = re.search(r"Collected : (\d+)", r.stderr)
        if r.returncode != 0 or m is None:
            raise SystemExit(f"{scenario}: valgrind failed:\n{r.stderr[-2000:]}")
        return int(m.group(1))


def server_argv(scenario: str, port: int, www: str, backend: int) -> list[str]:
    if scenario == "served-pipework":
        return [sys.executable, "-m", "pipework", "serve", "--listen", f"127.0.0.1:{port}", www]
    if scenario == "proxied-pipework":
        return [
            sys.executable,
            "-m",
            "pipework",
            "reverse-proxy",
            "--listen",
            f"127.0.0.1:{port}",
            "--to",
            f"http://127.0.0.1:{backend}",
        ]
    if scenario == "proxied-bare":
        return [sys.executable, str(ROOT / "bench" / "bare_proxy.py"), str(port), str(backend)]
    argv = [sys.executable, str(ROOT / "bench" / "bare_http.py"), str(port), str(Path(www, "f.bin"))]
    return [*argv, "--fields"] if scenario == "served-fields" else argv


def connect(port: int, proc: subprocess.Popen[str] | None, what: str) -> socket.socket:
    """A connection to 127.0.0.1:port, waiting (up to 2 minutes) for the server to listen."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=60)
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise SystemExit(f"{what}: the server did not start") from None
            time.sleep(0.2)


def count_served(scenario: str, n: int) -> int:
    """Instructions executed by a server process (and its children) answering n requests."""
    sys.path.insert(0, str(ROOT / "bench"))
    from run import free_port

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        Path(tmp, "f.bin").write_bytes(os.urandom(1024))
        port, backend = free_port(), 0
        if scenario.startswith("proxied-"):  # the backend runs natively: it is not counted
            backend = free_port()
            argv = [sys.executable, str(ROOT / "bench" / "bare_http.py"), str(backend), f"{tmp}/f.bin"]
            up = stack.enter_context(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
            stack.callback(up.kill)
            connect(backend, up, "the backend").close()
        argv = [
            "env",
            "PYTHONHASHSEED=0",
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",
            f"--callgrind-out-file={tmp}/cg.%p",
            *server_argv(scenario, port, tmp, backend),
        ]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            with connect(port, proc, scenario) as conn:
                for _ in range(n):
                    conn.sendall(SERVED_REQUEST)
                    got = b""
                    while not (got.count(b"\r\n\r\n") and len(got) - got.index(b"\r\n\r\n") - 4 >= 1024):
                        chunk = conn.recv(65536)
                        if not chunk:
                            raise SystemExit(f"{scenario}: the server closed the connection")
                        got += chunk
        finally:
            proc.send_signal(signal.SIGINT)
            err = proc.communicate(timeout=120)[1]
        counts = [int(c) for c in re.findall(r"Collected : (\d+)", err)]
        if not counts:
            raise SystemExit(f"{scenario}: valgrind failed:\n{err[-2000:]}")
        return max(counts)  # the process that served (pipework serve may start helpers)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"of {', '.join(SCENARIOS)} (default: all)"
    )
    ap.add_argument("--requests", type=int, default=5000, help="requests in the larger run (default 5000)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import uvloop

        with tempfile.TemporaryDirectory() as www:
            Path(www, "f.bin").write_bytes(os.urandom(1024))
            uvloop.run(drive(args.child[0], int(args.child[1]), www))
        return 0
    if not shutil.which("valgrind"):
        print("bench: valgrind is missing: apt-get install valgrind", file=sys.stderr)
        return 2
    for scenario in args.scenarios or SCENARIOS:
        if scenario not in SCENARIOS:
            print(f"bench: no scenario {scenario!r}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
            return 2
        small, large = 200, 200 + args.requests
        counter = count_served if scenario in SERVED else count
        per = (counter(scenario, large) - counter(scenario, small)) / args.requests
        print(f"{scenario:<8} {per:,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
