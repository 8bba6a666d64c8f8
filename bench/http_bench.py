"""What the HTTP benchmark runners (bench/http_static.py, bench/http_proxy.py, bench/http_lb.py)
share: the result and ratio tables, the progress line, one measured run, the command line, the
checks before a run and ``main``. Each runner brings its servers, tests, runs and targets; the process,
CPU-time and wrk helpers come from bench/run.py.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run
from run import BenchError, Load, Options, Results, Sample, Table, fmt, markdown_table, text_table

Sections = list[tuple[str, Table]]  # (title, table) in the order reported


def progress(test: str, server: str, outcome: Sample | str) -> None:
    """One line on stderr per load run, so a long run shows it is alive."""
    if isinstance(outcome, str):
        line = f"FAILED: {outcome}"
    else:
        line = f"{outcome.load.rate:,.0f} req/s, {outcome.cpu_percent:.0f}% CPU"
    print(f"  {test:<8} {server:<9} {line}", file=sys.stderr, flush=True)


def sample(name: str, argv: Sequence[str], port: int, opts: Options, work: Path,
           check: Callable[[], None], load: Callable[[], Load]) -> Sample:
    """Start argv as ``name`` on the server core, listening on port; ``check()`` it, then run
    ``load()`` while reading its process tree's CPU time; the sample. Raises BenchError if the
    check fails or the server exits during the load (with its log's tail)."""
    with run.running(name, argv, opts.server_cpu, port, work) as proc:
        check()
        cpu0, t0 = run.cpu_seconds(proc.pid), time.monotonic()
        done = load()
        cpu1, t1 = run.cpu_seconds(proc.pid), time.monotonic()
        if proc.poll() is not None:
            raise BenchError(f"{name} exited during the run:\n{run.log_tail(run.log_file(work, name))}")
    return Sample(done, cpu1 - cpu0, t1 - t0)


def rounds(opts: Options, test: str, measure: Callable[[str], Sample]) -> dict[str, Sample | str]:
    """Each selected server measured ``opts.rounds`` times, the servers taking turns (A B C, A B C,
    ...), so that a slow spell of the machine falls on all of them; each server's median run by
    CPU per request is kept, the better of the middle two for an even count (or why it failed,
    which ends its runs)."""
    runs: dict[str, list[Sample]] = {server: [] for server in opts.servers}
    failed: dict[str, str] = {}
    for _ in range(opts.rounds):
        for server in opts.servers:
            if server in failed:
                continue
            try:
                sample = measure(server)
            except BenchError as exc:
                failed[server] = str(exc)
                progress(test, server, failed[server])
                continue
            runs[server].append(sample)
            progress(test, server, sample)
    out: dict[str, Sample | str] = {}
    for server, samples in runs.items():
        if server in failed:
            out[server] = failed[server]
        else:
            samples.sort(key=lambda s: s.cpu_us_per_unit)
            out[server] = samples[(len(samples) - 1) // 2]
    return out


def result_table(samples: dict[str, Sample | str], unit: str = "req") -> Table:
    """One row per server: rate, latency, CPU per unit of work (a request unless told) and CPU load."""
    head = ["server", f"{unit}/s", "p50 ms", "p99 ms", f"CPU µs/{unit}", "CPU %", "errors"]
    rows = []
    for server, s in samples.items():
        if isinstance(s, str):
            rows.append([server, "failed", *["-"] * (len(head) - 2)])
            continue
        rows.append([server, fmt(s.load.rate, 0), fmt(s.load.p50_ms, 2), fmt(s.load.p99_ms, 2),
                     fmt(s.cpu_us_per_unit), fmt(s.cpu_percent, 0), str(s.load.errors)])
    return head, rows


def ratio_table(results: Results, peers: Sequence[str]) -> Table:
    """pipework/peer for the rate (higher is better), CPU per request and p99 (lower is better)."""
    head = ["test", "pipework vs", "rate ratio", "CPU/req ratio", "p99 ratio"]
    rows = []
    for name, samples in results.items():
        ours = samples.get("pipework")
        for peer in peers:
            theirs = samples.get(peer)
            if isinstance(ours, Sample) and isinstance(theirs, Sample):
                p99 = ("-" if not ours.load.p99_ms or not theirs.load.p99_ms
                       else f"{ours.load.p99_ms / theirs.load.p99_ms:.2f}")
                rows.append([name, peer, f"{ours.load.rate / theirs.load.rate:.2f}",
                             f"{ours.cpu_us_per_unit / theirs.cpu_us_per_unit:.2f}", p99])
    return head, rows


def sections(results: Results, titles: dict[str, str], peers: Sequence[str],
             units: dict[str, str] | None = None) -> Sections:
    """The titled tables of a run: one per test (its rate and CPU per ``units[test]``, "req" if
    not given), then the ratios."""
    units = units or {}
    out = [(titles[name], result_table(samples, units.get(name, "req"))) for name, samples in results.items()]
    ratios = ratio_table(results, peers)
    if ratios[1]:
        out.append(("pipework / peer (rate: >1 is faster; CPU/req and p99: <1 is better)", ratios))
    return out


@dataclass(frozen=True)
class Report:
    """How a runner reports: its markdown section's heading and first paragraph, the title of
    each test, the peers in the ratio table, its targets (title, and a line per test),
    ``extra()``, titled tables measured apart from the load runs (shown after the ratios), and
    ``units``, what a test's rate and CPU are counted in when it is not requests ("handshake")."""

    heading: str
    intro: str
    titles: dict[str, str]
    peers: Sequence[str]
    targets_title: str
    targets: Callable[[Results], list[str]]
    extra: Callable[[], Sections] = field(default=lambda: [])
    units: dict[str, str] = field(default_factory=dict)

    def text(self, env: list[str], results: Results) -> str:
        parts = ["\n".join(env)]
        tables = sections(results, self.titles, self.peers, self.units) + self.extra()
        parts += [f"{title}\n{text_table(table)}" for title, table in tables]
        if targets := self.targets(results):
            parts.append(f"{self.targets_title}\n" + "\n".join(targets))
        if failed := run.failures(results):
            parts.append(f"failures\n{failed}")
        return "\n\n".join(parts)

    def markdown(self, env: list[str], results: Results, note: str) -> str:
        """The run as one level-2 markdown section, ``heading``, with a level-3 heading per table."""
        parts = [self.heading, self.intro, "\n".join(f"- {line}" for line in env)]
        if note:
            parts.append(f"> {note}")
        tables = sections(results, self.titles, self.peers, self.units) + self.extra()
        parts += [f"### {title}\n\n{markdown_table(table)}" for title, table in tables]
        if targets := self.targets(results):
            parts.append(f"### {self.targets_title}\n\n" + "\n".join(f"- {line}" for line in targets))
        if failed := run.failures(results):
            parts.append(f"### failures\n\n```\n{failed}\n```")
        return "\n\n".join(parts) + "\n"


def parser(doc: str, servers: Sequence[str], tests: Sequence[str], heading: str,
           load_help: str) -> argparse.ArgumentParser:
    """The command line every HTTP runner takes."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, metavar="SECONDS", help="length of each load run")
    p.add_argument("--quick", action="store_true", help="2 s runs, for smoke testing")
    p.add_argument("--rounds", type=int, default=1, metavar="N",
                   help="run every server N times per test, taking turns, and report each one's median "
                   "run by CPU per request (steadier ratios on a noisy machine; default 1)")
    p.add_argument("--only", type=run.choices(list(servers)), default=list(servers), metavar="SERVERS",
                   help=f"comma-separated servers to run (default: {','.join(servers)})")
    p.add_argument("--tests", type=run.choices(list(tests)), default=list(tests), metavar="TESTS",
                   help=f"comma-separated tests to run (default: {','.join(tests)})")
    p.add_argument("--markdown", type=Path, metavar="FILE",
                   help=f"also write the results as a markdown section: it replaces FILE's '{heading}' "
                   "section, or is appended to FILE")
    p.add_argument("--note", default="", help="a remark for the markdown report's header")
    p.add_argument("--server-cpu", type=int, default=0, metavar="N", help="core of the server under test")
    p.add_argument("--load-cpu", type=int, default=1, metavar="N", help=load_help)
    return p


def environment_head(opts: Options) -> list[str]:
    """The report header's lines every runner starts with: date, machine (and its load) and
    pipework's commit; each runner adds its peers, load tool and setup."""
    base = run.environment(run.Options(opts.duration, [], [], opts.server_cpu, opts.load_cpu))
    return [line for line in base if line.startswith(("date:", "machine:", "pipework:"))]


def get(port: int, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    """One GET of ``path`` on 127.0.0.1:port: the status, the fields (lower-case names), the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET {path} on port {port} failed: {exc}") from exc
    finally:
        conn.close()


def wrk_get(port: int, connections: int, opts: Options) -> Load:
    """wrk on the load core, one thread, keep-alive, ``connections`` connections, GET / on
    127.0.0.1:port for the run's duration."""
    out = run.run_tool(
        ["wrk", "-t1", f"-c{connections}", f"-d{opts.duration}s", "--latency", f"http://127.0.0.1:{port}/"],
        opts.load_cpu,
        opts.duration,
    )
    return run.parse_wrk(out)


def tools_needed(
    servers: dict[str, tuple[Any, tuple[str, ...]]], *always: str
) -> Callable[[Options], set[str]]:
    """``needed`` for :func:`main`: the tools ``always`` needed (taskset, wrk...) and those of the
    selected servers (the second item of each entry of a runner's SERVERS)."""

    def needed(opts: Options) -> set[str]:
        return {*always, *(tool for server in opts.servers for tool in servers[server][1])}

    return needed


def preflight(opts: Options, needed: set[str]) -> None:
    """Fail early, with the fix, if a tool or a core is missing."""
    missing = sorted(tool for tool in needed if not shutil.which(tool))
    if missing:
        raise BenchError("missing tools:\n  " + "\n  ".join(
            f"{tool}: apt-get install {run.APT_PACKAGES[tool]}" for tool in missing))
    cores = os.sched_getaffinity(0)
    if opts.server_cpu == opts.load_cpu or not {opts.server_cpu, opts.load_cpu} <= cores:
        raise BenchError(f"need two distinct cores among {sorted(cores)} "
                         f"(--server-cpu {opts.server_cpu}, --load-cpu {opts.load_cpu})")


def main(args: argparse.Namespace, needed: Callable[[Options], set[str]],
         environment: Callable[[Options], list[str]], run_all: Callable[[Options], Results],
         report: Report) -> int:
    """Run a benchmark from its parsed command line; the exit status (0, 1 if a run failed, 2 if
    a tool or core is missing, 130 on Ctrl-C)."""
    if args.rounds < 1:
        print("bench: --rounds must be at least 1", file=sys.stderr)
        return 2
    opts = Options(2 if args.quick else args.duration, args.only, args.tests, args.server_cpu, args.load_cpu,
                   args.rounds)

    def described(o: Options) -> list[str]:
        env = environment(o)
        if o.rounds > 1:
            env.append(f"rounds: {o.rounds} runs of each server per test, taking turns; "
                       "each server's median run by CPU per request is shown")
        return env

    got = run.measured(opts, lambda: preflight(opts, needed(opts)), described, run_all)
    if isinstance(got, int):
        return got
    env, results = got
    print(report.text(env, results))
    if args.markdown:
        run.write_section(args.markdown, report.heading, report.markdown(env, results, args.note))
    return run.exit_status(results)
