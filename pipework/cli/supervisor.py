"""The supervisor of ``--workers N``: fork workers, restart crashed ones, relay signals.

Theory of operation: the supervisor loads the script once to check it, makes the group's shared
directory (:mod:`pipework.core.group`), then forks N workers that
each serve it with ``SO_REUSEPORT`` on the same ports, so the kernel spreads connections over
them. It waits for signals synchronously (``sigtimedwait``), never running an event loop itself:

- a worker that exits while not shutting down is restarted, after a back-off that grows while
  workers keep crashing quickly (up to ``MAX_BACKOFF``);
- SIGHUP (or a change of the script with ``--watch``) checks the script first and, only if it
  loads, tells every worker to reload; a broken script is reported and the workers keep serving;
- SIGTERM or SIGINT is passed to the workers, which drain; any still alive ``KILL_GRACE`` seconds
  after the drain timeout are killed;
- SIGUSR1 (reopen the log files, then the script's tasks on it) and SIGUSR2 (its tasks) are
  passed to the workers.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from ..core import group
from ..net.files import Stamp, stamp

log = logging.getLogger("pipework")

MAX_BACKOFF = 5.0
KILL_GRACE = 5.0
_RELAYED = {signal.SIGUSR1, signal.SIGUSR2}
_SIGNALS = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD} | _RELAYED


class Supervisor:
    def __init__(
        self,
        workers: int,
        child: Callable[[int], int],
        check: Callable[[], None],
        *,
        drain_timeout: float,
        watch: str | None = None,
    ) -> None:
        self.n = workers
        self.child = child
        self.check = check
        self.drain_timeout = drain_timeout
        self.watch = watch
        self.pids: dict[int, int] = {}  # pid -> worker index
        self.started: dict[int, float] = {}  # index -> start time
        self.backoff: dict[int, float] = {}
        self.restarts = 0

    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for s in _SIGNALS:  # a USR1 before the runtime takes it must not end the worker
                    signal.signal(s, signal.SIG_IGN if s in _RELAYED else signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                group.set_worker(index)
                code = self.child(index)
            except BaseException as exc:
                log.error("worker %d failed: %s", index, exc, exc_info=exc)
            finally:
                logging.shutdown()
                os._exit(code)
        self.pids[pid] = index
        self.started[index] = time.monotonic()
        log.info("started worker %d (pid %d)", index, pid)

    def _stamp(self) -> Stamp | None:
        return stamp(self.watch) if self.watch else None

    def _reload(self) -> None:
        try:
            self.check()
        except Exception as exc:
            log.error("reload refused, the workers keep the running script: %s", exc)
            return
        log.info("reloading %d workers", len(self.pids))
        for pid in self.pids:
            os.kill(pid, signal.SIGHUP)

    def _reap(self, stopping: bool) -> list[int]:
        """Collect exited workers; return the indexes to restart."""
        restart = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            index = self.pids.pop(pid, None)
            if index is None:
                continue
            how = (
                f"signal {signal.Signals(-os.waitstatus_to_exitcode(status)).name}"
                if os.WIFSIGNALED(status)
                else f"code {os.waitstatus_to_exitcode(status)}"
            )
            if stopping:
                log.info("worker %d (pid %d) exited with %s", index, pid, how)
                continue
            lived = time.monotonic() - self.started.get(index, 0.0)
            b = self.backoff.get(index, 0.0)
            b = 0.0 if lived > 10 else min(MAX_BACKOFF, max(0.1, b * 2))
            self.backoff[index] = b
            log.error("worker %d (pid %d) exited with %s; restarting in %.1fs", index, pid, how, b)
            restart.append(index)
        return restart

    def run(self) -> int:
        group.make(self.n)
        try:
            return self._run()
        finally:
            group.remove()

    def _run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        stamp = self._stamp()  # before the workers load the script: a change after it counts
        for i in range(1, self.n + 1):
            self._spawn(i)
        due: dict[int, float] = {}
        stopping_since: float | None = None
        while True:
            info = signal.sigtimedwait(_SIGNALS, 0.25)
            sig = info.si_signo if info is not None else None
            if sig in (signal.SIGTERM, signal.SIGINT) and stopping_since is None:
                log.info("stopping %d workers (drain timeout %gs)", len(self.pids), self.drain_timeout)
                stopping_since = time.monotonic()
                for pid in self.pids:
                    os.kill(pid, signal.SIGTERM)
            elif sig == signal.SIGHUP and stopping_since is None:
                self._reload()
            elif sig in _RELAYED:
                for pid in self.pids:
                    os.kill(pid, sig)
            now = time.monotonic()
            for index in self._reap(stopping_since is not None):
                due[index] = now + self.backoff[index]
            if stopping_since is not None:
                if not self.pids:
                    log.info("all workers stopped")
                    return 0
                if now - stopping_since > self.drain_timeout + KILL_GRACE:
                    for pid in self.pids:
                        os.kill(pid, signal.SIGKILL)
                continue
            for index, when in list(due.items()):
                if now >= when:
                    del due[index]
                    self.restarts += 1
                    self._spawn(index)
            if self.watch:
                s = self._stamp()
                if s != stamp and s is not None:
                    stamp = s
                    log.info("%s changed", self.watch)
                    self._reload()
