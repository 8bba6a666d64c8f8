"""The fluent builder that scripts use to write layouts, and the registry of filter methods.

Theory of operation: ``pw.pipeline(lambda p: p.connect("127.0.0.1:9000"))`` calls the function
with a :class:`Builder`; each method appends one filter template and returns the builder, so calls
chain as in Pipy. The engine knows no filter: each filter family module calls :func:`register`
with its builder methods when it is imported. A step that takes a sub-pipeline either gets it as
an argument or from a following ``.to(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .filter import Filter, Template
from .pipeline import Layout

LayoutLike = Layout | Callable[["Builder"], Any]


class Builder:
    """Collects the steps of one layout. Filter families add their methods with :func:`register`."""

    __slots__ = ("_templates", "name")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._templates: list[Template] = []

    def add(self, name: str, cls: type[Filter], cfg: Any = None, subs: int = 0) -> Builder:
        """Append one step: filter class ``cls`` with settings ``cfg``; ``subs`` ``.to()`` expected."""
        self._templates.append(Template(name, cls, cfg, subs))
        return self

    def to(self, target: LayoutLike) -> Builder:
        """Give the previous step its sub-pipeline (a layout or a builder function)."""
        if not self._templates:
            raise TypeError(".to() must follow a step that takes a sub-pipeline")
        self._templates[-1].attach(as_layout(target))
        return self

    def build(self) -> Layout:
        return Layout(self.name, self._templates)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"no filter named {name!r}; known filters: {', '.join(sorted(_registered))}")


_registered: dict[str, Callable[..., Builder]] = {}


def register(**methods: Callable[..., Builder]) -> None:
    """Make each ``name=function`` a builder method ``p.name(...)``."""
    for name, fn in methods.items():
        if name in Builder.__dict__ and name not in _registered:
            raise ValueError(f"{name!r} is a builder method of its own and cannot be a filter")
        old = _registered.get(name)
        if old is not None and old is not fn and _origin(old) != _origin(fn):
            # the same function again (a script reloaded) replaces the old one; another clashes
            raise ValueError(f"filter method {name!r} is already registered by {_origin(old)}")
        _registered[name] = fn
        setattr(Builder, name, fn)


def _origin(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def registered() -> list[str]:
    return sorted(_registered)


def pipeline(builder: LayoutLike, name: str = "") -> Layout:
    """Make a layout by calling ``builder(p)`` with a fresh :class:`Builder`.

    A :class:`Layout` is returned as it is. Errors in the steps (an unknown filter, a bad
    argument, a missing ``.to()``) raise at once, so they point at the script's own line.
    """
    if isinstance(builder, Layout):
        return builder
    if not callable(builder):
        raise TypeError(f"a pipeline is made from a function p -> p.step()..., not {type(builder).__name__}")
    b = Builder(name or getattr(builder, "__name__", ""))
    if b.name == "<lambda>":
        b.name = ""
    builder(b)
    return b.build()


def as_layout(value: LayoutLike) -> Layout:
    return pipeline(value)
