"""The engine: events, filters, pipeline layouts, contexts, sub-pipelines and the script API."""

from . import subpipes as _subpipes  # noqa: F401  (registers link, pipe, branch, fork, demux, mux)
from .builder import Builder, pipeline, register
from .callback import Callback, adapt
from .context import Context, InboundInfo, OutboundInfo
from .events import Data, Event, Message, MessageEnd, MessageStart, StreamEnd, to_events
from .filter import Filter
from .flow import EventQueue, Hold, Valve
from .pipeline import Layout, Pipeline
from .script import ScriptError, listen, on_exit, task

__all__ = [
    "Builder",
    "Callback",
    "Context",
    "Data",
    "Event",
    "EventQueue",
    "Filter",
    "Hold",
    "InboundInfo",
    "Layout",
    "Message",
    "MessageEnd",
    "MessageStart",
    "OutboundInfo",
    "Pipeline",
    "ScriptError",
    "StreamEnd",
    "Valve",
    "adapt",
    "listen",
    "on_exit",
    "pipeline",
    "register",
    "task",
    "to_events",
]
