"""Benchmark pipework's static file serving (`pipework serve`) against nginx and a bare uvloop server.

Theory of operation: two files of random bytes (1 KiB and 64 KiB) are written to a temporary
directory, and for each test (file size x wrk connection count) and each server under test the
runner starts the server fresh on 127.0.0.1 with a free port, checks that one GET for the file
returns 200 with exactly its bytes, and drives keep-alive load at it with wrk. The servers are
`pipework serve DIR` (one worker), nginx serving the directory with sendfile and an open file cache
(one worker), and `bench/bare_http.py` — uvloop + httptools answering every request with the file
from memory, the ceiling for a Python server. The server is pinned to one core and wrk to the
other with taskset; the server's CPU time (utime + stime of its process tree, from /proc) is read
before and after each run and divided by the requests done. Every process started is stopped at the
end, also on Ctrl-C, SIGTERM or failure. The helpers come from bench/run.py (the TCP benchmark).

Usage: bench/http_static.py [--quick] [--duration S] [--only pipework,nginx] [--markdown FILE]
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import http_bench
import run
from run import BenchError, Load, Options, Results, Sample, fmt

KIB = 1024
FILES = {"1k": 1 * KIB, "64k": 64 * KIB}  # test name prefix -> file size
CONCURRENCY = (50, 200)  # wrk -c of the tests


@dataclass(frozen=True)
class Test:
    """One load: a file fetched over keep-alive connections by one wrk thread."""

    name: str  # e.g. "1k-c50"
    size: int  # bytes in the file
    connections: int

    @property
    def file(self) -> str:
        return f"file-{self.name.split('-')[0]}.bin"

    @property
    def title(self) -> str:
        size = f"{self.size // KIB} KiB"
        return f"static {size} file: keep-alive GET, wrk -t1 -c{self.connections}"


TESTS = {t.name: t for t in (Test(f"{f}-c{c}", size, c) for f, size in FILES.items() for c in CONCURRENCY)}


# --- servers under test ----------------------------------------------------------------------


def pipework_server(port: int, test: Test, work: Path) -> list[str]:
    """`pipework serve` on the files' directory, one worker (this process), from this venv."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install pipework into this Python (make)")
    return [str(exe), "serve", str(work / "www"), "--listen", f"127.0.0.1:{port}", "--log-level", "warning"]


def bare_server(port: int, test: Test, work: Path) -> list[str]:
    """bench/bare_http.py: uvloop + httptools answering every request with the file from memory."""
    script = Path(__file__).resolve().parent / "bare_http.py"
    return [sys.executable, str(script), str(port), str(work / "www" / test.file)]


def bare_fields_server(port: int, test: Test, work: Path) -> list[str]:
    """bench/bare_http.py --fields: the bare server, also taking each request's target and fields."""
    return [*bare_server(port, test, work), "--fields"]


def nginx_server(port: int, test: Test, work: Path) -> list[str]:
    """nginx serving the directory from disk: sendfile, open file cache, one worker."""
    temp = "\n".join(f"  {kind}_temp_path {work}/{kind}_temp;"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = run.nginx_config(work, f"static-{port}", f"""http {{
{temp}
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=20s;
  open_file_cache_valid 30s;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {work / "www"};
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


Command = Callable[[int, Test, Path], list[str]]  # (listen port, test, work dir) -> argv
# name -> (how to start it, the tools it needs besides taskset and wrk)
SERVERS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "pipework": (pipework_server, ()),
    "bare": (bare_server, ()),
    "bare-fields": (bare_fields_server, ()),
    "nginx": (nginx_server, ("nginx",)),
}
PEERS = ("nginx", "bare", "bare-fields")  # what pipework is compared with in the ratio table


# --- the run ---------------------------------------------------------------------------------




def check_file(port: int, test: Test, body: bytes) -> None:
    """One GET for the test's file: the server must answer 200 with exactly its bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", f"/{test.file}")
        resp = conn.getresponse()
        got = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET /{test.file} on port {port} failed: {exc}") from exc
    finally:
        conn.close()
    if resp.status != 200 or got != body:
        same = "the same bytes" if got == body else f"{len(got)} bytes, not the file's {len(body)}"
        raise BenchError(f"GET /{test.file} on port {port}: status {resp.status}, {same}")


def wrk_file(port: int, test: Test, cpu: int, duration: int) -> Load:
    """wrk, one thread, keep-alive, test.connections connections, fetching the test's file."""
    out = run.run_tool(["wrk", "-t1", f"-c{test.connections}", f"-d{duration}s", "--latency",
                        f"http://127.0.0.1:{port}/{test.file}"], cpu, duration)
    return run.parse_wrk(out)


def measure(test: Test, server: str, opts: Options, work: Path, body: bytes) -> Sample:
    """Start server, check it serves the file, load it with wrk, return the sample."""
    port = run.free_port()
    name = f"{server}-{test.name}-{port}"
    argv = SERVERS[server][0](port, test, work)
    with run.running(name, argv, opts.server_cpu, port, work) as proc:
        check_file(port, test, body)
        cpu0, t0 = run.cpu_seconds(proc.pid), time.monotonic()
        load = wrk_file(port, test, opts.load_cpu, opts.duration)
        cpu1, t1 = run.cpu_seconds(proc.pid), time.monotonic()
        if proc.poll() is not None:
            raise BenchError(f"{name} exited during the run:\n{run.log_tail(run.log_file(work, name))}")
    return Sample(load, cpu1 - cpu0, t1 - t0)


def write_files(www: Path) -> dict[str, bytes]:
    """The test files, random bytes (nothing to gain from compression); file name -> contents."""
    www.mkdir()
    www.chmod(0o755)
    files = {}
    for test in TESTS.values():
        if test.file not in files:
            files[test.file] = os.urandom(test.size)
            (www / test.file).write_bytes(files[test.file])
            (www / test.file).chmod(0o644)  # nginx workers run as nobody when started by root
    return files


def run_all(opts: Options) -> Results:
    """Run every selected test against every selected server in a scratch directory."""
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="pipework-bench-http-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        files = write_files(work / "www")
        for name in opts.tests:
            test = TESTS[name]
            results[name] = http_bench.rounds(
                opts, name, lambda server: measure(test, server, opts, work, files[test.file])  # noqa: B023
            )
    return results


# --- reporting -------------------------------------------------------------------------------


def targets(results: Results) -> list[str]:
    """The issue's targets for a static 1 KiB file against nginx, met or not, per concurrency."""
    lines = []
    for name, samples in results.items():
        ours, theirs = samples.get("pipework"), samples.get("nginx")
        if not name.startswith("1k-") or not isinstance(ours, Sample) or not isinstance(theirs, Sample):
            continue
        cpu = ours.cpu_us_per_unit / theirs.cpu_us_per_unit
        rate = ours.load.rate / theirs.load.rate
        p99_ok = (ours.load.p99_ms or 0) <= (theirs.load.p99_ms or 0)
        checks = [f"CPU/req {cpu:.2f}x ({'met' if cpu <= 0.85 else 'missed'}, <= 0.85x)",
                  f"req/s {rate:.2f}x ({'met' if rate >= 1.2 else 'missed'}, >= 1.2x)",
                  f"p99 {fmt(ours.load.p99_ms, 2)} vs {fmt(theirs.load.p99_ms, 2)} ms "
                  f"({'met' if p99_ok else 'missed'}, no worse)"]
        lines.append(f"{name}: " + "; ".join(checks))
    return lines


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    base = run.environment(run.Options(opts.duration, [], [], opts.server_cpu, opts.load_cpu))
    keep = [line for line in base if line.startswith(("date:", "machine:", "pipework:"))]
    return [*keep,
            f"peers: {run.first_line(['nginx', '-v'])}; bare = bench/bare_http.py (uvloop + httptools)",
            f"load tool: {run.first_line(['wrk', '--version'])}",
            f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
            f"wrk on CPU {opts.load_cpu}, all on 127.0.0.1"]


SECTION = "## Static files"  # the markdown heading of this benchmark's section
TARGETS_TITLE = "targets (static 1 KiB vs nginx)"
INTRO = (
    "Made by `bench/http_static.py` (`pipework serve` beside nginx and `bench/bare_http.py`); see "
    "bench/README.md for the setup and how to rerun it."
)
REPORT = http_bench.Report(
    SECTION, INTRO, {name: test.title for name, test in TESTS.items()}, PEERS, TARGETS_TITLE, targets
)


# --- command line ----------------------------------------------------------------------------


#: the tools a run needs: these, and the selected servers' own
needed = http_bench.tools_needed(SERVERS, "taskset", "wrk")


def main(argv: Sequence[str] | None = None) -> int:
    p = http_bench.parser(__doc__ or "", list(SERVERS), list(TESTS), SECTION, "core of wrk")
    args = p.parse_args(argv)
    return http_bench.main(args, needed, environment, run_all, REPORT)


if __name__ == "__main__":
    sys.exit(main())
