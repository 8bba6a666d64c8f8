"""Benchmark pipework's TCP forwarding (L4 proxy) against HAProxy and nginx on this machine.

Theory of operation: for each test (request rate, bulk throughput, connection rate) and each
server under test, the runner starts the server on 127.0.0.1 with a free port, forwarding to a
backend (nginx serving a 1 KiB response, or an iperf3 server), and drives load through it with a
real tool (wrk, iperf3). The server under test is pinned to one core and the backend and load tool
to the other with taskset, so the server's CPU time is its own. That CPU time (utime + stime of the
process and its children, from /proc) is read before and after each load run and divided by the
work done: CPU µs per request, per connection or per MiB. Every process started is stopped at the
end, also on Ctrl-C, SIGTERM or failure, and every run has a time limit.

Usage: .venv/bin/python bench/run.py [--quick] [--only pipework,haproxy] [--markdown bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY_SIZE = 1024  # the 1 KiB response the issue asks the backend to serve
CONNECTIONS = 50  # wrk -c: concurrent client connections
STARTUP_TIMEOUT = 10.0  # seconds a server gets to start listening
STOP_TIMEOUT = 5.0  # seconds a server gets to exit on SIGTERM before SIGKILL
RUN_MARGIN = 20.0  # seconds a load tool may run past --duration before it is killed
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
NGINX_MODULES = Path("/usr/lib/nginx/modules")

# The Debian package that provides each tool, for the message when one is missing.
APT_PACKAGES = {
    "taskset": "util-linux",
    "nginx": "nginx-light",
    "haproxy": "haproxy",
    "wrk": "wrk",
    "iperf3": "iperf3",
}


class BenchError(Exception):
    """A server or tool failed; the message says which and why."""


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:port; read from /proc so no connection is made."""
    wanted = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(f[1] == wanted and f[3] == "0A" for f in (line.split() for line in lines))


def log_file(logdir: Path, name: str) -> Path:
    return logdir / f"{name}.log"


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a process log, indented for an error message."""
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    return "\n".join("    " + line for line in text) or "    (empty log)"


def stop(name: str, proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of proc; SIGKILL what is left of it after STOP_TIMEOUT."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"  {name} did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM: killed", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # also any child that outlived its parent
    proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], cpu: int, port: int,
            logdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run argv pinned to cpu until the with-block ends; yield the process once it listens on port.

    The process gets its own process group, so workers it forks are stopped with it.
    Raises BenchError if it exits or does not listen within STARTUP_TIMEOUT.
    """
    log = log_file(logdir, name)
    with log.open("ab") as out:
        proc = subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{name} did not start listening on port {port}:\n{log_tail(log)}")
            time.sleep(0.02)
        yield proc
    finally:
        stop(name, proc)


def process_tree(root: int) -> list[int]:
    """root and all its descendants that are alive now."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of root's process tree, including its reaped children."""
    ticks = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / CLK_TCK


# --- backends and servers under test ---------------------------------------------------------


def nginx_stream_module() -> str:
    """The nginx config line that makes the stream module available ("" if built in)."""
    info = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=10).stderr
    if "--with-stream=dynamic" in info:
        module = NGINX_MODULES / "ngx_stream_module.so"
        if not module.exists():
            raise BenchError(f"nginx's stream module is not installed ({module}): "
                             "apt-get install libnginx-mod-stream")
        return f"load_module {module};"
    if "--with-stream" not in info:
        raise BenchError("this nginx has no stream module: apt-get install nginx-light libnginx-mod-stream")
    return ""


def nginx_config(work: Path, name: str, body: str, head: str = "") -> Path:
    """Write a one-worker, foreground nginx config; body goes at the top level."""
    conf = work / f"{name}.conf"
    conf.write_text(f"""{head}
daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {work}/{name}.pid;
error_log stderr warn;
events {{ worker_connections 8192; }}
{body}
""")
    return conf


def nginx_temp_paths(work: Path) -> str:
    """The http-level lines that keep nginx's temporary files in work (not /var/lib/nginx)."""
    return "\n".join(f"  {kind}_temp_path {work}/{kind}_temp;"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def nginx_backend(port: int, work: Path, name: str = "backend") -> list[str]:
    """nginx answering every request with 1 KiB, keep-alive without a request limit; name tells
    the config and pid files of several backends apart."""
    conf = nginx_config(work, name, f"""http {{
{nginx_temp_paths(work)}
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    default_type application/octet-stream;
    location / {{ return 200 "{"x" * BODY_SIZE}"; }}
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


def iperf3_backend(port: int, work: Path) -> list[str]:
    """iperf3 server: the sink (and source) of the bulk test."""
    return ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)]


def pipework_server(port: int, backend: int, work: Path) -> list[str]:
    """pipework's TCP forwarder, one worker, from the venv that runs this script."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: run 'make bench' or install pipework into this Python")
    return [str(exe), "proxy", "--listen", f"127.0.0.1:{port}", "--to", f"127.0.0.1:{backend}",
            "--log-level", "warning"]


def bare_server(port: int, backend: int, work: Path) -> list[str]:
    """A bare uvloop forwarder (bench/bare_forwarder.py): what uvloop alone costs."""
    return [sys.executable, str(Path(__file__).parent / "bare_forwarder.py"), str(port), str(backend)]


# The defaults section's lines by mode: in http, client connections kept alive and server
# connections reused by any client (nginx's upstream keepalive does as much).
HAPROXY_MODES = {
    "tcp": "    mode tcp\n",
    "http": "    mode http\n    option http-keep-alive\n    http-reuse always\n"
            "    timeout http-keep-alive 60s\n",
}


def haproxy_config(work: Path, name: str, body: str, mode: str = "tcp") -> Path:
    """Write a one-thread HAProxy config: its global and defaults sections (``HAPROXY_MODES``),
    then body (listen, frontend and backend sections)."""
    cfg = work / f"{name}.cfg"
    cfg.write_text(f"""global
    nbthread 1
    maxconn 8192
defaults
{HAPROXY_MODES[mode]}    timeout connect 5s
    timeout client 60s
    timeout server 60s
{body}""")
    return cfg


def haproxy_server(port: int, backend: int, work: Path) -> list[str]:
    """HAProxy in mode tcp, one thread, in the foreground."""
    cfg = haproxy_config(work, f"haproxy-{port}", f"""listen bench
    bind 127.0.0.1:{port}
    server backend 127.0.0.1:{backend}
""")
    return ["haproxy", "-f", str(cfg), "-db"]


def nginx_server(port: int, backend: int, work: Path) -> list[str]:
    """nginx's stream module proxying TCP, one worker (plus the idle master)."""
    conf = nginx_config(work, f"stream-{port}", f"""stream {{
  server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{backend}; }}
}}""", head=nginx_stream_module())
    return ["nginx", "-p", str(work), "-c", str(conf)]


Command = Callable[[int, int, Path], list[str]]  # (listen port, backend port, work dir) -> argv
# name -> (how to start it, the tools it needs besides taskset)
SERVERS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "pipework": (pipework_server, ()),
    "bare": (bare_server, ()),
    "haproxy": (haproxy_server, ("haproxy",)),
    "nginx": (nginx_server, ("nginx",)),
}


# --- load tools ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What one load run achieved, as reported by the load tool."""

    units: float  # requests, connections or MiB done
    rate: float  # requests/s, connections/s or Gbit/s
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0


@dataclass(frozen=True)
class Sample:
    """One load run against one server, with the CPU the server spent on it."""

    load: Load
    cpu_s: float
    wall_s: float

    @property
    def cpu_us_per_unit(self) -> float:
        return self.cpu_s * 1e6 / self.load.units if self.load.units else float("nan")

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_s / self.wall_s


def run_tool(argv: Sequence[str], cpu: int, duration: int) -> str:
    """Run a load tool pinned to cpu, killed if it overruns; return its stdout."""
    try:
        done = subprocess.run(["taskset", "-c", str(cpu), *argv], capture_output=True, text=True,
                              timeout=duration + RUN_MARGIN, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{argv[0]} did not finish within {duration + RUN_MARGIN:.0f} s") from exc
    if done.returncode != 0:
        output = done.stderr.strip() or done.stdout.strip()
        raise BenchError(f"{argv[0]} failed ({done.returncode}): {output}")
    return done.stdout


_WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk_latency_ms(out: str, percentile: str) -> float:
    """A percentile from wrk's --latency distribution, in ms."""
    m = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if not m:
        raise BenchError(f"no {percentile}% latency in wrk's output:\n{out}")
    return float(m[1]) * _WRK_UNITS_MS[m[2]]


def parse_wrk(out: str) -> Load:
    """Requests done, requests/s, p50/p99 and errors (socket errors and non-2xx) from wrk's output."""
    done = re.search(r"^\s*(\d+) requests in", out, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not done or not rate:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    errors += int(bad_status[1]) if bad_status else 0
    return Load(float(done[1]), float(rate[1]), wrk_latency_ms(out, "50"), wrk_latency_ms(out, "99"), errors)


def check_http(port: int) -> None:
    """One GET through the server: it must answer 200 with the backend's 1 KiB body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET through port {port} failed: {exc}") from exc
    finally:
        conn.close()
    if resp.status != 200 or len(body) != BODY_SIZE:
        raise BenchError(f"GET through port {port}: status {resp.status}, {len(body)} bytes")


def wrk(port: int, cpu: int, duration: int, extra: Sequence[str] = ()) -> Load:
    """wrk, one thread, CONNECTIONS connections, against the server on port."""
    out = run_tool(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", *extra,
                    f"http://127.0.0.1:{port}/"], cpu, duration)
    return parse_wrk(out)


def request_rate(port: int, cpu: int, duration: int) -> Load:
    """Keep-alive HTTP requests for a 1 KiB response."""
    return wrk(port, cpu, duration)


def connection_rate(port: int, cpu: int, duration: int) -> Load:
    """One request per connection: the backend closes each after its response."""
    return wrk(port, cpu, duration, ["-H", "Connection: close"])


def bulk(port: int, cpu: int, duration: int) -> Load:
    """One iperf3 TCP stream from client to server through the server under test."""
    out = run_tool(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(duration), "-J",
                    "--connect-timeout", "5000"], cpu, duration)
    received = json.loads(out)["end"]["sum_received"]  # iperf3 exits non-zero on errors
    return Load(received["bytes"] / MIB, received["bits_per_second"] / 1e9)


@dataclass(frozen=True)
class Test:
    """A measurement: the backend it needs, how to drive load, and how to label its numbers."""

    title: str
    rate_label: str
    unit: str  # of the work CPU time is divided by
    backend: Callable[[int, Path], list[str]]  # (port, work dir) -> argv
    tools: tuple[str, ...]
    measure: Callable[[int, int, int], Load]  # (port, cpu, duration) -> what the load tool saw
    check: Callable[[int], None] | None = None  # proves forwarding works before load is applied
    latency: bool = True  # whether the load tool reports latency percentiles
    rate_digits: int = 0


TESTS = {
    "rps": Test(title=f"request rate: keep-alive HTTP, 1 KiB responses, wrk -t1 -c{CONNECTIONS}",
                rate_label="req/s", unit="req", backend=nginx_backend, tools=("nginx", "wrk"),
                measure=request_rate, check=check_http),
    "bulk": Test(title="bulk throughput: one iperf3 TCP stream, client to server",
                 rate_label="Gbit/s", unit="MiB", backend=iperf3_backend, tools=("iperf3",),
                 measure=bulk, latency=False, rate_digits=2),
    "connrate": Test(title=f"connection rate: one request per connection, wrk -t1 -c{CONNECTIONS}",
                     rate_label="conn/s", unit="conn", backend=nginx_backend, tools=("nginx", "wrk"),
                     measure=connection_rate, check=check_http),
}


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The run's settings, from the command line."""

    duration: int
    servers: list[str]
    tests: list[str]
    server_cpu: int
    load_cpu: int
    rounds: int = 1  # runs of each server per test, interleaved; the median one is reported


Results = dict[str, dict[str, Sample | str]]  # test -> server -> sample, or why it failed


def measure(test: Test, server: str, backend: int, opts: Options, work: Path) -> Sample:
    """Start server forwarding to backend, drive test's load through it, return the sample."""
    port = free_port()
    name = f"{server}-{port}"
    argv = SERVERS[server][0](port, backend, work)
    with running(name, argv, opts.server_cpu, port, work) as proc:
        if test.check:
            test.check(port)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        load = test.measure(port, opts.load_cpu, opts.duration)
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        if proc.poll() is not None:
            raise BenchError(f"{name} exited during the run:\n{log_tail(log_file(work, name))}")
    return Sample(load, cpu1 - cpu0, t1 - t0)


def progress(test: str, server: str, outcome: Sample | str) -> None:
    """One line on stderr per load run, so a long run shows it is alive."""
    if isinstance(outcome, str):
        line = f"FAILED: {outcome}"
    else:
        line = f"{outcome.load.rate:,.2f} {TESTS[test].rate_label}, {outcome.cpu_percent:.0f}% CPU"
    print(f"  {test:<8} {server:<9} {line}", file=sys.stderr, flush=True)


def run_test(name: str, opts: Options, work: Path) -> dict[str, Sample | str]:
    """Run one test against every selected server, sharing one backend."""
    test = TESTS[name]
    backend = free_port()
    results: dict[str, Sample | str] = {}
    with running(f"backend-{name}", test.backend(backend, work), opts.load_cpu, backend, work):
        for server in opts.servers:
            try:
                results[server] = measure(test, server, backend, opts, work)
            except BenchError as exc:
                results[server] = str(exc)
            progress(name, server, results[server])
    return results


def run_all(opts: Options) -> Results:
    """Run every selected test in a scratch directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pipework-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as nobody when started by root
        return {name: run_test(name, opts, work) for name in opts.tests}


# --- reporting -------------------------------------------------------------------------------


Table = tuple[list[str], list[list[str]]]


def fmt(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators, or "-" for none."""
    return "-" if value is None else f"{value:,.{digits}f}"


def result_table(name: str, samples: dict[str, Sample | str]) -> Table:
    """One row per server: rate, latency, CPU per unit of work and CPU load."""
    test = TESTS[name]
    latency_head = ["p50 ms", "p99 ms"] if test.latency else []
    head = ["server", test.rate_label, *latency_head, f"CPU µs/{test.unit}", "CPU %", "errors"]
    rows = []
    for server, s in samples.items():
        if isinstance(s, str):
            rows.append([server, "failed", *["-"] * (len(head) - 2)])
            continue
        rate = fmt(s.load.rate, test.rate_digits)
        latency = [fmt(s.load.p50_ms, 2), fmt(s.load.p99_ms, 2)] if test.latency else []
        cpu = [fmt(s.cpu_us_per_unit), fmt(s.cpu_percent, 0)]
        rows.append([server, rate, *latency, *cpu, str(s.load.errors)])
    return head, rows


def ratio_table(results: Results) -> Table:
    """pipework/peer for rate (higher is better) and CPU per unit (lower is better)."""
    head = ["test", "pipework vs", "rate ratio", "CPU/unit ratio"]
    rows = []
    for name, samples in results.items():
        ours = samples.get("pipework")
        for peer in ("haproxy", "nginx"):
            theirs = samples.get(peer)
            if isinstance(ours, Sample) and isinstance(theirs, Sample):
                rows.append([name, peer, f"{ours.load.rate / theirs.load.rate:.2f}",
                             f"{ours.cpu_us_per_unit / theirs.cpu_us_per_unit:.2f}"])
    return head, rows


def text_table(table: Table) -> str:
    head, rows = table
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = (c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells)

    return "\n".join(line(r) for r in [head, *rows])


def markdown_table(table: Table) -> str:
    head, rows = table
    lines = [head, ["---"] + ["--:"] * (len(head) - 1), *rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


def sections(results: Results) -> list[tuple[str, Table]]:
    """The titled tables of a run: one per test, then the ratios."""
    out = [(TESTS[name].title, result_table(name, samples)) for name, samples in results.items()]
    ratios = ratio_table(results)
    if ratios[1]:
        out.append(("pipework / peer (rate: >1 is faster; CPU/unit: <1 is cheaper)", ratios))
    return out


def first_line(argv: Sequence[str]) -> str:
    """The first line a command prints (on stdout or stderr), or 'not installed'."""
    if not shutil.which(argv[0]):
        return "not installed"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return (done.stdout or done.stderr).strip().splitlines()[0]


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was besides this run."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    try:
        uvloop = importlib.metadata.version("uvloop")
    except importlib.metadata.PackageNotFoundError:
        uvloop = "not installed"
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True, timeout=10).stdout.strip()
    return [
        f"date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: {os.cpu_count()} CPUs, {model[1] if model else 'unknown CPU'}, "
        f"Linux {os.uname().release}, load average at start {loadavg()}",
        f"pipework: {commit or 'unknown commit'}, Python {sys.version.split()[0]}, uvloop {uvloop}",
        f"peers: {first_line(['nginx', '-v'])}; {first_line(['haproxy', '-v'])}",
        f"load tools: {first_line(['wrk', '--version'])}; {first_line(['iperf3', '--version'])}",
        f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
        f"load tool and backend on CPU {opts.load_cpu}, all on 127.0.0.1",
    ]


def failures(results: Results) -> str:
    """Why each failed run failed, one block per run ("" if none failed)."""
    return "\n".join(f"{name} / {server}: {s}" for name, samples in results.items()
                     for server, s in samples.items() if isinstance(s, str))


def report_text(env: list[str], results: Results) -> str:
    parts = ["\n".join(env)]
    parts += [f"{title}\n{text_table(table)}" for title, table in sections(results)]
    if failed := failures(results):
        parts.append(f"failures\n{failed}")
    return "\n\n".join(parts)


def report_markdown(env: list[str], results: Results, note: str) -> str:
    parts = ["# pipework benchmark results: TCP forwarding",
             "Made by `bench/run.py`; see bench/README.md for the setup and how to rerun it.",
             "\n".join(f"- {line}" for line in env)]
    if note:
        parts.append(f"> {note}")
    parts += [f"## {title}\n\n{markdown_table(table)}" for title, table in sections(results)]
    if failed := failures(results):
        parts.append(f"## failures\n\n```\n{failed}\n```")
    return "\n\n".join(parts) + "\n"


# --- command line ----------------------------------------------------------------------------


def write_section(path: Path, heading: str, section: str) -> None:
    """Put section into the markdown file at path: in place of its ``heading`` section if it has
    one (up to the next level-2 heading), else appended; the rest of the file is kept."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        before, after = "".join(lines).rstrip("\n"), ""
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, after = "".join(lines[:start]).rstrip("\n"), "".join(lines[end:])
    text = (before + "\n\n" if before else "") + section + ("\n" + after if after else "")
    path.write_text(text)


def choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated subset of allowed, kept in allowed's order."""
    def parse(text: str) -> list[str]:
        picked = {s.strip() for s in text.split(",") if s.strip()}
        if not picked or picked - set(allowed):
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        return [a for a in allowed if a in picked]
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, metavar="SECONDS", help="length of each load run")
    p.add_argument("--quick", action="store_true", help="2 s runs, for smoke testing")
    p.add_argument("--only", type=choices(list(SERVERS)), default=list(SERVERS), metavar="SERVERS",
                   help="comma-separated servers to run (default: pipework,haproxy,nginx)")
    p.add_argument("--tests", type=choices(list(TESTS)), default=list(TESTS), metavar="TESTS",
                   help="comma-separated tests to run (default: rps,bulk,connrate)")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the results as markdown")
    p.add_argument("--note", default="", help="a remark for the markdown report's header")
    p.add_argument("--server-cpu", type=int, default=0, metavar="N", help="core of the server under test")
    p.add_argument("--load-cpu", type=int, default=1, metavar="N", help="core of the load tool and backend")
    return p


def missing_tools(opts: Options) -> list[str]:
    """One line per tool the selected servers and tests need that is not on PATH."""
    needed = {"taskset"}
    for server in opts.servers:
        needed.update(SERVERS[server][1])
    for test in opts.tests:
        needed.update(TESTS[test].tools)
    missing = sorted(tool for tool in needed if not shutil.which(tool))
    return [f"{tool}: apt-get install {APT_PACKAGES[tool]}" for tool in missing]


def preflight(opts: Options) -> None:
    """Fail early, with the fix, if a tool, nginx's stream module or a core is missing."""
    missing = missing_tools(opts)
    if missing:
        raise BenchError("missing tools:\n  " + "\n  ".join(missing))
    if "nginx" in opts.servers:
        nginx_stream_module()
    cores = os.sched_getaffinity(0)
    if opts.server_cpu == opts.load_cpu or not {opts.server_cpu, opts.load_cpu} <= cores:
        raise BenchError(f"need two distinct cores among {sorted(cores)} "
                         f"(--server-cpu {opts.server_cpu}, --load-cpu {opts.load_cpu})")


def measured(
    opts: Options,
    preflight: Callable[[], None],
    environment: Callable[[Options], list[str]],
    run_all: Callable[[Options], Results],
) -> tuple[list[str], Results] | int:
    """A benchmark's checks and runs: (the environment lines, the results), or the exit status
    when it cannot go on (2: a tool or core is missing, 130: interrupted; servers are stopped)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwind and stop servers on SIGTERM too
    try:
        preflight()
        env = environment(opts)
        results = run_all(opts)
        env.append(f"load average at end: {loadavg()}")
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; every server started was stopped", file=sys.stderr)
        return 130
    return env, results


def exit_status(results: Results) -> int:
    """1 if a run failed, else 0."""
    return 1 if any(isinstance(s, str) for samples in results.values() for s in samples.values()) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    opts = Options(2 if args.quick else args.duration, args.only, args.tests, args.server_cpu, args.load_cpu)
    got = measured(opts, lambda: preflight(opts), environment, run_all)
    if isinstance(got, int):
        return got
    env, results = got
    print(report_text(env, results))
    if args.markdown:
        args.markdown.write_text(report_markdown(env, results, args.note))
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
