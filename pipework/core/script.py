"""Loading scripts: run a Python file and collect what it declares, or a clear error.

Theory of operation: a script is a plain Python file. While it runs, the entry points
:func:`listen`, :func:`task` and :func:`on_exit` record declarations on the :class:`Program`
being loaded; nothing is started. The runtime then applies a whole program at once, which is what
makes a reload atomic: a script that fails to load leaves the running program untouched.

Every load failure becomes a :class:`ScriptError` whose message starts with ``file:line:`` of the
script line at fault (for an error raised deep inside pipework, the script's own line that led
there), so a person can jump to it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..net.tcp import split_address
from .builder import LayoutLike, as_layout
from .checks import seconds
from .pipeline import Layout

#: SIGHUP, SIGTERM and SIGINT belong to the runtime (reload and shutdown)
_SIGNALS = ("SIGUSR1", "SIGUSR2")
PROTOCOLS = ("tcp", "udp")


class ScriptError(Exception):
    """A script could not be loaded; ``str()`` is ``file:line: reason``."""

    def __init__(self, message: str, filename: str = "", lineno: int = 0) -> None:
        super().__init__(message)
        self.filename = filename
        self.lineno = lineno


@dataclass(slots=True)
class ListenSpec:
    protocol: str
    host: str
    port: int
    layout: Layout
    options: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.protocol, self.host, self.port)


@dataclass(slots=True)
class TaskSpec:
    #: seconds between runs, a signal name, or None to run once at start
    when: float | str | None
    layout: Layout


@dataclass
class Program:
    """What one load of a script declared."""

    source: str
    listens: list[ListenSpec] = field(default_factory=list)
    tasks: list[TaskSpec] = field(default_factory=list)
    exits: list[Callable[[], Any]] = field(default_factory=list)
    #: objects with start() and stop() that live as long as the program serves (upstreams)
    services: list[Any] = field(default_factory=list)


_loading: list[Program] = []

LISTEN_OPTIONS = {
    "backlog": int,
    "max_connections": int,
    "idle_timeout": float,
    "read_timeout": float,
    "lingering_timeout": float,
    "lingering_time": float,
}


def _current(what: str) -> Program:
    if not _loading:
        raise RuntimeError(
            f"pw.{what}() declares part of a script: call it in a script run by `pipework run`"
        )
    return _loading[-1]


def listen(address: int | str, layout: LayoutLike, *, protocol: str = "tcp", **options: Any) -> None:
    """Accept connections on ``address`` (a port, ``"host:port"`` or ``"[v6]:port"``).

    Each connection gets a new pipeline of ``layout``. ``protocol`` is ``"tcp"`` or ``"udp"``
    (a UDP "connection" is the datagrams of one remote address). Options: ``backlog``,
    ``max_connections`` (0: no limit), ``idle_timeout`` and ``read_timeout`` in seconds; for TCP,
    ``lingering_timeout`` (5) and ``lingering_time`` (30), in seconds, bound how long a connection
    whose pipeline has ended, while the peer may still be sending, waits for the peer's EOF: the
    longest silence, and the longest wait in all (0: close at once, at the risk of a reset).
    """
    prog = _current("listen")
    if protocol not in PROTOCOLS:
        raise ValueError(f"listen(): protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    host, port = split_address(address)
    for name, value in options.items():
        kind = LISTEN_OPTIONS.get(name)
        if kind is None:
            raise TypeError(f"listen(): unknown option {name!r}; known: {', '.join(LISTEN_OPTIONS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"listen(): {name} must be a number >= 0, not {value!r}")
        options[name] = kind(value)
    spec = ListenSpec(protocol, host, port, as_layout(layout), options)
    if port != 0 and any(s.key == spec.key for s in prog.listens):
        raise ValueError(f"listen(): {protocol} {address} is declared twice")
    prog.listens.append(spec)


def task(when: float | str | None, layout: LayoutLike) -> None:
    """Run a pipeline of ``layout`` every ``when`` seconds, on signal ``when`` (``"SIGUSR1"``),
    or once at start (``None``). Its pipeline gets no input: start it with ``on_start``."""
    prog = _current("task")
    if isinstance(when, str):
        if when not in _SIGNALS:
            raise ValueError(f"task(): unknown signal {when!r}; use one of {', '.join(_SIGNALS)}")
    elif when is not None:
        seconds(when, "task(): the interval", zero=False)
    prog.tasks.append(TaskSpec(float(when) if isinstance(when, int | float) else when, as_layout(layout)))


def on_exit(callback: Callable[[], Any]) -> None:
    """Call ``callback()`` (sync or ``async``) when the process shuts down, after draining."""
    if not callable(callback):
        raise TypeError(f"on_exit() expects a function, got {type(callback).__name__}")
    _current("on_exit").exits.append(callback)


def loading() -> Program | None:
    """The program being loaded now, if one is (what a value made by a script belongs to)."""
    return _loading[-1] if _loading else None


def service(obj: Any) -> None:
    """Tie ``obj`` (with ``start()`` and ``stop()``) to the program being loaded, if one is: the
    runtime starts it when the program starts serving and stops it when a reload replaces it."""
    if _loading:
        _loading[-1].services.append(obj)


def _locate(exc: BaseException, filename: str) -> tuple[str, int]:
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno or 0
    frames = traceback.extract_tb(exc.__traceback__)
    target = os.path.abspath(filename)
    for fr in reversed(frames):
        if os.path.abspath(fr.filename) == target:
            return filename, fr.lineno or 0
    if frames:
        return frames[-1].filename, frames[-1].lineno or 0
    return filename, 0


def describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


def run_declarations(source: str, fn: Callable[[], Any]) -> Program:
    """Call ``fn`` with a fresh program being loaded and return what it declared."""
    prog = Program(source)
    _loading.append(prog)
    try:
        fn()
    finally:
        _loading.pop()
    return prog


def load_file(path: str) -> Program:
    """Run the script at ``path`` and return its program; raise :class:`ScriptError` on failure."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the script: {exc.strerror}", path) from None
    scope: dict[str, Any] = {"__name__": "__pipework__", "__file__": os.path.abspath(path)}
    script_dir = os.path.dirname(os.path.abspath(path))

    def run() -> None:
        code = compile(text, path, "exec")
        sys.path.insert(0, script_dir)
        try:
            exec(code, scope)
        finally:
            try:
                sys.path.remove(script_dir)
            except ValueError:
                pass

    try:
        prog = run_declarations(path, run)
    except Exception as exc:
        file, line = _locate(exc, path)
        raise ScriptError(f"{file}:{line}: {describe(exc)}", file, line) from exc
    if not prog.listens and not prog.tasks:
        raise ScriptError(
            f"{path}:1: the script declares nothing to run: call pw.listen() or pw.task()", path, 1
        )
    return prog
