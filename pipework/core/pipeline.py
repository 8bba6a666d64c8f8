"""Pipeline layouts and live pipelines.

Theory of operation: a :class:`Layout` is a named, ordered tuple of filter templates, built once
by a script. :meth:`Layout.spawn` makes a live :class:`Pipeline`: one filter per template, each
filter's output bound straight to the next filter's ``process`` so an event passes from filter to
filter with one Python call per step and nothing in between. The last filter's output is the
callback the owner gave (the connection writer, or the parent filter of a sub-pipeline).

The owner feeds events with ``pipeline.input(evt)``, calls :meth:`Pipeline.start` once after
making it, and :meth:`Pipeline.close` once when it is done with it.
"""

from __future__ import annotations

from collections.abc import Callable

from .context import Context
from .events import Event
from .filter import Filter, Template

Output = Callable[[Event], None]


def _discard(evt: Event) -> None:
    pass


class Layout:
    """A named, ordered list of filter templates. Made by :func:`pipework.pipeline`."""

    __slots__ = ("_starters", "name", "templates")

    def __init__(self, name: str = "", templates: list[Template] | None = None) -> None:
        self.name = name
        self.templates: tuple[Template, ...] = tuple(templates or ())
        self._starters: tuple[int, ...] = ()
        self.compile()

    def compile(self) -> None:
        """Check every step is complete and remember which filters need a start call."""
        for t in self.templates:
            if t.subs > 0:
                raise TypeError(f"{t.name}() needs a sub-pipeline: add .to(...) after it")
        # downstream filters start first, so that one starting upstream may already emit to them
        self._starters = tuple(reversed([i for i, t in enumerate(self.templates) if t.cls.needs_start]))

    def spawn(self, context: Context, output: Output = _discard) -> Pipeline:
        """Make a live pipeline of this layout that writes its output to ``output``."""
        return Pipeline(self, context, output)

    def __repr__(self) -> str:
        steps = " -> ".join(t.name for t in self.templates)
        return f"<Layout {self.name or '(anonymous)'}: {steps}>"


class Pipeline:
    """A live instance of a layout."""

    __slots__ = ("closed", "context", "filters", "input", "layout", "started")

    def __init__(self, layout: Layout, context: Context, output: Output) -> None:
        self.layout = layout
        self.context = context
        self.closed = False
        self.started = False
        filters: list[Filter] = []
        for t in layout.templates:
            f = t.cls(t.cfg)
            f.pipeline = self
            filters.append(f)
        nxt: Output = output
        for f in reversed(filters):
            f._out = nxt
            nxt = f.process
        self.filters = filters
        #: feed one event into the pipeline
        self.input: Output = nxt

    @property
    def output(self) -> Output:
        """Where this pipeline's output goes: a filter may send a last event there directly,
        past the steps after it (which then see nothing)."""
        return self.filters[-1]._out if self.filters else self.input

    def set_output(self, output: Output) -> None:
        """Send this pipeline's output somewhere else from now on."""
        if self.filters:
            self.filters[-1]._out = output
        else:
            self.input = output

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        filters = self.filters
        for i in self.layout._starters:
            filters[i].start()

    def close(self) -> None:
        """Tear the pipeline down; later input is dropped."""
        if self.closed:
            return
        self.closed = True
        self.input = _discard
        for f in self.filters:
            f.close()
        # filters point back at their pipeline: dropping the list lets reference counting free
        # a closed pipeline at once instead of leaving the cycle to the garbage collector
        self.filters = []
