"""Background tasks, started one way: named, referenced until done, failures logged.

A bare ``asyncio.create_task`` keeps no reference (the task may be collected mid-flight) and its
exception is only reported when collected; ruff's banned-api points callers here instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from .loop import running_loop

log = logging.getLogger("pipework")

T = TypeVar("T")
_running: set[asyncio.Task[Any]] = set()


def _done(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %s failed: %s", task.get_name(), exc, exc_info=exc)


def spawn(
    coro: Coroutine[Any, Any, T], name: str, loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Task[T]:
    """Start ``coro`` as a task called ``name``; it is kept alive and its failure is logged."""
    task = (loop or running_loop()).create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_done)
    return task


def running() -> int:
    return len(_running)


class Periodic:
    """Work done again and again in the background: :meth:`refresh` runs from :meth:`start`
    until :meth:`stop`, each time returning the seconds to wait before the next run."""

    #: the task's name, for the log
    task_name = "periodic"
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = spawn(self._run(), self.task_name)

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while True:
            delay = await self.refresh()
            await asyncio.sleep(delay)

    async def refresh(self) -> float:
        raise NotImplementedError
