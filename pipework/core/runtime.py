"""The worker runtime: apply a loaded program, reload it, drain and shut down.

Theory of operation: a :class:`Worker` owns the listeners of one process. Applying a
:class:`~pipework.core.script.Program` starts the listeners it declares that are not open yet,
points the ones that stay at the new layouts (connections accepted from then on use them; open
ones keep the pipelines they have, and so the old layouts), and closes the listeners the program
no longer declares. A reload loads the script first and applies it only when it loaded
cleanly, so a broken script leaves the old one serving.

Shutdown follows a fixed order: stop accepting, wait for open sessions up to the drain timeout,
abort what is left, run the ``on_exit`` callbacks, return.

SIGUSR1 and SIGUSR2 belong to the runtime too, for as long as it serves: SIGUSR1 first reopens
the log files (each function in :data:`REOPEN`, as nginx does on USR1, so logrotate can move a
file away and have the next line go to a new one), then both run the tasks the program
scheduled on them (``task("SIGUSR1", ...)``), every one of them, not just the last declared.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import signal
from collections.abc import Callable
from typing import Any

from ..net import spawn
from ..net.files import Stamp, stamp
from ..net.tcp import LINGERING_TIME, LINGERING_TIMEOUT, TcpListener, join_address
from ..net.udp import UdpListener
from .context import Context
from .events import Event, StreamEnd
from .pipeline import Layout, Pipeline
from .script import ListenSpec, Program, ScriptError, TaskSpec
from .session import InboundSession

log = logging.getLogger("pipework")

Listener = TcpListener | UdpListener
WATCH_INTERVAL = 1.0
UDP_DRAIN_IDLE = 1.0

#: what SIGUSR1 calls before its tasks: log files register their reopening here
REOPEN: list[Callable[[], None]] = []


class _TaskRun:
    """One scheduled task of a program: its timer or signal and its running pipelines."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.timer: asyncio.TimerHandle | None = None
        self.pipelines: set[Pipeline] = set()
        self.stopped = False

    def fire(self) -> None:
        if self.stopped:
            return
        ctx = Context()
        holder: list[Pipeline] = []

        def output(evt: Event) -> None:
            if type(evt) is StreamEnd and holder:
                p = holder[0]
                self.pipelines.discard(p)
                p.close()

        p = self.spec.layout.spawn(ctx, output)
        holder.append(p)
        self.pipelines.add(p)
        ctx.fail = lambda exc: log.error(
            "task %s: %s", self.spec.layout.name or "(anonymous)", exc, exc_info=exc
        )
        try:
            p.start()
        except Exception as exc:
            ctx.fail(exc)
            self.pipelines.discard(p)
            p.close()
        if isinstance(self.spec.when, float):
            self.timer = asyncio.get_running_loop().call_later(self.spec.when, self.fire)

    def stop(self) -> None:
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()
        for p in tuple(self.pipelines):
            p.close()
        self.pipelines.clear()


def idle_timeout(spec: ListenSpec) -> float:
    """The listen()'s idle timeout, or the default of its protocol: 60 s for UDP sessions, the
    first filter's own for TCP (demux_http: an HTTP keep-alive timeout), else none."""
    o = spec.options
    if "idle_timeout" in o:
        return float(o["idle_timeout"])
    if spec.protocol == "udp":
        return 60.0
    ts = spec.layout.templates
    return float(getattr(ts[0].cfg, "default_idle_timeout", 0.0)) if ts else 0.0


#: the worker serving in this process (for the metrics and admin endpoints)
current: Worker | None = None


class Worker:
    """Serves one program in this process; see the module docstring."""

    def __init__(
        self,
        loader: Callable[[], Program],
        *,
        reuse_port: bool = False,
        drain_timeout: float = 30.0,
        watch: str | None = None,
    ) -> None:
        self.loader = loader
        self.reuse_port = reuse_port
        self.drain_timeout = drain_timeout
        self.watch = watch
        self.program: Program | None = None
        self.listeners: dict[tuple[str, str, int], Listener] = {}
        self.sessions: set[InboundSession] = set()
        self.tasks: list[_TaskRun] = []
        self.reloads = 0
        self._stop: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None
        self._stopping = False

    # -- listeners and sessions ---------------------------------------------------------------
    def _session_done(self, s: InboundSession) -> None:
        self.sessions.discard(s)
        if not self.sessions and self._drained is not None:
            self._drained.set()

    def _factory(self, layout: Layout, protocol: str) -> Callable[[Any], InboundSession]:
        sessions = self.sessions
        done = self._session_done

        def make(conn: Any) -> InboundSession:
            s = InboundSession(layout, conn, protocol, done)
            sessions.add(s)
            return s

        return make

    def _new_listener(self, spec: ListenSpec) -> Listener:
        factory = self._factory(spec.layout, spec.protocol)
        o = spec.options
        if spec.protocol == "udp":
            return UdpListener(
                spec.host,
                spec.port,
                factory,
                idle_timeout=idle_timeout(spec),
                max_connections=o.get("max_connections", 0),
                reuse_port=self.reuse_port,
            )
        return TcpListener(
            spec.host,
            spec.port,
            factory,
            backlog=o.get("backlog", 1024),
            max_connections=o.get("max_connections", 0),
            idle_timeout=idle_timeout(spec),
            read_timeout=o.get("read_timeout", 0.0),
            reuse_port=self.reuse_port,
            lingering_timeout=o.get("lingering_timeout", LINGERING_TIMEOUT),
            lingering_time=o.get("lingering_time", LINGERING_TIME),
        )

    async def apply(self, prog: Program) -> None:
        """Make ``prog`` the running program; on failure nothing changes and the error is raised."""
        started: list[tuple[tuple[str, str, int], Listener]] = []
        try:
            for spec in prog.listens:
                if spec.key not in self.listeners or spec.port == 0:
                    lst = self._new_listener(spec)
                    await lst.start()
                    started.append((spec.key, lst))
        except OSError as exc:
            for _, lst in started:
                lst.close()
            raise ScriptError(
                f"{prog.source}: cannot listen on {spec.protocol} "
                f"{join_address(spec.host, spec.port)}: {exc.strerror or exc}"
            ) from exc
        new_keys = {s.key for s in prog.listens}
        for key, lst in list(self.listeners.items()):
            if key not in new_keys:
                lst.close()
                del self.listeners[key]
                log.info("stopped listening on %s %s", key[0], lst.address)
        fresh = {id(lst) for _, lst in started}
        for key, lst in started:
            self.listeners[(key[0], key[1], lst.port)] = lst
            log.info("listening on %s %s", key[0], lst.address)
        for spec in prog.listens:
            kept = self.listeners.get(spec.key)
            if kept is not None and id(kept) not in fresh:
                kept.factory = self._factory(spec.layout, spec.protocol)
                o = spec.options
                kept.max_connections = o.get("max_connections", 0)
                kept.idle_timeout = idle_timeout(spec)
                if isinstance(kept, TcpListener):
                    kept.read_timeout = o.get("read_timeout", 0.0)
                    kept.lingering_timeout = o.get("lingering_timeout", LINGERING_TIMEOUT)
                    kept.lingering_time = o.get("lingering_time", LINGERING_TIME)
        for t in self.tasks:
            t.stop()
        self.tasks = [_TaskRun(spec) for spec in prog.tasks]
        loop = asyncio.get_running_loop()
        for t in self.tasks:  # tasks on a signal wait for _on_user_signal
            if t.spec.when is None:
                loop.call_soon(t.fire)
            elif isinstance(t.spec.when, float):
                t.timer = loop.call_later(t.spec.when, t.fire)
        old = self.program.services if self.program is not None else []
        for svc in prog.services:
            svc.start()
        for svc in old:
            if all(svc is not s for s in prog.services):
                svc.stop()
        self.program = prog
        # what a program is made of lives until the next reload: keep it out of the collector's
        # way (after letting the previous program's cycles go)
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    async def reload(self) -> bool:
        """Load the script again and apply it; on any error keep the old program and log why."""
        try:
            prog = self.loader()
            await self.apply(prog)
        except ScriptError as exc:
            log.error("reload failed, the previous script keeps serving: %s", exc)
            return False
        self.reloads += 1
        log.info(
            "reloaded %s (%d listeners, %d open sessions kept)",
            prog.source,
            len(self.listeners),
            len(self.sessions),
        )
        return True

    # -- main ---------------------------------------------------------------------------------
    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Load, serve until SIGTERM/SIGINT (or :meth:`stop`), drain, run exit callbacks.

        Raises :class:`ScriptError` when the first load fails.
        """
        global current
        current = self
        self._stop = asyncio.Event()
        seen = stamp(self.watch) if self.watch else None  # before loading: a change after it counts
        await self.apply(self.loader())
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: spawn(self.reload(), "reload"))
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        for name in ("SIGUSR1", "SIGUSR2"):
            loop.add_signal_handler(getattr(signal, name), self._on_user_signal, name)
        if self.watch:
            spawn(self._watch(self.watch, seen), "watch")
        if ready is not None:
            ready()
        await self._stop.wait()
        await self.shutdown()

    def _on_user_signal(self, name: str) -> None:
        if name == "SIGUSR1":
            for reopen in REOPEN:
                try:
                    reopen()
                except Exception as exc:
                    log.error("reopening logs: %s", exc)
        for t in self.tasks:
            if t.spec.when == name:
                t.fire()

    def stop(self) -> None:
        if self._stop is None:
            return
        if self._stop.is_set():
            log.warning("second stop signal: closing all connections now")
            for s in tuple(self.sessions):
                s.conn.abort("Shutdown")
            return
        log.info("stopping: draining %d open sessions for up to %gs", len(self.sessions), self.drain_timeout)
        self._stop.set()

    async def shutdown(self) -> None:
        self._stopping = True
        for lst in self.listeners.values():
            lst.close()
            if isinstance(lst, UdpListener):
                # a UDP session has no end but silence: give replies in flight a moment, no more
                lst.shorten_idle(UDP_DRAIN_IDLE)
        for t in self.tasks:
            t.stop()
        for s in tuple(self.sessions):
            try:
                s.drain()
            except Exception as exc:
                log.error("%s: error while draining: %s", s.context, exc, exc_info=exc)
        if self.sessions:
            self._drained = asyncio.Event()
            try:
                async with asyncio.timeout(self.drain_timeout):
                    await self._drained.wait()
            except TimeoutError:
                log.warning("drain timeout: closing %d sessions still open", len(self.sessions))
                for s in tuple(self.sessions):
                    s.conn.abort("Shutdown")
        for svc in self.program.services if self.program else ():
            svc.stop()
        await self.run_exits()
        log.info("stopped")

    async def run_exits(self) -> None:
        for cb in self.program.exits if self.program else ():
            try:
                r = cb()
                if inspect.isawaitable(r):
                    await r
            except Exception as exc:
                log.error(
                    "on_exit callback %s failed: %s", getattr(cb, "__qualname__", cb), exc, exc_info=exc
                )

    async def _watch(self, path: str, last: Stamp | None) -> None:
        while not self._stopping:
            await asyncio.sleep(WATCH_INTERVAL)
            now = stamp(path)
            if now != last and now is not None:
                last = now
                log.info("%s changed: reloading", path)
                await self.reload()
