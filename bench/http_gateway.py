"""Benchmark the YAML gateway (`pipework gateway`) with a realistic policy chain against nginx
doing the closest equivalent, and the cost of each policy in microseconds per request.

Theory of operation: for each test (wrk connection count) the runner starts four nginx backends
that answer every GET with 1 KiB, and for each server under test it starts the server fresh on
127.0.0.1 with a free port, one worker, in front of those backends (least connections, kept-alive
upstream connections) with the same 20 routes (8 exact paths, 12 prefixes); every request hits
the prefix route ``/api/orders/``. The full chain is: the route match, a rate limit per client
address set high enough that nothing is refused (the limiter still runs), a JWT check (RS256 by
default, ES256 as a second server: signature, ``exp``, ``aud`` and ``iss``), the proxy, and an
access log in the combined format written to a file. wrk sends ``Authorization: Bearer`` with
one valid token (expiring in ten years) through a Lua script.

- ``pipework``: ``pipework gateway FILE --log-level info --access-log LOG``; the access lines go
  to the file LOG (buffered, one write per event-loop turn), the other logs to stderr, which the
  runner sends to a file. ``pipework-es256`` is the same with an ES256 key and token.
- ``nginx``: ``worker_processes 1``, the routes as ``location`` blocks, ``limit_req_zone
  $binary_remote_addr`` + ``limit_req ... nodelay``, ``access_log`` to a file (a format with
  the fields pipework's combined line has), ``proxy_pass`` to a ``least_conn`` upstream with
  ``keepalive``. nginx OSS has no JWT module (``auth_jwt`` is nginx Plus's) and this nginx has
  no njs: the stand-in is ``map $http_authorization`` comparing the whole field with the one
  valid token + ``if ... return 401``. nginx verifies no signature, so the comparison flatters
  nginx; the report says so.
- ``pw-proxy``, ``pw-log``, ``pw-limit``: the gateway with the chain built up step by step
  (routes + proxy; + access log; + rate limit); ``pipework`` adds the JWT check. The difference
  in CPU µs per request from step to step is each policy's cost under load.

Before each run a GET with the token must answer 200 with exactly the backends' body and, for
servers that check tokens, a GET without it 401; after it, wrk must have seen no non-2xx
answer, every backend must have spent CPU time, and the access log must hold a line for every
request wrk counted. The server is pinned to one core, wrk and the backends to the other; the
server's CPU time is read from /proc before and after each run and divided by the requests done.

After the load runs, each step of the chain is measured again in-process, without sockets: a
child process pinned to the server core loads the same gateway file, drives requests through the
real engine (session, pipeline, codecs, filters) with stand-in client and upstream connections
(bench/instructions.py's), logging to a file as the server does, and reports the CPU time per
request (best of several rounds); the differences are the policies' costs without the kernel's
share and without wrk's noise. One more chain is measured there, ``pw-gate``: ``pw-log`` with a
gate every request passes, so that what the first policy costs by taking requests off
``demux_http``'s direct path to a lone route (a sub-pipeline per request) shows apart from the
rate limiter. How long each server waited for its core during the load runs (other processes on
it) is reported too (/proc/PID/schedstat). Every process started is stopped at the end, also on Ctrl-C,
SIGTERM or failure. The machinery is bench/run.py's and bench/http_bench.py's.

Usage: bench/http_gateway.py [--quick] [--duration S] [--only pipework,nginx] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import http_bench
import http_proxy
import run
from run import BenchError, Load, Options, Results, Sample, Table, fmt

BACKENDS = 4
EXACT = ("/healthz", "/login", "/logout", "/favicon.ico", "/robots.txt", "/api/v1/status",
         "/api/v1/version", "/api/v1/openapi.json")  # location = ... / match: {path: ...}
PREFIXES = ("/api/", "/api/users/", "/api/orders/", "/api/products/", "/api/carts/", "/api/payments/",
            "/api/search/", "/static/", "/assets/", "/admin/", "/ws/", "/")  # location ... / {prefix: ...}
PATH = "/api/orders/12345"  # every request: the prefix route /api/orders/, beside /api/ and /
RATE = 100_000  # requests per second per client address: far above what one core serves
AUDIENCE = "orders-api"
ISSUER = "https://idp.example.com/"
TOKEN_LIFE = 10 * 365 * 86400  # seconds: the token stays valid for any run
TARGET_RATE = 0.5  # the issue's target: pipework's requests/s at least this many times nginx's
INPROC_REQUESTS = {False: 10_000, True: 3_000}  # requests per in-process round; by --quick
INPROC_ROUNDS = {False: 3, True: 1}  # child processes per step (taking turns); by --quick
INPROC_REPEAT = 5  # timed rounds inside each child: the best counts


class Test(http_proxy.Test):
    """One load: keep-alive GETs of PATH with the bearer token, one wrk thread."""

    @property
    def title(self) -> str:
        return (f"gateway chain (route of {len(EXACT) + len(PREFIXES)}, rate limit, JWT, proxy to "
                f"{BACKENDS} backends, access log), 1 KiB responses: keep-alive GET, "
                f"wrk -t1 -c{self.connections}")


TESTS = {t.name: t for t in (Test(f"gw-c{c}", c) for c in http_proxy.CONCURRENCY)}


@dataclass(frozen=True)
class Chain:
    """What a gateway server's file holds besides the routes and the proxy."""

    step: str  # what this step adds to the previous one, for the cost tables
    access_log: bool
    rate_limit: bool
    jwt: str | None  # "RS256", "ES256" or None
    gate: bool = False  # an allow_ips gate every request passes (in-process only, see INPROC_ONLY)


# the gateway chains, each step adding one policy to the one before; PREVIOUS says which
CHAINS = {
    "pw-proxy": Chain("route + proxy", False, False, None),
    "pw-log": Chain("access log (combined, to a file)", True, False, None),
    "pw-gate": Chain("a gate every request passes (allow_ips 127.0.0.0/8)", True, False, None, gate=True),
    "pw-limit": Chain("rate limit (per client address)", True, True, None),
    "pipework": Chain("JWT RS256 (signature, exp, aud, iss)", True, True, "RS256"),
    "pipework-es256": Chain("JWT ES256 (signature, exp, aud, iss)", True, True, "ES256"),
}
PREVIOUS = {"pw-log": "pw-proxy", "pw-gate": "pw-log", "pw-limit": "pw-log", "pipework": "pw-limit",
            "pipework-es256": "pw-limit"}
# Measured in-process only, when pw-limit is: the first policy takes a request off demux_http's
# direct path to a lone route/proxy (a sub-pipeline per request, its events), which the rate
# limit's step pays; a gate doing next to nothing shows that part alone.
INPROC_ONLY = {"pw-gate": "pw-limit"}
PEERS = ("nginx",)


# --- keys and tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """A verification key on disk and a token it verifies."""

    alg: str
    public_pem: Path
    token: str


def make_credentials(work: Path) -> dict[str, Credential]:
    """An RSA-2048 and a P-256 key pair, their public halves in PEM files, and a token signed by
    each (with PyJWT, the independent peer the tests use too) with realistic claims."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-8d2f4c1a", "iat": now, "nbf": now,
        "exp": now + TOKEN_LIFE, "scope": "orders:read orders:write", "roles": ["customer"],
        "email": "jane.doe@example.com",
    }
    keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {
        "RS256": rsa.generate_private_key(65537, 2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
    }
    out = {}
    for alg, key in keys.items():
        pem = work / f"jwt-{alg.lower()}.pem"
        pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": f"bench-{alg.lower()}"})
        out[alg] = Credential(alg, pem, token)
    return out


# --- servers under test ----------------------------------------------------------------------


def gateway_file(path: Path, port: int, backends: Sequence[int], chain: Chain,
                 creds: dict[str, Credential]) -> Path:
    """Write the gateway file of ``chain``: the routes to one least-connections upstream, and the
    chain's policies on the listener (so every route has them), cheap ones first."""
    policies: list[dict[str, object]] = []
    if chain.gate:
        policies.append({"allow_ips": {"allow": ["127.0.0.0/8"]}})
    if chain.rate_limit:
        policies.append({"rate_limit": {"limit": RATE, "window": "1s", "key": "ip"}})
    if chain.jwt:
        policies.append({"jwt_auth": {"keys": str(creds[chain.jwt].public_pem), "algorithms": [chain.jwt],
                                      "audience": AUDIENCE, "issuer": ISSUER}})
    routes = ([{"name": f"exact{i}", "match": {"path": p}, "upstream": "app"} for i, p in enumerate(EXACT)]
              + [{"name": f"prefix{i}", "match": {"prefix": p}, "upstream": "app"}
                 for i, p in enumerate(PREFIXES)])
    listener: dict[str, object] = {"address": f"127.0.0.1:{port}",
                                   "access_log": "combined" if chain.access_log else "off"}
    if policies:
        listener["policies"] = policies
    doc = {
        "upstreams": {"app": {"targets": [f"127.0.0.1:{b}" for b in backends], "balancer": "least_conn"}},
        "routes": routes,
        "listeners": [listener],
    }
    # JSON is YAML: one object a line keeps the file readable and needs no YAML writer
    lines = ["upstreams: " + json.dumps(doc["upstreams"]), "routes:"]
    lines += [f"  - {json.dumps(r)}" for r in routes]
    lines += ["listeners:", f"  - {json.dumps(listener)}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def pipework_server(server: str, port: int, backends: Sequence[int], work: Path,
                    creds: dict[str, Credential]) -> list[str]:
    """`pipework gateway` of the server's chain, one worker, access lines to a file (--access-log)."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install pipework into this Python (make)")
    config = gateway_file(work / f"{server}-{port}.yaml", port, backends, CHAINS[server], creds)
    return [str(exe), "gateway", str(config), "--log-level", "info",
            "--access-log", str(pipework_access_log(work, port))]


def pipework_access_log(work: Path, port: int) -> Path:
    return work / f"pipework-{port}-access.log"


# nginx's line with the fields of pipework's combined line (filters/access_log.py), the request
# id and the route as pipework writes them for a request without X-Request-Id
NGINX_LOG_FORMAT = ("'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
                    "\"$http_referer\" \"$http_user_agent\" $request_time \"$http_x_request_id\" \"-\" "
                    "\"$upstream_addr\" $upstream_connect_time $upstream_header_time "
                    "$upstream_response_time \"-\"'")


def nginx_access_log(work: Path, port: int) -> Path:
    return work / f"nginx-{port}-access.log"


def nginx_server(server: str, port: int, backends: Sequence[int], work: Path,
                 creds: dict[str, Credential]) -> list[str]:
    """nginx, one worker: the routes as locations, limit_req per client address, the token
    compared as a string (no signature check: see the module docstring), an access log file."""
    token = creds["RS256"].token
    servers = "\n".join(f"    server 127.0.0.1:{b};" for b in backends)
    locations = "\n".join(
        [f"    location = {path} {{ proxy_pass http://app; }}" for path in EXACT]
        + [f"    location {prefix} {{ proxy_pass http://app; }}" for prefix in PREFIXES]
    )
    conf = run.nginx_config(work, f"gateway-{port}", f"""http {{
{run.nginx_temp_paths(work)}
  access_log off;
  keepalive_requests 1000000;
  log_format gateway {NGINX_LOG_FORMAT};
  limit_req_zone $binary_remote_addr zone=per_ip:1m rate={RATE}r/s;
  limit_req_status 429;
  map_hash_bucket_size 1024;
  map $http_authorization $jwt_ok {{
    "Bearer {token}" 1;
    default 0;
  }}
  upstream app {{
    least_conn;
{servers}
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    access_log {nginx_access_log(work, port)} gateway;
    limit_req zone=per_ip burst={RATE} nodelay;
    if ($jwt_ok = 0) {{ return 401; }}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
{locations}
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


Command = Callable[[str, int, Sequence[int], Path, dict[str, Credential]], list[str]]
SERVERS: dict[str, Command] = {  # pipework's chains, without those measured in-process only
    "pipework": pipework_server,
    "pipework-es256": pipework_server,
    "nginx": nginx_server,
    "pw-proxy": pipework_server,
    "pw-log": pipework_server,
    "pw-limit": pipework_server,
}


def token_of(server: str, creds: dict[str, Credential]) -> str:
    return creds["ES256" if server == "pipework-es256" else "RS256"].token


def checks_tokens(server: str) -> bool:
    return server == "nginx" or CHAINS[server].jwt is not None


# --- the run ---------------------------------------------------------------------------------


def get(port: int, token: str | None) -> tuple[int, bytes]:
    """A GET of PATH, with the bearer token if given: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", PATH, headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET {PATH} on port {port} failed: {exc}") from exc
    finally:
        conn.close()


def check(server: str, port: int, token: str, body: bytes) -> None:
    """With the token: 200 and exactly the backends' body; without it: 401 if the server checks
    tokens (else it must let the request through)."""
    status, got = get(port, token)
    if status != 200 or got != body:
        raise BenchError(f"{server}: GET {PATH} with the token: status {status}, {len(got)} bytes "
                         f"({'the' if got == body else 'not the'} backends' body)")
    status, got = get(port, None)
    wanted = 401 if checks_tokens(server) else 200
    if status != wanted:
        raise BenchError(f"{server}: GET {PATH} without a token: status {status}, expected {wanted}")


def wrk_script(work: Path, token: str) -> Path:
    """A wrk Lua script sending GET PATH with the bearer token; the request is formatted once."""
    script = work / f"bearer-{token[-12:].replace('-', '_')}.lua"
    script.write_text(f"""local req
init = function(args)
  req = wrk.format("GET", "{PATH}", {{["Authorization"] = "Bearer {token}"}})
end
request = function()
  return req
end
""")
    return script


def wrk_bearer(port: int, test: Test, script: Path, cpu: int, duration: int) -> Load:
    """wrk, one thread, keep-alive, test.connections connections; fails on any non-2xx answer
    (a 401 or 429 would mean the chain did not do what it is measured for)."""
    out = run.run_tool(["wrk", "-t1", f"-c{test.connections}", f"-d{duration}s", "--latency",
                        "-s", str(script), f"http://127.0.0.1:{port}/"], cpu, duration)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise BenchError(f"wrk saw {bad[1]} answers that were not 2xx:\n{out}")
    return run.parse_wrk(out)


ACCESS_LINE = f'"GET {PATH} HTTP/1.1" 200 '


def access_lines(path: Path) -> tuple[int, list[str]]:
    """(access lines for PATH answered 200, other lines worth showing: warnings and errors) in a
    log file, which is then emptied (a run writes tens of MB)."""
    count, notes = 0, []
    with path.open(errors="replace") as f:
        for line in f:
            if ACCESS_LINE in line:
                count += 1
            elif " WARNING " in line or " ERROR " in line or "Traceback" in line:
                notes.append(line.rstrip())
    path.write_text("")
    return count, notes


def core_wait_seconds(port: int) -> float:
    """Seconds the server listening on port (the processes whose command line names a file made
    for that port, and their children) has waited for a CPU while runnable, from
    /proc/PID/schedstat: time its core gave to other processes (0 without schedstats)."""
    roots = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if f"-{port}.".encode() in cmdline.read_bytes():
                roots.append(int(cmdline.parent.name))
    waited = 0
    for pid in {p for root in roots for p in run.process_tree(root)}:
        with contextlib.suppress(OSError, IndexError, ValueError):
            waited += int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])  # ns on a run queue
    return waited / 1e9


@dataclass
class Found:
    """What a run measures besides the load runs' samples, for the report."""

    results: Results = field(default_factory=dict)
    inproc: list[InProc] = field(default_factory=list)
    #: "test server" -> the largest share of a load run the server spent waiting for its core
    waits: dict[str, float] = field(default_factory=dict)


def measure(test: Test, server: str, backends: dict[int, int], body: bytes, creds: dict[str, Credential],
            opts: Options, work: Path, found: Found) -> Sample:
    """Start server in front of backends (port -> pid), check it, load it with wrk, check that
    every backend worked and that the access log has a line per request; the sample. How long
    the server waited for its core goes into ``found.waits``."""
    port = run.free_port()
    name = f"{server}-{test.name}-{port}"
    argv = SERVERS[server](server, port, list(backends), work, creds)
    token = token_of(server, creds)
    script = wrk_script(work, token)
    before = {b: run.cpu_seconds(pid) for b, pid in backends.items()}

    def load() -> Load:
        w0, t0 = core_wait_seconds(port), time.monotonic()
        done = wrk_bearer(port, test, script, opts.load_cpu, opts.duration)
        share = (core_wait_seconds(port) - w0) / (time.monotonic() - t0)
        key = f"{test.name} {server}"
        found.waits[key] = max(found.waits.get(key, 0.0), share)
        return done

    got = http_bench.sample(name, argv, port, opts, work, lambda: check(server, port, token, body), load)
    idle = [b for b, pid in backends.items() if run.cpu_seconds(pid) <= before[b]]
    if idle:
        raise BenchError(f"{name}: backends on ports {idle} spent no CPU time: the load was not spread")
    logged = server == "nginx" or CHAINS[server].access_log
    log = nginx_access_log(work, port) if server == "nginx" else pipework_access_log(work, port)
    if not log.exists():
        log.write_text("")
    lines, notes = access_lines(log)
    if server != "nginx":
        notes += access_lines(run.log_file(work, name))[1]
    if notes:  # warnings or errors: worth a look, not a failure
        print(f"  {name} logged:\n" + "\n".join("    " + n for n in notes[-15:]), file=sys.stderr)
    if logged and lines < got.load.units:
        raise BenchError(f"{name}: {lines:,} access lines for {got.load.units:,.0f} requests done")
    if not logged and lines:
        raise BenchError(f"{name}: {lines:,} access lines with the access log off")
    return got


def run_test(test: Test, opts: Options, work: Path, creds: dict[str, Credential],
             found: Found) -> dict[str, Sample | str]:
    """Run one test against every selected server, sharing four nginx backends on the load core."""
    with contextlib.ExitStack() as stack:
        backends: dict[int, int] = {}
        for i in range(BACKENDS):
            port = run.free_port()
            name = f"backend{i}-{test.name}"
            argv = run.nginx_backend(port, work, name)
            backends[port] = stack.enter_context(run.running(name, argv, opts.load_cpu, port, work)).pid
        body = b"x" * run.BODY_SIZE  # what run.nginx_backend answers
        return http_bench.rounds(
            opts, test.name, lambda server: measure(test, server, backends, body, creds, opts, work, found)
        )


# --- the same chains in-process --------------------------------------------------------------


@dataclass(frozen=True)
class InProc:
    """A chain's CPU time per request driven in-process (best of its child processes' rounds)."""

    server: str
    us: float


async def drive(config: str, token: str, requests: int, repeat: int) -> float:
    """In a child process: load the gateway file, then drive ``requests`` GETs of PATH through
    its listener's layout ``repeat`` times with stand-in connections (one kept-alive upstream
    connection per target, already pooled); the best round's CPU µs per request."""
    import instructions

    from pipework.apps import gateway
    from pipework.cli import logs
    from pipework.codec.http1 import ResponseDecoder
    from pipework.core.script import run_declarations
    from pipework.core.session import InboundSession
    from pipework.filters.upstream import LIVE, Conn

    # as `pipework gateway --log-level info --access-log FILE`
    logs.setup("info", access_log=os.environ["BENCH_ACCESS_LOG"])
    prog = run_declarations(config, lambda: gateway.declare(config))
    layout = prog.listens[0].layout
    pooled = []
    for ups in list(LIVE):
        ups.max_requests_per_connection = 0  # one connection per target carries them all
        for ep in ups.endpoints.values():
            up = Conn.__new__(Conn)
            up.endpoint, up.exchange, up.idle_since, up.used, up.received = ep, None, 0.0, 1, 0
            up.dec = ResponseDecoder(one_at_a_time=True)
            up.conn = instructions.FakeConn()  # type: ignore[assignment]
            ep.conns += 1
            ep.idle.append(up)
            pooled.append(up)
    request = (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()
    client = instructions.FakeConn()
    session = InboundSession(layout, client)
    feed = session.take_bytes or session.on_data  # as Connection.attach chooses
    proxied = 0

    def serve(n: int) -> None:
        nonlocal proxied
        for _ in range(n):
            feed(request)
            for up in pooled:
                if up.exchange is not None:
                    up.on_data(instructions.RESPONSE)
                    proxied += 1
                    break

    serve(requests // 5)  # warm up: lazy imports, caches, the first exchange of each connection
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        serve(requests)
        best = min(best, time.process_time() - t0)
    done = requests // 5 + repeat * requests
    if proxied != done or client.writes != done:
        raise SystemExit(f"{config}: {proxied} of {done} requests proxied, {client.writes} answers; "
                         f"last: {client.last[:200]!r}")
    logs.setup("info")  # the access log file flushed and closed
    return best / requests * 1e6


def inproc_child(config: str, token: str, requests: int) -> int:
    """The child's side of the in-process measurement: print µs per request."""
    import uvloop

    print(f"{uvloop.run(drive(config, token, requests, INPROC_REPEAT)):.3f}")
    return 0


def measure_inproc(opts: Options, work: Path, creds: dict[str, Credential], quick: bool) -> list[InProc]:
    """Each selected gateway chain measured in-process in child processes pinned to the server
    core, the chains taking turns; the best figure of each. Checks that the access log got a
    line per request in the chains that have one."""
    servers = [s for s in CHAINS if s in opts.servers or INPROC_ONLY.get(s) in opts.servers]
    requests = INPROC_REQUESTS[quick]
    best: dict[str, float] = {}
    for _ in range(INPROC_ROUNDS[quick]):
        for server in servers:
            config = gateway_file(work / f"inproc-{server}.yaml", run.free_port(),
                                  [9, 10, 11, 12][:BACKENDS], CHAINS[server], creds)  # never connected
            log = work / f"inproc-{server}.log"
            access = work / f"inproc-{server}-access.log"
            access.write_text("")
            argv = ["taskset", "-c", str(opts.server_cpu), sys.executable, __file__,
                    "--inproc", str(config), token_of(server, creds), str(requests)]
            with log.open("w") as err:
                done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, text=True, timeout=600,
                                      stdin=subprocess.DEVNULL, check=False,
                                      env={**os.environ, "BENCH_ACCESS_LOG": str(access)})
            if done.returncode != 0:
                raise BenchError(f"in-process {server} failed:\n{run.log_tail(log)}")
            lines, _ = access_lines(access)
            expected = requests // 5 + INPROC_REPEAT * requests if CHAINS[server].access_log else 0
            if lines != expected:
                raise BenchError(f"in-process {server}: {lines:,} access lines for {expected:,} requests")
            best[server] = min(best.get(server, float("inf")), float(done.stdout))
    return [InProc(server, best[server]) for server in servers]


def run_all(opts: Options, found: Found, quick: bool) -> Results:
    """Run every selected test against every selected server in a scratch directory, then the
    selected gateway chains in-process; the results, also kept in ``found`` with the rest."""
    with tempfile.TemporaryDirectory(prefix="pipework-bench-gateway-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as nobody when started by root
        creds = make_credentials(work)
        found.results = {name: run_test(TESTS[name], opts, work, creds, found) for name in opts.tests}
        print("  the chains in-process ...", file=sys.stderr, flush=True)
        found.inproc = measure_inproc(opts, work, creds, quick)
    return found.results


# --- reporting -------------------------------------------------------------------------------


def steps(cost: dict[str, float]) -> list[tuple[str, str, float, float | None]]:
    """(server, what its step adds, its figure, the step's cost: its figure minus the previous
    step's) for the chains measured, in CHAINS' order."""
    out = []
    for server, chain in CHAINS.items():
        if server not in cost:
            continue
        prev = PREVIOUS.get(server)
        delta = cost[server] - cost[prev] if prev in cost else None
        out.append((server, chain.step, cost[server], delta))
    return out


def step_table(cost: dict[str, float], figure: str) -> Table:
    """A row per chain: what it adds, its figure and its step's cost (for the step after an
    in-process-only chain, also the cost beyond that one's)."""
    head = ["server", "adds", figure, "step µs/req"]
    rows = []
    for server, what, us, delta in steps(cost):
        step = "-" if delta is None else f"{delta:+.1f}"
        for extra, after in INPROC_ONLY.items():
            if after == server and extra in cost:
                step += f" ({cost[server] - cost[extra]:+.1f} vs {extra})"
        rows.append([server, f"+ {what}" if PREVIOUS.get(server) else what, fmt(us, 1), step])
    return head, rows


def extra(results: Results, inproc: Sequence[InProc]) -> http_bench.Sections:
    """The policy cost tables: per test from the load runs' CPU per request, then in-process."""
    out = []
    for name, samples in results.items():
        cost = {s: v.cpu_us_per_unit for s, v in samples.items() if s in CHAINS and isinstance(v, Sample)}
        if cost:
            out.append((f"{name}: cost of each policy under load (server CPU µs/req, chain built up step "
                        "by step; the step's figure minus the previous one's)",
                        step_table(cost, "CPU µs/req")))
    if inproc:
        out.append(("cost of each policy in-process (the same gateway files driven through the engine "
                    "without sockets: CPU µs/req, best round; no kernel share, no wrk noise)",
                    step_table({r.server: r.us for r in inproc}, "CPU µs/req")))
    return out


WAIT_WARNING = 0.05  # share of a run a server may wait for its core before its figures are doubted


def targets(results: Results, waits: dict[str, float]) -> list[str]:
    """Per test and pipework chain with a JWT: the rate target against nginx, met or not; then
    how long the servers waited for their core (other processes on it)."""
    lines = []
    for name, samples in results.items():
        theirs = samples.get("nginx")
        if not isinstance(theirs, Sample):
            continue
        for server in ("pipework", "pipework-es256"):
            ours = samples.get(server)
            if not isinstance(ours, Sample):
                continue
            rate = ours.load.rate / theirs.load.rate
            met = "met" if rate >= TARGET_RATE else "missed"
            lines.append(f"{name}: {server} ({CHAINS[server].jwt}) req/s {rate:.2f}x nginx ({met}, "
                         f">= {TARGET_RATE}x), CPU/req {ours.cpu_us_per_unit / theirs.cpu_us_per_unit:.2f}x "
                         f"nginx (CPU % {ours.cpu_percent:.0f} vs {theirs.cpu_percent:.0f})")
    if lines:
        lines.append("nginx verifies no signature (a string comparison stands in for auth_jwt, nginx "
                     "Plus only): the comparison flatters nginx")
    if waits:
        worst = max(waits, key=lambda k: waits[k])
        busy = [k for k, share in waits.items() if share > WAIT_WARNING]
        verdict = (f"DISTURBED ({len(busy)} of {len(waits)} servers' runs over {WAIT_WARNING:.0%}): other "
                   "processes ran on the server core, rerun on a quiet machine" if busy else "quiet")
        lines.append(f"server core: a server waited for it at most {waits[worst]:.0%} of a run ({worst}); "
                     f"{verdict}")
    return lines


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    return [
        *http_bench.environment_head(opts),
        f"peer: {run.first_line(['nginx', '-v'])}; its JWT stand-in: map $http_authorization with the "
        "one valid token + if ($jwt_ok = 0) return 401 (nginx OSS has no JWT module and this one no "
        "njs: no signature is verified, which flatters nginx)",
        f"backends: {BACKENDS} nginx answering every GET with 1 KiB, by least connections, kept alive; "
        f"routes: {len(EXACT)} exact paths and {len(PREFIXES)} prefixes, every request to {PATH} "
        "(prefix /api/orders/)",
        f"chain: rate limit {RATE:,} req/s per client address (nothing refused), JWT RS256 (ES256 for "
        "pipework-es256) with exp/aud/iss, proxy, access log combined to a file (nginx: a format with "
        "pipework's fields)",
        f"load tool: {run.first_line(['wrk', '--version'])}, Authorization: Bearer from a Lua script",
        f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
        f"wrk and the backends on CPU {opts.load_cpu}, all on 127.0.0.1; in-process chains on CPU "
        f"{opts.server_cpu}",
    ]


SECTION = "## Gateway"  # the markdown heading of this benchmark's section
TARGETS_TITLE = (f"targets (the gateway's chain vs nginx's closest equivalent, one worker each: "
                 f"req/s >= {TARGET_RATE}x)")
INTRO = (
    "Made by `bench/http_gateway.py` (`pipework gateway FILE` with routes, a rate limit, a JWT check, "
    "a proxy to 4 backends and an access log, beside nginx doing the closest equivalent, and the "
    "chain built up step by step, under load and in-process); see bench/README.md for the setup "
    "and how to rerun it."
)


# --- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = http_bench.parser(__doc__ or "", list(SERVERS), list(TESTS), SECTION, "core of wrk and the backends")
    p.add_argument("--inproc", nargs=3, metavar=("CONFIG", "TOKEN", "REQUESTS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inproc:
        return inproc_child(args.inproc[0], args.inproc[1], int(args.inproc[2]))
    found = Found()  # filled by run_all
    report = http_bench.Report(
        SECTION, INTRO, {name: test.title for name, test in TESTS.items()}, PEERS, TARGETS_TITLE,
        lambda results: targets(results, found.waits), lambda: extra(found.results, found.inproc),
    )
    needed = {"taskset", "wrk", "nginx"}
    return http_bench.main(args, lambda opts: needed, environment,
                           lambda opts: run_all(opts, found, args.quick), report)


if __name__ == "__main__":
    sys.exit(main())
