"""The ``pipework`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

import pipework

from ..core.runtime import Worker
from ..core.script import Program, ScriptError, load_file, run_declarations
from ..filters.http import DEFAULT_IDLE_TIMEOUT
from ..filters.keys import EXPRESSIONS as KEY_EXPRESSIONS
from ..lb import BALANCERS
from ..net.loop import LOOPS, raise_fd_limit
from ..net.loop import run as run_loop
from . import cert as cert_cli
from . import logs
from .supervisor import Supervisor

log = logging.getLogger("pipework")
BALANCER_NAMES = tuple(BALANCERS)

EPILOG = """\
examples:
  pipework run                                  the built-in demo: a site on :8080, a TCP proxy on :8000
  pipework run proxy.py --workers 2 --watch     serve a script on 2 workers, reload on change
  pipework check proxy.py                       load a script and report errors, serve nothing
  pipework proxy --listen 0.0.0.0:8000 --to 127.0.0.1:9000 --to 127.0.0.1:9001
  pipework serve ./public --port 8080          a static site from memory, checked against the disk
  pipework gateway gateway.yaml --watch         listeners, routes and policies from a YAML file
  pipework reverse-proxy --listen 0.0.0.0:8080 --to http://127.0.0.1:9000 --to http://127.0.0.1:9001
  pipework reverse-proxy --listen 0.0.0.0:8080 --to 10.0.0.1:80 --to 10.0.0.2:80 --balancer least_conn \
      --health-path /healthz
  pipework cert ca --out ./pki && pipework cert issue localhost 127.0.0.1 --ca ./pki --out ./pki
"""


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {v}")
    return v


def _common(p: argparse.ArgumentParser, serving: bool = True) -> None:
    p.add_argument("--log-level", choices=logs.LEVELS, default="info", help="least severe log level shown")
    p.add_argument(
        "--log-format", choices=logs.FORMATS, default="text", help="text, or one JSON object a line"
    )
    if serving:
        p.add_argument(
            "--workers",
            type=_positive_int,
            default=1,
            metavar="N",
            help="worker processes sharing the ports (SO_REUSEPORT); a supervisor restarts "
            "crashed ones (default 1: serve in this process)",
        )
        p.add_argument(
            "--drain-timeout",
            type=_seconds,
            default=30.0,
            metavar="SECONDS",
            help="on SIGTERM, how long open connections may finish (default 30)",
        )
        p.add_argument(
            "--access-log",
            metavar="FILE",
            help="write HTTP access log lines to FILE (appended to; buffered, one write per batch) "
            "instead of with the other logs on stderr",
        )
        p.add_argument(
            "--pid-file",
            metavar="FILE",
            help="write the process id to signal (the supervisor's with --workers) to FILE while serving",
        )
        p.add_argument(
            "--loop", choices=LOOPS, default="auto", help="event loop (default: uvloop when installed)"
        )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="pipework",
        description="A programmable network proxy, scripted in Python.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"pipework {pipework.__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="serve a script (or the built-in demo)",
        description="Load SCRIPT and serve what it declares. SIGHUP reloads it; "
        "SIGTERM drains open connections and exits.",
    )
    run.add_argument(
        "script", nargs="?", help="a Python script using `import pipework as pw` (default: the built-in demo)"
    )
    run.add_argument("--watch", action="store_true", help="reload when the script file changes")
    _common(run)

    check = sub.add_parser(
        "check",
        help="load a script and report errors without serving",
        description="Exit 0 if SCRIPT loads, else print file:line: reason and exit 1.",
    )
    check.add_argument("script")
    _common(check, serving=False)

    gw = sub.add_parser(
        "gateway",
        help="serve a YAML gateway file: listeners, routes, upstreams, policies",
        description="Serve what CONFIG (YAML, see docs/gateway.md) declares: HTTP and HTTPS listeners, "
        "routes "
        "to upstreams with balancing and health checks, and policies (authentication, rate limits, CORS, "
        "compression...). Every mistake in the file is reported as file:line: reason. SIGHUP (or a change "
        "with --watch) reloads it; a file with mistakes is refused and the running configuration keeps "
        "serving.",
    )
    gw.add_argument("config", metavar="CONFIG", help="the gateway's YAML file")
    gw.add_argument("--check", action="store_true", help="check the file, report its mistakes and exit")
    gw.add_argument("--watch", action="store_true", help="reload when the file changes")
    _common(gw)

    proxy = sub.add_parser(
        "proxy",
        help="forward TCP (or UDP) to targets, round-robin",
        description="A TCP/UDP forwarder with no script. Each new connection "
        "(or UDP peer) goes to the next --to target.",
    )
    proxy.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="address to accept on, e.g. 0.0.0.0:8000"
    )
    proxy.add_argument(
        "--to",
        required=True,
        action="append",
        metavar="HOST:PORT",
        dest="targets",
        help="a target; repeat for several",
    )
    proxy.add_argument("--udp", action="store_true", help="forward UDP datagrams instead of TCP")
    proxy.add_argument(
        "--bind",
        metavar="ADDRS",
        help="source address, or a pool (127.0.0.2-127.0.0.9, a CIDR, or a,b,c) to spread "
        "outbound connections over",
    )
    proxy.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="SECONDS")
    proxy.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="close a connection idle this long both ways (default: never; UDP: 60)",
    )
    _common(proxy)

    rp = sub.add_parser(
        "reverse-proxy",
        help="forward HTTP requests to servers, balanced",
        description="An HTTP/1.1 reverse proxy with no script: each request goes to a --to server chosen by "
        "--balancer, over kept-alive connections, with X-Forwarded-* and Via added. Failed connections and "
        "timeouts are retried on another server (idempotent requests); a server that keeps failing is left "
        "out for a while, and with --health-path one that fails its checks; with no server left the client "
        "gets 503, 502 for a bad answer, 504 on timeout.",
    )
    rp.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="address to accept on, e.g. 0.0.0.0:8080"
    )
    rp.add_argument(
        "--to",
        required=True,
        action="append",
        metavar="URL",
        dest="targets",
        help="an upstream server, e.g. http://127.0.0.1:9000; repeat for several",
    )
    rp.add_argument(
        "--balancer",
        choices=BALANCER_NAMES,
        default="round_robin",
        metavar="NAME",
        help=f"how a server is chosen: {', '.join(BALANCER_NAMES)} (default round_robin)",
    )
    rp.add_argument(
        "--hash-key",
        metavar="EXPR",
        help="what ring_hash and maglev hash a request by (default: ip): " + ", ".join(KEY_EXPRESSIONS),
    )
    rp.add_argument(
        "--health-path",
        metavar="PATH",
        help="check each server with GET PATH (2xx/3xx: healthy); 3 failures take it out, "
        "2 passes bring it back",
    )
    rp.add_argument(
        "--health-interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between two checks of a server (default 5)",
    )
    rp.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="SECONDS")
    rp.add_argument(
        "--read-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="longest wait for the next bytes of a response (default 60)",
    )
    _tls_options(rp)
    rp.add_argument(
        "--hsts",
        type=_seconds,
        metavar="SECONDS",
        help="with --tls-cert: add Strict-Transport-Security: max-age=SECONDS to every response",
    )
    rp.add_argument(
        "--redirect-http",
        metavar="HOST:PORT",
        help="with --tls-cert: also listen here for plain HTTP and redirect it to https (301)",
    )
    _idle_timeout(rp)
    _common(rp)

    serve = sub.add_parser(
        "serve",
        help="serve a directory over HTTP from an in-memory cache",
        description="A static web server: files are cached in memory, re-validated "
        "against the disk at most every --revalidate seconds, with "
        "ETag/304, Range and gzip/brotli.",
    )
    serve.add_argument("root", metavar="DIR", help="the directory to serve")
    _tls_options(serve)
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, metavar="N", help="port on all IPv4 addresses (default 8080)")
    where.add_argument("--listen", metavar="HOST:PORT", help="address to accept on, e.g. 127.0.0.1:8080")
    serve.add_argument(
        "--revalidate",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how often a cached file is checked against the disk (default 1)",
    )
    serve.add_argument(
        "--cache-size",
        type=_positive_int,
        default=64,
        metavar="MiB",
        help="memory for cached files (default 64)",
    )
    serve.add_argument(
        "--max-file",
        type=_positive_int,
        default=4096,
        metavar="KiB",
        help="larger files are read from disk for each request (default 4096)",
    )
    _idle_timeout(serve)
    _common(serve)

    _common(cert_cli.add_parser(sub), serving=False)
    return ap


def _tls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain (and --tls-key)"
    )
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument(
        "--tls-key-passphrase-file",
        metavar="FILE",
        help="a file holding the passphrase of an encrypted --tls-key (kept off the command line)",
    )


def _tls_pair(args: argparse.Namespace) -> tuple[str, str, str | None] | None:
    """The --tls-* options as accept_tls's certificate; ValueError (reported as a load error)."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    passphrase = None
    if args.tls_key_passphrase_file:
        try:
            with open(args.tls_key_passphrase_file, encoding="utf-8") as f:
                passphrase = f.read().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(
                f"--tls-key-passphrase-file {args.tls_key_passphrase_file}: {exc.strerror}"
            ) from None
    return (args.tls_cert, args.tls_key, passphrase) if args.tls_cert else None


def _idle_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help=f"close a client connection quiet both ways this long (default {DEFAULT_IDLE_TIMEOUT:g}; 0: "
        "never)",
    )


def _serve(loader: Callable[[], Program], args: argparse.Namespace, first: Program, watch: str | None) -> int:
    raise_fd_limit()
    if not args.pid_file:
        return _serve_workers(loader, args, first, watch)
    mine = f"{os.getpid()}\n"
    try:
        with open(args.pid_file, "w") as f:
            f.write(mine)
    except OSError as exc:
        log.error("--pid-file %s: %s", args.pid_file, exc.strerror)
        return 2
    try:
        return _serve_workers(loader, args, first, watch)
    finally:
        try:  # unless another process has taken the file over since
            with open(args.pid_file) as f:
                if f.read() == mine:
                    os.unlink(args.pid_file)
        except OSError:
            pass


def _serve_workers(
    loader: Callable[[], Program], args: argparse.Namespace, first: Program, watch: str | None
) -> int:

    def child(index: int) -> int:
        logs.setup(args.log_level, args.log_format, tag=f"w{index}", access_log=args.access_log)
        return _serve_here(loader, args, None, reuse_port=True, watch=None)

    if args.workers > 1:

        def check() -> None:
            loader()

        return Supervisor(args.workers, child, check, drain_timeout=args.drain_timeout, watch=watch).run()
    # a watched file is loaded again once its stamp is taken, so that a change made since the
    # check above is seen
    return _serve_here(loader, args, None if watch else first, reuse_port=False, watch=watch)


def _serve_here(
    loader: Callable[[], Program],
    args: argparse.Namespace,
    first: Program | None,
    reuse_port: bool,
    watch: str | None,
) -> int:
    pending = [first] if first is not None else []

    def load() -> Program:
        return pending.pop() if pending else loader()

    worker = Worker(load, reuse_port=reuse_port, drain_timeout=args.drain_timeout, watch=watch)
    try:
        run_loop(worker.serve(), args.loop)
    except ScriptError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _serve_app(args: argparse.Namespace, name: str, declare: Callable[[], None]) -> int:
    """Serve a ready-made program from ``pipework.apps``; a bad argument fails like a bad script."""

    def loader() -> Program:
        try:
            return run_declarations(name, declare)
        except (ValueError, TypeError, OSError) as exc:
            raise ScriptError(f"{name}: {exc}") from exc

    first = _load(loader)
    if first is None:
        return 1
    return _serve(loader, args, first, None)


def _load(loader: Callable[[], Program]) -> Program | None:
    try:
        return loader()
    except ScriptError as exc:
        print(f"pipework: {exc}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 2
    try:
        logs.setup(args.log_level, args.log_format, access_log=getattr(args, "access_log", None))
    except OSError as exc:
        print(f"pipework: --access-log {args.access_log}: {exc.strerror}", file=sys.stderr)
        return 2

    if args.command == "check":
        prog = _load(lambda: load_file(args.script))
        if prog is None:
            return 1
        print(f"{args.script}: ok ({len(prog.listens)} listeners, {len(prog.tasks)} tasks)")
        return 0

    if args.command == "run":
        if args.script:
            path = args.script

            def loader() -> Program:
                return load_file(path)
        else:
            from ..apps import demo

            def loader() -> Program:
                return run_declarations("built-in demo", demo.declare)

            if args.watch:
                print("pipework: --watch needs a script file", file=sys.stderr)
                return 2
        first = _load(loader)
        if first is None:
            return 1
        if not args.script:
            log.info("serving the built-in demo: open http://127.0.0.1:8080/ or try `nc 127.0.0.1 8000`")
        return _serve(loader, args, first, args.script if args.watch else None)

    if args.command == "cert":
        return cert_cli.main(args)

    if args.command == "gateway":
        from ..apps import gateway

        config = args.config

        read: list[gateway.Gateway] = []

        def load_gateway() -> Program:
            return run_declarations(config, lambda: read.append(gateway.load(config)))

        first = _load(load_gateway)
        if first is None:
            return 1
        if args.check:
            print(f"{config}: ok — {read[-1].summary()}")
            return 0
        return _serve(load_gateway, args, first, config if args.watch else None)

    if args.command == "proxy":
        from ..apps import proxy

        return _serve_app(
            args,
            "pipework proxy",
            lambda: proxy.declare(
                args.listen,
                args.targets,
                udp=args.udp,
                bind=args.bind,
                connect_timeout=args.connect_timeout,
                idle_timeout=args.idle_timeout,
            ),
        )

    if args.command == "reverse-proxy":
        from ..apps import reverse_proxy

        return _serve_app(
            args,
            "pipework reverse-proxy",
            lambda: reverse_proxy.declare(
                args.listen,
                args.targets,
                balancer=args.balancer,
                hash_key=args.hash_key,
                health_path=args.health_path,
                health_interval=args.health_interval,
                tls=_tls_pair(args),
                hsts=args.hsts,
                redirect_http=args.redirect_http,
                connect_timeout=args.connect_timeout,
                read_timeout=args.read_timeout,
                idle_timeout=args.idle_timeout,
            ),
        )

    if args.command == "serve":
        from ..apps import serve

        listen = args.listen or f"0.0.0.0:{args.port if args.port is not None else 8080}"
        return _serve_app(
            args,
            "pipework serve",
            lambda: serve.declare(
                args.root,
                listen,
                cache_size=args.cache_size << 20,
                max_file=args.max_file << 10,
                revalidate=args.revalidate,
                idle_timeout=args.idle_timeout,
                tls=_tls_pair(args),
            ),
        )
    return 2


if __name__ == "__main__":
    sys.exit(main())
