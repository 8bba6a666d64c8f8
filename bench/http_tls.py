"""Benchmark pipework's TLS termination (`accept_tls`) against nginx: new handshakes per second and
HTTPS keep-alive requests per second, with an ECDSA P-256 and an RSA-2048 certificate.

Theory of operation: the runner makes a development CA and two server certificates for ``localhost``
and ``127.0.0.1`` (ECDSA P-256 and RSA-2048, with ``pipework.net.certs``) and a 1 KiB file of random
bytes in a temporary directory. For each test (key type x handshakes or keep-alive) and each server
under test it starts the server fresh on 127.0.0.1 with a free port, serving that file over HTTPS
with the test's certificate, checks that one GET over a verified TLS connection returns 200 with
exactly the file's bytes and the test's certificate, and drives load at it with wrk over https: with
``Connection: close`` every request is a new TCP connection and a full TLS handshake (wrk offers its
last session on each new connection, so neither server may resume: nginx keeps no session cache and
sends no tickets, and the pipework script makes its TLS contexts send none; the check proves a
session is not resumed), without it the connections are kept alive and the handshakes are done at
the start. The servers are a `pipework run` script (``accept_tls(...).to(... demux_http().to(...
serve_files(DIR)))``, one worker) and nginx (``listen ... ssl``, TLS 1.2 and 1.3, one worker). The
server is pinned to one core and wrk to the other with taskset; the server's CPU time (utime + stime
of its process tree, from /proc) is read before and after each run and divided by the requests done,
and so is wrk's (from this process's reaped children): a new TLS client costs OpenSSL about as much
as a server, so wrk's core (or a busy machine) can set the rate; the targets then compare the rates
each server's CPU per unit allows on a whole core. Every process started is stopped at the end, also
on Ctrl-C, SIGTERM or failure. The machinery is bench/run.py's and bench/http_bench.py's.

Usage: bench/http_tls.py [--quick] [--duration S] [--rounds N] [--only pipework,nginx] [--markdown FILE]
"""

from __future__ import annotations

import collections
import http.client
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import http_bench
import run
from run import BenchError, Load, Options, Results, Sample, Table, fmt

FILE = "file-1k.bin"  # the 1 KiB response
NAMES = ("localhost", "127.0.0.1")  # the certificates' names; the check verifies the IP
KEYS = {"ecdsa": "ECDSA P-256", "rsa": "RSA-2048"}  # key type -> what the report calls it
CONNECTIONS = run.CONNECTIONS  # wrk -c, as in the other runners
# The issue's targets against nginx in the same run.
TARGET_HANDSHAKES = 0.8  # pipework's new handshakes/s at least this many times nginx's
TARGET_RATE = 0.7  # pipework's HTTPS keep-alive requests/s at least this many times nginx's
LOAD_BOUND = 90.0  # CPU % from which a core is taken as saturated (a server's, or wrk's)


@dataclass(frozen=True)
class Test:
    """One load: GETs of the 1 KiB file over TLS with the key's certificate, one wrk thread; a
    new connection (and handshake) per request if ``handshakes``, else kept-alive connections."""

    name: str  # e.g. "hs-ecdsa"
    key: str  # a key of KEYS
    handshakes: bool

    @property
    def unit(self) -> str:
        return "handshake" if self.handshakes else "req"

    @property
    def title(self) -> str:
        how = ("new TLS connection per request (Connection: close), full handshakes" if self.handshakes
               else "HTTPS keep-alive GET, 1 KiB responses")
        return f"{KEYS[self.key]}: {how}, wrk -t1 -c{CONNECTIONS}"


TESTS = {t.name: t for t in (Test(f"{mode}-{key}", key, mode == "hs")
                             for mode in ("hs", "rps") for key in KEYS)}


@dataclass(frozen=True)
class TlsSample(Sample):
    """A sample with wrk's own CPU time during the run and the session the check negotiated."""

    load_cpu_s: float = 0.0
    session: str = ""  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"

    @property
    def load_cpu_percent(self) -> float:
        return 100 * self.load_cpu_s / self.wall_s


@dataclass(frozen=True)
class Site:
    """What the servers serve: the file's directory, the CA and each key type's certificate."""

    www: Path
    ca: Path
    certs: dict[str, tuple[Path, Path]]  # key type -> (certificate, key)
    body: bytes


# --- servers under test ----------------------------------------------------------------------


def pipework_server(port: int, test: Test, site: Site, work: Path) -> list[str]:
    """`pipework run` of a script terminating TLS in front of serve_files, one worker, with no
    session tickets (as nginx has none here)."""
    exe = Path(sys.executable).parent / "pipework"
    if not exe.exists():
        raise BenchError(f"{exe} not found: install pipework into this Python (make)")
    cert, key = (str(p) for p in site.certs[test.key])
    script = work / f"tls-{port}.py"
    script.write_text(f"""import pipework as pw

# no session tickets: wrk resumes when it is given one, and every connection must be a full
# handshake, as nginx's are here
pw.listen("127.0.0.1:{port}", pw.pipeline(
    lambda p: p.accept_tls(({cert!r}, {key!r}), session_tickets=False).to(
        lambda p: p.demux_http().to(lambda p: p.serve_files({str(site.www)!r})))))
""")
    return [str(exe), "run", str(script), "--log-level", "warning"]


def nginx_server(port: int, test: Test, site: Site, work: Path) -> list[str]:
    """nginx serving the directory over TLS 1.2 and 1.3, no session cache nor tickets, one worker."""
    cert, key = site.certs[test.key]
    conf = run.nginx_config(work, f"tls-{port}", f"""http {{
{run.nginx_temp_paths(work)}
  access_log off;
  open_file_cache max=1000 inactive=20s;
  open_file_cache_valid 30s;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    root {site.www};
  }}
}}""")
    return ["nginx", "-p", str(work), "-c", str(conf)]


Command = Callable[[int, Test, Site, Path], list[str]]  # (port, test, site, work dir) -> argv
# name -> (how to start it, the tools it needs besides taskset and wrk)
SERVERS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "pipework": (pipework_server, ()),
    "nginx": (nginx_server, ("nginx",)),
}
PEERS = ("nginx",)  # what pipework is compared with in the ratio table


# --- the run ---------------------------------------------------------------------------------


def make_site(work: Path) -> Site:
    """The CA, both certificates and the 1 KiB file, under work (readable by nginx's workers)."""
    from pipework.net import certs  # here, so that --help and the preflight need no pipework

    pki, www = work / "pki", work / "www"
    pki.mkdir()
    www.mkdir()
    www.chmod(0o755)  # nginx workers run as nobody when started by root
    ca = certs.make_ca()
    certs.save(ca, pki / "ca.pem", pki / "ca-key.pem")
    pairs = {}
    for key in KEYS:
        pair = certs.issue(ca, NAMES, key_type=key, rsa_bits=2048)
        pairs[key] = (pki / f"{key}.pem", pki / f"{key}-key.pem")
        certs.save(pair, *pairs[key])
    body = os.urandom(run.BODY_SIZE)  # random: nothing to gain from compression
    (www / FILE).write_bytes(body)
    (www / FILE).chmod(0o644)
    return Site(www, pki / "ca.pem", pairs, body)


def check_tls(port: int, test: Test, site: Site) -> str:
    """One GET over TLS, the certificate verified against the CA for 127.0.0.1: 200, exactly the
    file's bytes and the test's certificate; then a second handshake offering the first one's
    session, which the server must not resume (wrk offers its last session on every new
    connection: a resumed one is not the full handshake measured). The session's version and
    cipher."""
    context = ssl.create_default_context(cafile=str(site.ca))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    try:
        conn.request("GET", f"/{FILE}")
        resp = conn.getresponse()
        got = resp.read()
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        served, cipher, session = sock.getpeercert(binary_form=True), sock.cipher(), sock.session
        described = f"{sock.version()} {cipher[0] if cipher else '?'}"
        with (socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
              context.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as again):
            resumed = again.session_reused
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        raise BenchError(f"GET /{FILE} over TLS on port {port} failed: {exc}") from exc
    finally:
        conn.close()
    if resp.status != 200 or got != site.body:
        same = "the file's bytes" if got == site.body else f"{len(got)} bytes, not {len(site.body)}"
        raise BenchError(f"GET /{FILE} over TLS on port {port}: status {resp.status}, {same}")
    wanted = ssl.PEM_cert_to_DER_cert(site.certs[test.key][0].read_text())
    if served != wanted:
        raise BenchError(f"port {port} served another certificate than {site.certs[test.key][0].name}")
    if resumed:
        raise BenchError(f"port {port} resumed a TLS session: handshakes would not be full ones")
    return described


def wrk_tls(port: int, test: Test, cpu: int, duration: int) -> tuple[Load, float]:
    """wrk, one thread, CONNECTIONS connections, GETs of the file over https (a new connection per
    request for a handshake test); what it saw and the CPU seconds it spent itself."""
    close = ["-H", "Connection: close"] if test.handshakes else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    out = run.run_tool(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", *close,
                        f"https://127.0.0.1:{port}/{FILE}"], cpu, duration)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return run.parse_wrk(out), spent


def log_summary(log: Path) -> str:
    """A server log's lines counted by level and message (timestamps and connections left out),
    most frequent first; "" for an empty log."""
    counts: collections.Counter[str] = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"^\S+ \S+ ([A-Z]+) (?:<[^>]*>: )?(.*)$", line)  # pipework's text log format
        counts[f"{m[1]} {m[2]}" if m else line.strip()] += 1
    return "\n".join(f"    {n} x {message}" for message, n in counts.most_common(5) if message)


def measure(test: Test, server: str, opts: Options, work: Path, site: Site) -> TlsSample:
    """Start server with the test's certificate, check it over TLS, load it with wrk, return the
    sample; what the server logged (such as handshakes cut short when wrk stops) goes to stderr."""
    port = run.free_port()
    name = f"{server}-{test.name}-{port}"
    argv = SERVERS[server][0](port, test, site, work)
    seen: dict[str, str] = {}
    wrk_cpu: list[float] = []

    def check() -> None:
        seen["session"] = check_tls(port, test, site)

    def load() -> Load:
        done, spent = wrk_tls(port, test, opts.load_cpu, opts.duration)
        wrk_cpu.append(spent)
        return done

    got = http_bench.sample(name, argv, port, opts, work, check, load)
    if logged := log_summary(run.log_file(work, name)):  # worth a look, not a failure
        print(f"  {name} logged:\n{logged}", file=sys.stderr)
    return TlsSample(got.load, got.cpu_s, got.wall_s, wrk_cpu[0], seen["session"])


def run_all(opts: Options) -> Results:
    """Run every selected test against every selected server in a scratch directory."""
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="pipework-bench-tls-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as nobody when started by root
        site = make_site(work)
        for name in opts.tests:
            test = TESTS[name]
            results[name] = http_bench.rounds(
                opts, name, lambda server: measure(test, server, opts, work, site)  # noqa: B023
            )
    return results


# --- reporting -------------------------------------------------------------------------------


def load_table(results: Results) -> Table:
    """Per run kept: the session the check negotiated, and the server's and wrk's CPU %."""
    head = ["test", "server", "TLS session", "server CPU %", "wrk CPU %"]
    rows = [[name, server, s.session, fmt(s.cpu_percent, 0), fmt(s.load_cpu_percent, 0)]
            for name, samples in results.items() for server, s in samples.items() if isinstance(s, TlsSample)]
    return head, rows


def targets(results: Results) -> list[str]:
    """Per test, the issue's target against nginx, met or not. The rates are compared when both
    servers kept their core busy; when one did not (wrk's core, or the machine, set the pace), the
    rates their CPU per unit allows on a whole core (1e6 / CPU µs) are compared instead."""
    lines = []
    for name, samples in results.items():
        test, ours, nginx = TESTS[name], samples.get("pipework"), samples.get("nginx")
        if not isinstance(ours, TlsSample) or not isinstance(nginx, TlsSample):
            continue
        target = TARGET_HANDSHAKES if test.handshakes else TARGET_RATE
        rate = ours.load.rate / nginx.load.rate
        cpu = ours.cpu_us_per_unit / nginx.cpu_us_per_unit
        busy = f"{ours.cpu_percent:.0f}% / {nginx.cpu_percent:.0f}% CPU"
        if min(ours.cpu_percent, nginx.cpu_percent) >= LOAD_BOUND:
            checks = [f"{test.unit}/s {rate:.2f}x nginx ({'met' if rate >= target else 'missed'}, "
                      f">= {target}x; servers at {busy})", f"CPU/{test.unit} {cpu:.2f}x nginx's"]
        else:
            per_core = 1 / cpu
            wrk = max(ours.load_cpu_percent, nginx.load_cpu_percent)
            checks = [f"{test.unit}/s {rate:.2f}x nginx, not judged: servers at {busy}, wrk at "
                      f"{ours.load_cpu_percent:.0f}% / {nginx.load_cpu_percent:.0f}% "
                      f"({'wrk' if wrk >= LOAD_BOUND else 'neither'} set the pace)",
                      f"per whole core (1e6 / CPU µs) pipework {1e6 / ours.cpu_us_per_unit:,.0f} vs nginx "
                      f"{1e6 / nginx.cpu_us_per_unit:,.0f} {test.unit}/s: {per_core:.2f}x "
                      f"({'met' if per_core >= target else 'missed'}, >= {target}x)"]
        lines.append(f"{name}: " + "; ".join(checks))
    return lines


def nginx_openssl() -> str:
    """The OpenSSL nginx was built with and runs with, from `nginx -V`."""
    if not shutil.which("nginx"):
        return "not installed"
    info = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=10).stderr
    found = re.findall(r"^(?:built|running) with (OpenSSL [^\s(]+)", info, re.M)
    return ", ".join(dict.fromkeys(found)) or "OpenSSL unknown"


def environment(opts: Options) -> list[str]:
    """Facts about the machine and software, for the report's header."""
    return [
        *http_bench.environment_head(opts),
        f"peers: {run.first_line(['nginx', '-v'])} ({nginx_openssl()}); "
        f"pipework's TLS: {ssl.OPENSSL_VERSION}",
        f"load tool: {run.first_line(['wrk', '--version'])}",
        f"certificates: {', '.join(KEYS.values())} for {', '.join(NAMES)}, signed by a development CA; "
        "nginx: TLS 1.2 and 1.3, no session cache, no tickets; pipework: accept_tls() defaults, "
        "no tickets",
        f"setup: {opts.duration} s per test per server, server under test on CPU {opts.server_cpu}, "
        f"wrk on CPU {opts.load_cpu}, all on 127.0.0.1",
    ]


SECTION = "## TLS"  # the markdown heading of this benchmark's section
TARGETS_TITLE = (f"targets (vs nginx: handshakes/s >= {TARGET_HANDSHAKES}x, "
                 f"HTTPS keep-alive req/s >= {TARGET_RATE}x)")
LOAD_TITLE = "sessions and the load tool (wrk's CPU % near 100: wrk, not the server, set the rate)"
INTRO = (
    "Made by `bench/http_tls.py` (a `pipework run` script with `accept_tls` and `serve_files` "
    "beside nginx with `ssl`); see bench/README.md for the setup and how to rerun it."
)


# --- command line ----------------------------------------------------------------------------


#: the tools a run needs: these, and the selected servers' own
needed = http_bench.tools_needed(SERVERS, "taskset", "wrk")


def main(argv: Sequence[str] | None = None) -> int:
    p = http_bench.parser(__doc__ or "", list(SERVERS), list(TESTS), SECTION, "core of wrk")
    args = p.parse_args(argv)
    done: Results = {}

    def run_and_keep(opts: Options) -> Results:
        done.update(run_all(opts))
        return done

    report = http_bench.Report(
        SECTION, INTRO, {name: test.title for name, test in TESTS.items()}, PEERS, TARGETS_TITLE, targets,
        lambda: [(LOAD_TITLE, load_table(done))] if done else [],
        {name: test.unit for name, test in TESTS.items()},
    )
    return http_bench.main(args, needed, environment, run_and_keep, report)


if __name__ == "__main__":
    sys.exit(main())
