"""Choosing and creating the event loop: uvloop when installed, plain asyncio otherwise."""

from __future__ import annotations

import asyncio
import os
import resource
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOPS = ("auto", "uvloop", "asyncio")

_cache = threading.local()


def running_loop() -> asyncio.AbstractEventLoop:
    """The running loop, like ``asyncio.get_running_loop`` but without its per-call ``getpid``.

    The loop last seen running in this thread is kept; while it runs it can only be this
    thread's running loop, so it is returned without asking asyncio again.
    """
    loop: asyncio.AbstractEventLoop | None = getattr(_cache, "loop", None)
    if loop is not None and loop.is_running():
        return loop
    loop = _cache.loop = asyncio.get_running_loop()
    return loop


def loop_factory(kind: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making a new event loop of ``kind`` ("auto", "uvloop" or "asyncio")."""
    if kind not in LOOPS:
        raise ValueError(f"unknown loop {kind!r}; choose one of {', '.join(LOOPS)}")
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError as exc:
            if kind == "uvloop":
                msg = "--loop uvloop asked for, but uvloop is not installed: pip install uvloop"
                raise RuntimeError(msg) from exc
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], kind: str = "auto") -> T:
    """Run ``main`` to completion on a new loop of ``kind``."""
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main)


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard one (a proxy holds two sockets per client)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
        except (ValueError, OSError):
            return soft
    return soft


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
