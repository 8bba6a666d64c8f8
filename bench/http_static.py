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

import argparse
import http.client
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import run
from run import BenchError, Load, Sample, Table, fmt, markdown_table, text_table

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
    "nginx": (nginx_server, ("nginx",)),
}
PEERS = ("nginx", "bare")  # what pipework is compared with in the ratio table


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The run's settings, from the command line."""

    duration: int
    servers: list[str]
    tests: list[str]
    server_cpu: int
    load_cpu: int


Results = dict[str, dict[str, Sample | str]]  # test -> server -> sample, or why it failed


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


def progress(test: str, server: str, outcome: Sample | str) -> None:
    """One line on stderr per load run, so a long run shows it is alive."""
    if isinstance(outcome, str):
        line = f"FAILED: {outcome}"
    else:
        line = f"{outcome.load.rate:,.0f} req/s, {outcome.cpu_percent:.0f}% CPU"
    print(f"  {test:<8} {server:<9} {line}", file=sys.stderr, flush=True)


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
            results[name] = {}
            for server in opts.servers:
                try:
                    results[name][server] = measure(test, server, opts, work, files[test.file])
                except BenchError as exc:
                    results[name][server] = str(exc)
                progress(name, server, results[name][server])
    return results


# --- reporting -------------------------------------------------------------------------------


def result_table(samples: dict[str, Sample | str]) -> Table:
    """One row per server: rate, latency, CPU per request and CPU load."""
    head = ["server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "CPU %", "errors"]
    rows = []
    for server, s in samples.items():
        if isinstance(s, str):
            rows.append([server, "failed", *["-"] * (len(head) - 2)])
            continue
        rows.append([server, fmt(s.load.rate, 0), fmt(s.load.p50_ms, 2), fmt(s.load.p99_ms, 2),
                     fmt(s.cpu_us_per_unit), fmt(s.cpu_percent, 0), str(s.load.errors)])
    return head, rows


def ratio_table(results: Results) -> Table:
    """pipework/peer for the rate (higher is better), CPU per request and p99 (lower is better)."""
    head = ["test", "pipework vs", "rate ratio", "CPU/req ratio", "p99 ratio"]
    rows = []
    for name, samples in results.items():
        ours = samples.get("pipework")
        for peer in PEERS:
            theirs = samples.get(peer)
            if isinstance(ours, Sample) and isinstance(theirs, Sample):
                p99 = ("-" if not ours.load.p99_ms or not theirs.load.p99_ms
                       else f"{ours.load.p99_ms / theirs.load.p99_ms:.2f}")
                rows.append([name, peer, f"{ours.load.rate / theirs.load.rate:.2f}",
                             f"{ours.cpu_us_per_unit / theirs.cpu_us_per_unit:.2f}", p99])
    return head, rows


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


def sections(results: Results) -> list[tuple[str, Table]]:
    """The titled tables of a run: one per test, then the ratios."""
    out = [(TESTS[name].title, result_table(samples)) for name, samples in results.items()]
    ratios = ratio_table(results)
    if ratios[1]:
        out.append(("pipework / peer (rate: >1 is faster; CPU/req and p99: <1 is better)", ratios))
    return out


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    base = run.environment(run.Options(opts.duration, [], [], opts.server_cpu, opts.load_cpu))
    keep = [line for line in base if line.startswith(("date:", "machine:", "pipework:"))]
    return [*keep,
            f"peers: {run.first_line(['nginx', '-v'])}; bare = bench/bare_http.py (uvloop + httptools)",
            f"load tool: {run.first_line(['wrk', '--version'])}",
            f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
            f"wrk on CPU {opts.load_cpu}, all on 127.0.0.1"]


def failures(results: Results) -> str:
    """Why each failed run failed, one block per run ("" if none failed)."""
    return "\n".join(f"{name} / {server}: {s}" for name, samples in results.items()
                     for server, s in samples.items() if isinstance(s, str))


def report_text(env: list[str], results: Results) -> str:
    parts = ["\n".join(env)]
    parts += [f"{title}\n{text_table(table)}" for title, table in sections(results)]
    if met := targets(results):
        parts.append("targets (static 1 KiB vs nginx)\n" + "\n".join(met))
    if failed := failures(results):
        parts.append(f"failures\n{failed}")
    return "\n\n".join(parts)


SECTION = "## Static files"  # the markdown heading of this benchmark's section


def report_markdown(env: list[str], results: Results, note: str) -> str:
    """The run as one level-2 markdown section, SECTION, with a level-3 heading per table."""
    parts = [SECTION,
             "Made by `bench/http_static.py` (`pipework serve` beside nginx and `bench/bare_http.py`); see "
             "bench/README.md for the setup and how to rerun it.",
             "\n".join(f"- {line}" for line in env)]
    if note:
        parts.append(f"> {note}")
    parts += [f"### {title}\n\n{markdown_table(table)}" for title, table in sections(results)]
    if met := targets(results):
        parts.append("### targets (static 1 KiB vs nginx)\n\n" + "\n".join(f"- {line}" for line in met))
    if failed := failures(results):
        parts.append(f"### failures\n\n```\n{failed}\n```")
    return "\n\n".join(parts) + "\n"


def write_markdown(path: Path, section: str) -> None:
    """Put section into the markdown file at path: in place of its SECTION if it has one (up to the
    next level-2 heading), else appended; the rest of the file is kept."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        before, after = "".join(lines).rstrip("\n"), ""
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, after = "".join(lines[:start]).rstrip("\n"), "".join(lines[end:])
    text = (before + "\n\n" if before else "") + section + ("\n" + after if after else "")
    path.write_text(text)


# --- command line ----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, metavar="SECONDS", help="length of each load run")
    p.add_argument("--quick", action="store_true", help="2 s runs, for smoke testing")
    p.add_argument("--only", type=run.choices(list(SERVERS)), default=list(SERVERS), metavar="SERVERS",
                   help=f"comma-separated servers to run (default: {','.join(SERVERS)})")
    p.add_argument("--tests", type=run.choices(list(TESTS)), default=list(TESTS), metavar="TESTS",
                   help=f"comma-separated tests to run (default: {','.join(TESTS)})")
    p.add_argument("--markdown", type=Path, metavar="FILE",
                   help=f"also write the results as a markdown section: it replaces FILE's '{SECTION}' "
                   "section, or is appended to FILE")
    p.add_argument("--note", default="", help="a remark for the markdown report's header")
    p.add_argument("--server-cpu", type=int, default=0, metavar="N", help="core of the server under test")
    p.add_argument("--load-cpu", type=int, default=1, metavar="N", help="core of wrk")
    return p


def preflight(opts: Options) -> None:
    """Fail early, with the fix, if a tool or a core is missing."""
    needed = {"taskset", "wrk"}
    for server in opts.servers:
        needed.update(SERVERS[server][1])
    missing = sorted(tool for tool in needed if not shutil.which(tool))
    if missing:
        raise BenchError("missing tools:\n  " + "\n  ".join(
            f"{tool}: apt-get install {run.APT_PACKAGES[tool]}" for tool in missing))
    cores = os.sched_getaffinity(0)
    if opts.server_cpu == opts.load_cpu or not {opts.server_cpu, opts.load_cpu} <= cores:
        raise BenchError(f"need two distinct cores among {sorted(cores)} "
                         f"(--server-cpu {opts.server_cpu}, --load-cpu {opts.load_cpu})")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    opts = Options(2 if args.quick else args.duration, args.only, args.tests, args.server_cpu, args.load_cpu)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwind and stop servers on SIGTERM too
    try:
        preflight(opts)
        env = environment(opts)
        results = run_all(opts)
        env.append(f"load average at end: {run.loadavg()}")
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; every server started was stopped", file=sys.stderr)
        return 130
    print(report_text(env, results))
    if args.markdown:
        write_markdown(args.markdown, report_markdown(env, results, args.note))
    failed = any(isinstance(s, str) for samples in results.values() for s in samples.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
