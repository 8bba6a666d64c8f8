"""Benchmark pipework balancing and routing HTTP (least connections over 4 backends, 100 routes)
against nginx and HAProxy doing the same.

Theory of operation: for each test (wrk connection count) the runner starts four nginx backends
that answer every GET with 1 KiB, and for each server under test it starts the server fresh on
127.0.0.1 with a free port, with the same 100 routes (50 exact paths, 49 prefixes and the
catch-all prefix ``/``) all sending requests to the four backends, balanced by least connections
over kept-alive connections. It checks that a GET of every route's request path answers 200 with
exactly the backends' body, then drives keep-alive load with wrk cycling through those 100 paths
(a Lua script of requests formatted once). The servers are a `pipework run` script
(``pw.Upstream(..., balancer="least_conn")``, ``pw.Router``, ``p.route``; one worker), nginx
(``least_conn``, ``keepalive 64``, 100 ``location`` blocks; one worker) and HAProxy
(``balance leastconn``, ``http-reuse always``, 99 ``use_backend`` rules and a default; one
thread). The server is pinned to one core, wrk and the backends to the other; the server's CPU
time is read from /proc before and after each run and divided by the requests done, and every
backend must have spent CPU time during the run (the balancer spread the load). After the load
runs, ``bench/router_bench.py``'s lookup cost at 10, 1,000 and 10,000 routes is measured in this
process (the issue's second target). Every process started is stopped at the end, also on Ctrl-C,
SIGTERM or failure. The machinery is bench/run.py's and bench/http_bench.py's.

Usage: bench/http_lb.py [--quick] [--duration S] [--only pipework,nginx] [--markdown FILE]
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import http_bench
import http_proxy
import router_bench
import run
from run import BenchError, Load, Options, Results, Sample, Table, fmt

BACKENDS = 4
EXACT = tuple(f"/api/v1/items{i}" for i in range(50))  # location = ... / path ...
PREFIXES = (*(f"/svc{i}/" for i in range(49)), "/")  # location ... / path_beg ...; "/" catches the rest
PATHS = (*EXACT, *(f"{prefix}index.html" for prefix in PREFIXES))  # one request per route, in turn
TARGET_RATE = 0.7  # the target: pipework's requests/s at least this many times nginx's
ROUTER_SECONDS = {False: 0.2, True: 0.05}  # router_bench time per kind and size; by --quick


class Test(http_proxy.Test):
    """One load: keep-alive GETs of the 100 routes' paths in turn, one wrk thread."""

    @property
    def title(self) -> str:
        return (f"least connections over {BACKENDS} backends, {len(PATHS)} routes, 1 KiB responses: "
                f"keep-alive GET, wrk -t1 -c{self.connections}")


TESTS = {t.name: t for t in (Test(f"lb-c{c}", c) for c in http_proxy.CONCURRENCY)}


# --- servers under test ----------------------------------------------------------------------


def pipework_server(port: int, backends: Sequence[int], work: Path) -> list[str]:
    """`pipework run` of a script routing the 100 routes to one least-connections upstream."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install pipework into this Python (make)")
    script = work / f"lb-{port}.py"
    script.write_text(f"""import pipework as pw

up = pw.Upstream({[f"127.0.0.1:{b}" for b in backends]!r}, balancer="least_conn")
routes = pw.Router()
for path in {EXACT!r}:
    routes.add(up, path=path)
for prefix in {PREFIXES!r}:
    routes.add(up, prefix=prefix)
pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes))))
""")
    return [str(exe), "run", str(script), "--log-level", "warning"]


def nginx_server(port: int, backends: Sequence[int], work: Path) -> list[str]:
    """nginx, one worker: an upstream with least_conn and keepalive 64, a location per route."""
    servers = "\n".join(f"    server 127.0.0.1:{b};" for b in backends)
    locations = "\n".join(
        [f"    location = {path} {{ proxy_pass http://lb; }}" for path in EXACT]
        + [f"    location {prefix} {{ proxy_pass http://lb; }}" for prefix in PREFIXES]
    )
    conf = run.nginx_config(work, f"lb-{port}", f"""http {{
{run.nginx_temp_paths(work)}
  access_log off;
  keepalive_requests 1000000;
  upstream lb {{
    least_conn;
{servers}
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
{locations}
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


def haproxy_server(port: int, backends: Sequence[int], work: Path) -> list[str]:
    """HAProxy, one thread: balance leastconn, server connections reused, a rule per route."""
    rules = "\n".join(
        [f"    use_backend lb if {{ path {path} }}" for path in EXACT]
        + [f"    use_backend lb if {{ path_beg {prefix} }}" for prefix in PREFIXES if prefix != "/"]
    )
    servers = "\n".join(f"    server b{i} 127.0.0.1:{b}" for i, b in enumerate(backends))
    cfg = run.haproxy_config(work, f"haproxy-lb-{port}", f"""frontend bench
    bind 127.0.0.1:{port}
{rules}
    default_backend lb
backend lb
    balance leastconn
{servers}
""", mode="http")
    return ["haproxy", "-f", str(cfg), "-db"]


Command = Callable[[int, Sequence[int], Path], list[str]]  # (listen port, backend ports, work) -> argv
# name -> (how to start it, the tools it needs besides taskset, wrk and nginx)
SERVERS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "pipework": (pipework_server, ()),
    "nginx": (nginx_server, ()),
    "haproxy": (haproxy_server, ("haproxy",)),
}
PEERS = ("nginx", "haproxy")  # what pipework is compared with in the ratio table


# --- the run ---------------------------------------------------------------------------------


def check_routes(port: int, body: bytes) -> None:
    """A GET of every route's path on one kept-alive connection: each must answer 200 with body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for path in PATHS:
            conn.request("GET", path)
            resp = conn.getresponse()
            got = resp.read()
            if resp.status != 200 or got != body:
                raise BenchError(f"GET {path} on port {port}: status {resp.status}, {len(got)} bytes "
                                 f"({'the' if got == body else 'not the'} backends' body)")
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET on port {port} failed: {exc}") from exc
    finally:
        conn.close()


def wrk_script(work: Path) -> Path:
    """A wrk Lua script sending PATHS in turn; the requests are formatted once, in init."""
    script = work / "routes.lua"
    paths = ", ".join(f'"{path}"' for path in PATHS)
    script.write_text(f"""local paths = {{{paths}}}
local requests = {{}}
local i = 0
init = function(args)
  for k, path in ipairs(paths) do requests[k] = wrk.format("GET", path) end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
""")
    return script


def wrk_routes(port: int, test: Test, script: Path, cpu: int, duration: int) -> Load:
    """wrk, one thread, keep-alive, test.connections connections, the routes' paths in turn."""
    out = run.run_tool(["wrk", "-t1", f"-c{test.connections}", f"-d{duration}s", "--latency",
                        "-s", str(script), f"http://127.0.0.1:{port}/"], cpu, duration)
    return run.parse_wrk(out)


def measure(test: Test, server: str, backends: dict[int, int], body: bytes, opts: Options,
            work: Path) -> Sample:
    """Start server in front of backends (port -> pid), check every route, load it with wrk,
    check that every backend worked, return the sample."""
    port = run.free_port()
    name = f"{server}-{test.name}-{port}"
    argv = SERVERS[server][0](port, list(backends), work)
    script = work / "routes.lua"
    before = {b: run.cpu_seconds(pid) for b, pid in backends.items()}
    got = http_bench.sample(name, argv, port, opts, work, lambda: check_routes(port, body),
                            lambda: wrk_routes(port, test, script, opts.load_cpu, opts.duration))
    idle = [b for b, pid in backends.items() if run.cpu_seconds(pid) <= before[b]]
    if idle:
        raise BenchError(f"{name}: backends on ports {idle} spent no CPU time: the load was not spread")
    log = run.log_file(work, name)
    if log.read_text(errors="replace").strip():  # warnings or errors: worth a look, not a failure
        print(f"  {name} logged:\n{run.log_tail(log)}", file=sys.stderr)
    return got


def run_test(test: Test, opts: Options, work: Path) -> dict[str, Sample | str]:
    """Run one test against every selected server, sharing four nginx backends on the load core."""
    with contextlib.ExitStack() as stack:
        backends: dict[int, int] = {}
        for i in range(BACKENDS):
            port = run.free_port()
            name = f"backend{i}-{test.name}"
            argv = run.nginx_backend(port, work, name)
            backends[port] = stack.enter_context(run.running(name, argv, opts.load_cpu, port, work)).pid
        body = b"x" * run.BODY_SIZE  # what run.nginx_backend answers; check_routes compares with it
        return http_bench.rounds(
            opts, test.name, lambda server: measure(test, server, backends, body, opts, work)
        )


@contextlib.contextmanager
def pinned(cpu: int) -> Iterator[None]:
    """This process on cpu only, for the with-block."""
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def run_all(opts: Options, router: list[router_bench.Row], seconds: float) -> Results:
    """Run every selected test against every selected server in a scratch directory, then
    measure router lookups on the server core into ``router``."""
    with tempfile.TemporaryDirectory(prefix="pipework-bench-lb-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as nobody when started by root
        wrk_script(work)
        results = {name: run_test(TESTS[name], opts, work) for name in opts.tests}
    print("  router lookups (bench/router_bench.py) ...", file=sys.stderr, flush=True)
    with pinned(opts.server_cpu):
        router += router_bench.measure(router_bench.SIZES, seconds)
    return results


# --- reporting -------------------------------------------------------------------------------


def router_table(rows: Sequence[router_bench.Row]) -> Table:
    """Router lookup µs per match by kind of request, a row per router size."""
    head = ["routes", "build ms", *(f"{kind} µs" for kind in router_bench.KINDS)]
    kinds = router_bench.KINDS
    return head, [[f"{row.routes:,}", fmt(row.build_ms), *(fmt(row.us.get(kind), 2) for kind in kinds)]
                  for row in rows]


def targets(results: Results, router: Sequence[router_bench.Row]) -> list[str]:
    """Per test: the rate target against nginx, met or not, and the CPU per request beside nginx's
    and HAProxy's; then the router's growth from size to size against the routes' growth."""
    lines = []
    for name, samples in results.items():
        ours = samples.get("pipework")
        if not isinstance(ours, Sample):
            continue
        checks = []
        for peer in PEERS:
            theirs = samples.get(peer)
            if not isinstance(theirs, Sample):
                continue
            rate = ours.load.rate / theirs.load.rate
            met = "met" if rate >= TARGET_RATE else "missed"
            met = f" ({met}, >= {TARGET_RATE}x)" if peer == "nginx" else ""
            checks.append(f"req/s {rate:.2f}x {peer}{met}, "
                          f"CPU/req {ours.cpu_us_per_unit / theirs.cpu_us_per_unit:.2f}x {peer}")
        if checks:
            lines.append(f"{name}: " + "; ".join(checks))
    for lo, hi, factor in router_bench.growth(router):
        verdict = "met" if factor < hi / lo else "missed"
        lines.append(f"router lookup, {lo:,} -> {hi:,} routes (x{hi / lo:g}): slowest kind x{factor:.2f} "
                     f"({verdict}, sub-linear: < x{hi / lo:g})")
    return lines


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    return [
        *http_bench.environment_head(opts),
        f"peers: {run.first_line(['nginx', '-v'])}; {run.first_line(['haproxy', '-v'])}",
        f"backends: {BACKENDS} nginx answering every GET with 1 KiB; routes: {len(EXACT)} exact paths, "
        f"{len(PREFIXES) - 1} prefixes and /, all to the {BACKENDS} backends by least connections",
        f"load tool: {run.first_line(['wrk', '--version'])}, the {len(PATHS)} routes' paths in turn",
        f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
        f"wrk and the backends on CPU {opts.load_cpu}, all on 127.0.0.1; router lookups in-process "
        f"on CPU {opts.server_cpu}",
    ]


SECTION = "## Load balancing and routing"  # the markdown heading of this benchmark's section
TARGETS_TITLE = (f"targets (least connections + 100 routes vs nginx: req/s >= {TARGET_RATE}x; "
                 "router lookup cost sub-linear in the number of routes)")
INTRO = (
    "Made by `bench/http_lb.py` (a `pipework run` script with `pw.Upstream(..., balancer=\"least_conn\")` "
    "and `pw.Router` beside nginx and HAProxy, and `bench/router_bench.py`'s lookups); see "
    "bench/README.md for the setup and how to rerun it."
)
ROUTER_TITLE = "router lookup, µs per match (bench/router_bench.py; best of 5, wall time)"


# --- command line ----------------------------------------------------------------------------


#: the tools a run needs: these, and the selected servers' own
needed = http_bench.tools_needed(SERVERS, "taskset", "wrk", "nginx")


def main(argv: Sequence[str] | None = None) -> int:
    args = http_bench.parser(
        __doc__ or "", list(SERVERS), list(TESTS), SECTION, "core of wrk and the backends"
    ).parse_args(argv)
    router: list[router_bench.Row] = []  # filled by run_all after the load runs
    report = http_bench.Report(
        SECTION, INTRO, {name: test.title for name, test in TESTS.items()}, PEERS, TARGETS_TITLE,
        lambda results: targets(results, router),
        lambda: [(ROUTER_TITLE, router_table(router))] if router else [],
    )
    seconds = ROUTER_SECONDS[args.quick]
    return http_bench.main(args, needed, environment, lambda opts: run_all(opts, router, seconds), report)


if __name__ == "__main__":
    sys.exit(main())
