"""Benchmark pipework's HTTP reverse proxy (`pipework reverse-proxy`) against nginx, HAProxy and a bare one.

Theory of operation: for each test (wrk connection count) the runner starts an nginx backend that
answers every GET with 1 KiB, and for each server under test it starts the server fresh on
127.0.0.1 with a free port, proxying HTTP/1.1 to that backend over kept-alive connections, checks
that one GET through it returns 200 with exactly the backend's body, and drives keep-alive load
through it with wrk. The servers are `pipework reverse-proxy` (one worker), nginx `proxy_pass` to an
upstream with `keepalive 64` (one worker), HAProxy in `mode http` with `http-reuse` (one thread),
and `bench/bare_proxy.py` — uvloop + httptools with a pool of upstream connections, the ceiling for
a Python reverse proxy. The server is pinned to one core, wrk and the backend to the other, with
taskset; the server's CPU time (utime + stime of its process tree, from /proc) is read before and
after each run and divided by the requests done. Every process started is stopped at the end, also
on Ctrl-C, SIGTERM or failure. The helpers come from bench/run.py (the TCP benchmark).

Usage: bench/http_proxy.py [--quick] [--duration S] [--only pipework,nginx] [--markdown FILE]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import http_bench
import run
from run import BenchError, Options, Results, Sample

CONCURRENCY = (50, 200)  # wrk -c of the tests
# The targets for the reverse proxy against nginx in the same run.
TARGET_CPU = 1.5  # pipework's CPU per request at most this many times nginx's
TARGET_RATE = 0.8  # pipework's requests/s at least this many times nginx's


@dataclass(frozen=True)
class Test:
    """One load: keep-alive GETs of the backend's 1 KiB body through the proxy, one wrk thread."""

    name: str  # e.g. "1k-c50"
    connections: int

    @property
    def title(self) -> str:
        return f"reverse proxy, 1 KiB responses: keep-alive GET, wrk -t1 -c{self.connections}"


TESTS = {t.name: t for t in (Test(f"1k-c{c}", c) for c in CONCURRENCY)}


# --- servers under test ----------------------------------------------------------------------


def pipework_server(port: int, backend: int, work: Path) -> list[str]:
    """`pipework reverse-proxy` to the backend, one worker (this process), from this venv."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install pipework into this Python (make)")
    return [
        str(exe),
        "reverse-proxy",
        "--listen",
        f"127.0.0.1:{port}",
        "--to",
        f"http://127.0.0.1:{backend}",
        "--log-level",
        "warning",
    ]


def bare_server(port: int, backend: int, work: Path) -> list[str]:
    """bench/bare_proxy.py: uvloop + httptools, a pool of kept-alive upstream connections."""
    script = Path(__file__).resolve().parent / "bare_proxy.py"
    return [sys.executable, str(script), str(port), str(backend)]


def nginx_server(port: int, backend: int, work: Path) -> list[str]:
    """nginx proxy_pass over HTTP/1.1 to an upstream kept alive (keepalive 64), one worker."""
    temp = "\n".join(
        f"  {kind}_temp_path {work}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = run.nginx_config(
        work,
        f"proxy-{port}",
        f"""http {{
{temp}
  access_log off;
  keepalive_requests 1000000;
  upstream backend {{
    server 127.0.0.1:{backend};
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}""",
    )
    return ["nginx", "-p", str(work), "-c", str(conf)]


def haproxy_server(port: int, backend: int, work: Path) -> list[str]:
    """HAProxy in mode http, one thread, reusing kept-alive server connections, no logging."""
    cfg = work / f"haproxy-{port}.cfg"
    cfg.write_text(f"""global
    nbthread 1
    maxconn 8192
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
listen bench
    bind 127.0.0.1:{port}
    server backend 127.0.0.1:{backend}
""")
    return ["haproxy", "-f", str(cfg), "-db"]


Command = Callable[[int, int, Path], list[str]]  # (listen port, backend port, work dir) -> argv
# name -> (how to start it, the tools it needs besides taskset, wrk and nginx)
SERVERS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "pipework": (pipework_server, ()),
    "bare": (bare_server, ()),
    "nginx": (nginx_server, ()),
    "haproxy": (haproxy_server, ("haproxy",)),
}
PEERS = ("nginx", "haproxy", "bare")  # what pipework is compared with in the ratio table


# --- the run ---------------------------------------------------------------------------------




def check_proxy(port: int, body: bytes) -> None:
    """One GET through the proxy: it must answer 200 with exactly the backend's body."""
    status, _, got = http_bench.get(port)
    if status != 200 or got != body:
        same = "the backend's body" if got == body else f"{len(got)} bytes, not the backend's {len(body)}"
        raise BenchError(f"GET / through port {port}: status {status}, {same}")


def measure(test: Test, server: str, backend: int, body: bytes, opts: Options, work: Path) -> Sample:
    """Start server in front of backend, check it forwards, load it with wrk, return the sample."""
    port = run.free_port()
    return http_bench.sample(
        f"{server}-{test.name}-{port}", SERVERS[server][0](port, backend, work), port, opts, work,
        lambda: check_proxy(port, body), lambda: http_bench.wrk_get(port, test.connections, opts),
    )  # fmt: skip


def run_test(test: Test, opts: Options, work: Path) -> dict[str, Sample | str]:
    """Run one test against every selected server, sharing one nginx backend on the load core."""
    backend = run.free_port()
    name = f"backend-{test.name}"
    with run.running(name, run.nginx_backend(backend, work), opts.load_cpu, backend, work):
        status, _, body = http_bench.get(backend)
        if status != 200 or len(body) != run.BODY_SIZE:
            raise BenchError(f"the backend answered {status} with {len(body)} bytes, not 200 with 1 KiB")
        return http_bench.rounds(
            opts, test.name, lambda server: measure(test, server, backend, body, opts, work)
        )


def run_all(opts: Options) -> Results:
    """Run every selected test against every selected server in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="pipework-bench-proxy-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as nobody when started by root
        return {name: run_test(TESTS[name], opts, work) for name in opts.tests}


# --- reporting -------------------------------------------------------------------------------


def targets(results: Results) -> list[str]:
    """Per test: the issue's targets against nginx, met or not, and the distance to the bare proxy."""
    lines = []
    for name, samples in results.items():
        ours, nginx, bare = samples.get("pipework"), samples.get("nginx"), samples.get("bare")
        if not isinstance(ours, Sample):
            continue
        checks = []
        if isinstance(nginx, Sample):
            cpu = ours.cpu_us_per_unit / nginx.cpu_us_per_unit
            rate = ours.load.rate / nginx.load.rate
            checks += [
                f"CPU/req {cpu:.2f}x nginx ({'met' if cpu <= TARGET_CPU else 'missed'}, <= {TARGET_CPU}x)",
                f"req/s {rate:.2f}x nginx ({'met' if rate >= TARGET_RATE else 'missed'}, >= {TARGET_RATE}x)",
            ]
        if isinstance(bare, Sample):
            checks.append(
                f"ceiling: {ours.cpu_us_per_unit / bare.cpu_us_per_unit:.2f}x the bare proxy's "
                f"CPU/req, {ours.load.rate / bare.load.rate:.2f}x its req/s"
            )
        if checks:
            lines.append(f"{name}: " + "; ".join(checks))
    return lines


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    base = run.environment(run.Options(opts.duration, [], [], opts.server_cpu, opts.load_cpu))
    keep = [line for line in base if line.startswith(("date:", "machine:", "pipework:"))]
    return [
        *keep,
        f"peers: {run.first_line(['nginx', '-v'])}; {run.first_line(['haproxy', '-v'])}; "
        "bare = bench/bare_proxy.py (uvloop + httptools)",
        "backend: nginx answering every GET with 1 KiB",
        f"load tool: {run.first_line(['wrk', '--version'])}",
        f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
        f"wrk and the backend on CPU {opts.load_cpu}, all on 127.0.0.1",
    ]


SECTION = "## Reverse proxy"  # the markdown heading of this benchmark's section
TARGETS_TITLE = f"targets (reverse proxy vs nginx: CPU/req <= {TARGET_CPU}x, req/s >= {TARGET_RATE}x)"
INTRO = (
    "Made by `bench/http_proxy.py` (`pipework reverse-proxy` beside nginx, HAProxy and "
    "`bench/bare_proxy.py`); see bench/README.md for the setup and how to rerun it."
)
REPORT = http_bench.Report(
    SECTION, INTRO, {name: test.title for name, test in TESTS.items()}, PEERS, TARGETS_TITLE, targets
)


# --- command line ----------------------------------------------------------------------------


#: the tools a run needs: these, and the selected servers' own
needed = http_bench.tools_needed(SERVERS, "taskset", "wrk", "nginx")


def main(argv: Sequence[str] | None = None) -> int:
    args = http_bench.parser(
        __doc__ or "", list(SERVERS), list(TESTS), SECTION, "core of wrk and the backend"
    ).parse_args(argv)
    return http_bench.main(args, needed, environment, run_all, REPORT)


if __name__ == "__main__":
    sys.exit(main())
