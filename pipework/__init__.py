"""pipework: a programmable network proxy, written in Python and scripted in Python.

A script declares listeners and the pipelines of filters their connections flow through::

    import pipework as pw

    pw.listen(8000, pw.pipeline(lambda p: p.connect("127.0.0.1:9000")))

Run it with ``pipework run script.py``. See README.md and docs/ for the tour.
"""

from importlib.metadata import PackageNotFoundError, version

from . import filters as _filters  # noqa: F401  (registers the builder methods)
from .admin import cache as _cache_admin  # noqa: F401  (registers serve_cache_admin)
from .admin import metrics as _metrics  # noqa: F401  (registers serve_metrics)
from .codec.http1 import Headers, Request, RequestHead, Response, ResponseHead
from .core import (
    Builder,
    Context,
    Data,
    Event,
    Filter,
    Layout,
    Message,
    MessageEnd,
    MessageStart,
    ScriptError,
    StreamEnd,
    listen,
    on_exit,
    pipeline,
    register,
    task,
)
from .filters import ConcurrencyLimit
from .filters.access_log import status_counts as http_status_counts
from .filters.cache import HttpCache
from .filters.health_check import HealthCheck
from .filters.rate_limit import RedisStore
from .filters.route import fallback, redirect, split, to
from .filters.tls import certificates as tls_certificates
from .filters.tls import handshake_failures as tls_handshake_failures
from .filters.upstream import Upstream
from .lb import RoundRobin
from .lb.health import OutlierDetection
from .lb.retry import Retry
from .lb.router import Router
from .net import SourcePool
from .net import split_address as parse_address
from .policy import TokenBucket

try:
    __version__ = version("pipework")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = [
    "Builder",
    "ConcurrencyLimit",
    "Context",
    "Data",
    "Event",
    "Filter",
    "Headers",
    "HealthCheck",
    "HttpCache",
    "Layout",
    "Message",
    "MessageEnd",
    "MessageStart",
    "OutlierDetection",
    "RedisStore",
    "Request",
    "RequestHead",
    "Response",
    "ResponseHead",
    "Retry",
    "RoundRobin",
    "Router",
    "ScriptError",
    "SourcePool",
    "StreamEnd",
    "TokenBucket",
    "Upstream",
    "__version__",
    "fallback",
    "http_status_counts",
    "listen",
    "on_exit",
    "parse_address",
    "pipeline",
    "redirect",
    "register",
    "split",
    "task",
    "tls_certificates",
    "tls_handshake_failures",
    "to",
]
