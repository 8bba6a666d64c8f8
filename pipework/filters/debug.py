"""``dump`` and ``tee``: see what flows, without changing it.

- ``dump(tag="")`` writes each event to the ``pipework.dump`` logger (stderr by default) with
  the tag and the connection it belongs to.
- ``tee(filename)`` appends the bytes of every ``Data`` event to a file; ``filename`` may be a
  function of the context, for one file per connection. Writes go through a buffered file
  object and are flushed at the end of the stream; this is a debugging aid, not a log shipper.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from ..core import Builder, Data, Event, Filter, StreamEnd, adapt, register
from ..core.callback import Callback

dump_log = logging.getLogger("pipework.dump")


class Dump(Filter):
    __slots__ = ()

    def process(self, evt: Event) -> None:
        dump_log.info("%s %r %r", self.cfg, self.pipeline.context, evt)
        self._out(evt)


class Tee(Filter):
    __slots__ = ("file",)

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.file: IO[bytes] | None = None

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            f = self.file
            if f is None:
                name = self.cfg
                if isinstance(name, Callback):
                    name = name.call(self.pipeline.context)
                f = self.file = open(name, "ab")  # noqa: SIM115  (closed in close())
            f.write(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd and self.file is not None:
            self.file.flush()
        self._out(evt)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def dump(self: Builder, tag: str = "") -> Builder:
    """Log every event passing here, with ``tag``."""
    return self.add("dump", Dump, tag)


def tee(self: Builder, filename: Any) -> Builder:
    """Append every ``Data`` event's bytes to ``filename`` (a path or a function of the context)."""
    if callable(filename):
        return self.add("tee", Tee, adapt(filename, 0, "tee()"))
    if not isinstance(filename, str) or not filename:
        raise TypeError(f"tee() expects a file name, got {filename!r}")
    return self.add("tee", Tee, filename)


register(dump=dump, tee=tee)
