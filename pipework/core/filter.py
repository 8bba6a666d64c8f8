"""The base class of filters, and the template a layout keeps for each of them.

Theory of operation: a filter takes events in through :meth:`Filter.process` and puts events
out by calling ``self._out(evt)``, which the pipeline binds to the next filter's ``process`` (or
to the pipeline's output for the last one). Subclasses keep their per-instance state in
``__slots__`` and read their settings from ``self.cfg``, an object built once per layout by the
builder method, so making a filter for a new pipeline costs one allocation.

Hooks: :meth:`start` runs when the pipeline starts (only for classes that set
``needs_start``), :meth:`close` when the pipeline is torn down; both run once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .events import Event

if TYPE_CHECKING:
    from .context import Context
    from .pipeline import Layout, Pipeline


def _unbound(evt: Event) -> None:
    raise RuntimeError("filter output used before the filter joined a pipeline")


class Filter:
    """A step of a pipeline. Override :meth:`process`; call ``self._out`` to emit."""

    __slots__ = ("_out", "cfg", "pipeline")

    pipeline: Pipeline

    #: set True in subclasses that override :meth:`start`
    needs_start: ClassVar[bool] = False

    def __init__(self, cfg: Any = None) -> None:
        self.cfg = cfg
        self._out: Callable[[Event], None] = _unbound

    @property
    def context(self) -> Context:
        return self.pipeline.context

    def process(self, evt: Event) -> None:
        self._out(evt)

    def output(self, evt: Event) -> None:
        self._out(evt)

    def start(self) -> None:
        """The pipeline has started; a filter may emit events from here."""

    def close(self) -> None:
        """The pipeline is being torn down: release connections, timers and holds."""


class Template:
    """A filter class with its settings, as one step of a layout."""

    __slots__ = ("cfg", "cls", "name", "subs")

    def __init__(self, name: str, cls: type[Filter], cfg: Any = None, subs: int = 0) -> None:
        self.name = name
        self.cls = cls
        self.cfg = cfg
        #: how many ``.to()`` sub-pipelines this step still waits for
        self.subs = subs

    def attach(self, layout: Layout) -> None:
        """Give this step the sub-pipeline layout that ``.to()`` names."""
        if self.subs <= 0:
            raise TypeError(f".to() follows {self.name}(), which takes no sub-pipeline")
        self.subs -= 1
        attach = getattr(self.cfg, "attach", None)
        if attach is None:
            raise TypeError(f"{self.name}() does not take a sub-pipeline")
        attach(layout)


def make_filter(template: Template, pipeline: Pipeline) -> Filter:
    f = template.cls(template.cfg)
    f.pipeline = pipeline
    return f
