"""Benchmark pipework's HTTP cache (`cache_http` in front of `proxy`) against nginx's and HAProxy's.

Theory of operation: for each test (wrk connection count) the runner starts an nginx backend that
answers every GET with 1 KiB and `Cache-Control: public, max-age=3600`, and for each server under
test it starts the server fresh on 127.0.0.1 with a free port, caching in front of that backend.
It checks that the first GET is a miss and the second a hit with exactly the backend's body, then
drives keep-alive load with wrk: every request after the first is a hit, answered from memory
without the backend. The servers are a pipework script (`pw.HttpCache` + `cache_http().to(proxy)`,
one worker), nginx with `proxy_cache` (its cache directory on /dev/shm, so in memory, one worker)
and HAProxy's in-memory `cache` (one thread). The server is pinned to one core, wrk and the backend
to the other; the server's CPU time (utime + stime of its process tree, from /proc) is read before
and after each run and divided by the requests done. The helpers come from bench/run.py and
bench/http_bench.py.

Usage: bench/http_cache.py [--quick] [--duration S] [--rounds N] [--only pipework,nginx] [--markdown FILE]
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
CACHE_CONTROL = "public, max-age=3600"


@dataclass(frozen=True)
class Test:
    """One load: keep-alive GETs of one cached 1 KiB response, one wrk thread."""

    name: str  # e.g. "hit-c50"
    connections: int

    @property
    def title(self) -> str:
        return f"cache hits, 1 KiB responses: keep-alive GET, wrk -t1 -c{self.connections}"


TESTS = {t.name: t for t in (Test(f"hit-c{c}", c) for c in CONCURRENCY)}


# --- the backend and the servers under test --------------------------------------------------


def backend_server(port: int, work: Path) -> list[str]:
    """nginx answering every GET with 1 KiB that caches may keep for an hour."""
    conf = run.nginx_config(work, f"backend-{port}", f"""http {{
{run.nginx_temp_paths(work)}
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    default_type application/octet-stream;
    add_header Cache-Control "{CACHE_CONTROL}";
    location / {{ return 200 "{"x" * run.BODY_SIZE}"; }}
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


def pipework_server(port: int, backend: int, work: Path) -> list[str]:
    """A pipework script: an HttpCache in front of a proxy to the backend, one worker."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install pipework into this Python (make)")
    script = work / f"cache-{port}.py"
    script.write_text(f"""import pipework as pw

cache = pw.HttpCache(max_size=64 << 20, name="bench")
pw.listen("127.0.0.1:{port}", lambda p: p.demux_http().to(
    lambda p: p.cache_http(cache).to(lambda p: p.proxy("127.0.0.1:{backend}"))))
""")
    return [str(exe), "run", str(script), "--log-level", "warning"]


def nginx_server(port: int, backend: int, work: Path) -> list[str]:
    """nginx proxy_cache (the cache on /dev/shm: memory), kept-alive upstream, one worker."""
    store = Path(tempfile.mkdtemp(prefix="pipework-bench-nginx-cache-", dir="/dev/shm"))
    store.chmod(0o777)  # nginx workers run as nobody when started by root
    conf = run.nginx_config(work, f"cache-{port}", f"""http {{
{run.nginx_temp_paths(work)}
  access_log off;
  keepalive_requests 1000000;
  proxy_cache_path {store} levels=1:2 keys_zone=bench:10m max_size=64m inactive=1h use_temp_path=off;
  upstream backend {{
    server 127.0.0.1:{backend};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_cache bench;
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header X-Cache $upstream_cache_status;
    }}
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


def haproxy_server(port: int, backend: int, work: Path) -> list[str]:
    """HAProxy's in-memory cache, one thread, reusing kept-alive server connections."""
    cfg = work / f"haproxy-cache-{port}.cfg"
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
cache bench
    total-max-size 64
    max-object-size 65536
    max-age 3600
listen bench
    bind 127.0.0.1:{port}
    http-request cache-use bench
    http-response cache-store bench
    http-response set-header X-Cache HIT if !{{ srv_id -m found }}
    server backend 127.0.0.1:{backend}
""")
    return ["haproxy", "-f", str(cfg), "-db"]


Command = Callable[[int, int, Path], list[str]]  # (listen port, backend port, work dir) -> argv
# name -> (how to start it, the tools it needs besides taskset, wrk and nginx)
SERVERS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "pipework": (pipework_server, ()),
    "nginx": (nginx_server, ()),
    "haproxy": (haproxy_server, ("haproxy",)),
}
PEERS = ("nginx", "haproxy")  # what pipework is compared with in the ratio table


# --- the run ---------------------------------------------------------------------------------


def check_cache(port: int, body: bytes) -> None:
    """The first GET fills the cache, the second is a hit with exactly the backend's body."""
    http_bench.get(port)
    status, fields, got = http_bench.get(port)
    if status != 200 or got != body or fields.get("x-cache") != "HIT":
        raise BenchError(
            f"GET / on port {port}: status {status}, X-Cache {fields.get('x-cache')!r}, "
            f"{'the backend body' if got == body else f'{len(got)} bytes'}: not a cache hit"
        )


def run_test(test: Test, opts: Options, work: Path) -> dict[str, Sample | str]:
    """Run one test against every selected server, sharing one backend on the load core."""
    backend = run.free_port()
    with run.running(f"backend-{test.name}", backend_server(backend, work), opts.load_cpu, backend, work):
        status, _, body = http_bench.get(backend)
        if status != 200 or len(body) != run.BODY_SIZE:
            raise BenchError(f"the backend answered {status} with {len(body)} bytes, not 200 with 1 KiB")

        def measure(server: str) -> Sample:
            port = run.free_port()
            argv = SERVERS[server][0](port, backend, work)
            return http_bench.sample(
                f"{server}-{test.name}-{port}", argv, port, opts, work,
                lambda: check_cache(port, body), lambda: http_bench.wrk_get(port, test.connections, opts),
            )  # fmt: skip

        return http_bench.rounds(opts, test.name, measure)


def run_all(opts: Options) -> Results:
    """Run every selected test against every selected server in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="pipework-bench-cache-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as nobody when started by root
        return {name: run_test(TESTS[name], opts, work) for name in opts.tests}


# --- reporting -------------------------------------------------------------------------------


def targets(results: Results) -> list[str]:
    """No issue sets a target for the cache yet: the distance to nginx, for the record."""
    lines = []
    for name, samples in results.items():
        ours, nginx = samples.get("pipework"), samples.get("nginx")
        if isinstance(ours, Sample) and isinstance(nginx, Sample):
            lines.append(
                f"{name}: CPU/req {ours.cpu_us_per_unit / nginx.cpu_us_per_unit:.2f}x nginx's, "
                f"req/s {ours.load.rate / nginx.load.rate:.2f}x"
            )
    return lines


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    base = run.environment(run.Options(opts.duration, [], [], opts.server_cpu, opts.load_cpu))
    keep = [line for line in base if line.startswith(("date:", "machine:", "pipework:"))]
    return [
        *keep,
        f"peers: {run.first_line(['nginx', '-v'])} (proxy_cache on /dev/shm); "
        f"{run.first_line(['haproxy', '-v'])} (cache section)",
        f"backend: nginx answering every GET with 1 KiB and Cache-Control: {CACHE_CONTROL}",
        f"load tool: {run.first_line(['wrk', '--version'])}",
        f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
        f"wrk and the backend on CPU {opts.load_cpu}, all on 127.0.0.1",
    ]


SECTION = "## HTTP cache"  # the markdown heading of this benchmark's section
TARGETS_TITLE = "pipework's cache hits against nginx's (no target set yet)"
INTRO = (
    "Made by `bench/http_cache.py` (`cache_http` in front of `proxy` beside nginx's `proxy_cache` and "
    "HAProxy's `cache`); see bench/README.md for the setup and how to rerun it."
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
