"""User callbacks: decide once, at layout build time, how each one is called.

A script's callback may be a plain function or an ``async def``, and may take the context as an
extra last argument or not. :func:`adapt` looks at the function once and returns a
:class:`Callback` whose ``call(*args, ctx)`` always takes the context, so filters never inspect
a function per event. ``is_async`` tells a filter whether it must wait for a result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class Callback:
    """A user function with its calling convention resolved."""

    __slots__ = ("call", "fn", "is_async", "name")

    def __init__(self, fn: Callable[..., Any], call: Callable[..., Any], is_async: bool) -> None:
        self.fn = fn
        self.call = call
        self.is_async = is_async
        self.name = getattr(fn, "__qualname__", repr(fn))


def _positional_count(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` accepts; None for ``*args`` or unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    n = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def adapt(fn: Any, nargs: int, what: str) -> Callback:
    """Wrap ``fn`` so it can be called as ``call(*args, ctx)`` with ``nargs`` args before ctx.

    ``fn`` may accept ``nargs`` arguments (the context is then not passed), ``nargs + 1``
    (the context comes last), or take ``*args``. Raises ``TypeError`` naming ``what`` when ``fn``
    is not callable or takes a number of arguments that fits neither.
    """
    if not callable(fn):
        raise TypeError(f"{what} expects a function, got {type(fn).__name__}")
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
    n = _positional_count(fn)
    call: Callable[..., Any]
    if n is None or n == nargs + 1:
        call = fn
    elif n == nargs:
        if nargs == 0:

            def call(ctx: Any) -> Any:
                return fn()
        elif nargs == 1:

            def call(a: Any, ctx: Any) -> Any:
                return fn(a)
        else:

            def call(*args: Any) -> Any:
                return fn(*args[:-1])
    else:
        want = f"{nargs} argument{'s' if nargs != 1 else ''}" + (f" (or {nargs + 1} with the context)")
        raise TypeError(f"{what}: {getattr(fn, '__qualname__', fn)!s} takes {n} arguments, expected {want}")
    return Callback(fn, call, is_async)


def value_or_callback(value: Any, nargs: int, what: str) -> tuple[Any, Callback | None]:
    """A setting given either as a constant or as a function of the event/context."""
    if callable(value) and not isinstance(value, type):
        return None, adapt(value, nargs, what)
    return value, None
