"""Where a connection meets a pipeline: inbound sessions.

An :class:`InboundSession` is the handler (see :mod:`pipework.net.conn`) that the engine gives
each accepted connection or UDP peer. It makes the context and the root pipeline, turns reads
into ``Data`` events and the peer's EOF into ``StreamEnd``, and writes the pipeline's output
back: ``Data`` is written, ``StreamEnd`` closes the connection once the buffer is flushed, and
message events, which only a codec can put on the wire, are ignored here.

A TCP peer may still be sending when the pipeline ends its output cleanly (an HTTP server that
answers 413 before the body has come). Closing then would make the kernel reset the connection,
and the peer could lose the answer; so the connection closes *lingering* (see
:meth:`pipework.net.tcp._Inbound.close_lingering`): it shuts its writing side down and drops
what the peer still sends until the peer's EOF or the listener's ``lingering_timeout`` /
``lingering_time``. The pipeline sees none of those bytes. An output that ends with an error, a
peer that has sent its EOF, and a process that drains get a plain close.

Any exception raised by a filter is caught here (or reported through ``ctx.fail``), logged once
with the connection it belongs to, and closes that connection only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .context import Context, InboundInfo
from .events import Data, Event, StreamEnd
from .flow import Valve
from .pipeline import Layout

log = logging.getLogger("pipework")


def _log_late_failure(exc: BaseException) -> None:
    log.error("error after the connection closed: %s", exc, exc_info=exc)


class InboundSession:
    """The handler of one inbound connection; see the module docstring."""

    __slots__ = (
        "_input",
        "conn",
        "context",
        "input_ended",
        "on_done",
        "output_ended",
        "pipeline",
        "take_bytes",
    )

    def __init__(
        self,
        layout: Layout,
        conn: Any,
        protocol: str = "tcp",
        on_done: Callable[[InboundSession], None] | None = None,
    ) -> None:
        self.conn = conn
        self.on_done = on_done
        ctx = self.context = Context(
            InboundInfo(protocol, conn), Valve(conn.pause_reading, conn.resume_reading)
        )
        ctx.fail = self._fail
        self.input_ended = False
        self.output_ended = False
        self.pipeline = layout.spawn(ctx, self._on_output)
        self._input = self.pipeline.input
        # a first filter that takes bytes as they are (demux_http) gets them without a Data event,
        # from the connection itself (see Connection.attach); its on_bytes reports its own errors
        filters = self.pipeline.filters
        self.take_bytes: Callable[[bytes], None] | None = (
            getattr(filters[0], "on_bytes", None) if filters else None
        )
        try:
            self.pipeline.start()
        except Exception as exc:
            self._fail(exc)

    # -- from the connection ------------------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        try:
            take = self.take_bytes
            if take is not None:
                take(data)
            else:
                self._input(Data(data))
        except Exception as exc:
            self._fail(exc)

    def on_eof(self) -> None:
        if not self.input_ended:
            self.input_ended = True
            try:
                self._input(StreamEnd())
            except Exception as exc:
                self._fail(exc)

    def on_close(self, error: str | None) -> None:
        if not self.input_ended:
            self.input_ended = True
            try:
                self._input(StreamEnd(error))
            except Exception as exc:
                log.error("%s: error while closing: %s", self.context, exc, exc_info=exc)
        self.pipeline.close()
        self.context.fail = _log_late_failure  # no cycle back to this session once it is over
        if self.on_done is not None:
            self.on_done(self)

    def on_write_paused(self, paused: bool) -> None:
        self.context.set_output_paused(paused)

    # -- from the owner -------------------------------------------------------------------------
    def drain(self) -> None:
        """The process is shutting down: let the pipeline end at a clean point, and close at
        once (after the flush) if its output has ended, rather than linger."""
        self.context.drain()
        if self.output_ended:
            self.conn.close()

    # -- from the pipeline ----------------------------------------------------------------------
    def write_bytes(self, data: bytes) -> None:
        """Bytes for the connection from the root pipeline's last filter, without a Data event."""
        self.conn.write(data)

    def _on_output(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            self.conn.write(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd and not self.output_ended:
            self.output_ended = True
            if self.input_ended or evt.error or self.context.inbound.protocol != "tcp":  # type: ignore[attr-defined]
                self.conn.close()
            else:
                self.conn.close_lingering()

    def _fail(self, exc: BaseException) -> None:
        log.error("%s: %s: %s", self.context, type(exc).__name__, exc, exc_info=exc)
        self.output_ended = True
        self.conn.abort("InternalError")
