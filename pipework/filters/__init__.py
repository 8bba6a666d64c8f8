"""Filter families. Importing this package registers every family's builder methods."""

from . import (
    compress,
    connect,
    cors,
    debug,
    edge,
    gate,
    handlers,
    http,
    proxy,
    route,
    static,
    throttle,
    tls,
    tls_hello,
    tunnel,
    wait,
)
from .throttle import ConcurrencyLimit

__all__ = [
    "ConcurrencyLimit",
    "compress",
    "connect",
    "cors",
    "debug",
    "edge",
    "gate",
    "handlers",
    "http",
    "proxy",
    "route",
    "static",
    "throttle",
    "tls",
    "tls_hello",
    "tunnel",
    "wait",
]
