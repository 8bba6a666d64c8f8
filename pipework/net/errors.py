"""One place that turns OS, socket and ssl exceptions into the short error names of StreamEnd.

The names follow Pipy's so that scripts written for it read the same.
"""

from __future__ import annotations

import errno
import socket
import ssl

CONNECTION_REFUSED = "ConnectionRefused"
CONNECTION_RESET = "ConnectionReset"
CONNECTION_TIMEOUT = "ConnectionTimeout"
CONNECTION_CANCELED = "ConnectionCanceled"
READ_TIMEOUT = "ReadTimeout"
WRITE_TIMEOUT = "WriteTimeout"
IDLE_TIMEOUT = "IdleTimeout"
UNREACHABLE = "Unreachable"
CANNOT_RESOLVE = "CannotResolve"
ADDRESS_NOT_AVAILABLE = "AddressNotAvailable"
BUFFER_OVERFLOW = "BufferOverflow"
TLS_ERROR = "TLSError"
READ_ERROR = "ReadError"
WRITE_ERROR = "WriteError"

_BY_ERRNO = {
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNRESET: CONNECTION_RESET,
    errno.EPIPE: CONNECTION_RESET,
    errno.ECONNABORTED: CONNECTION_RESET,
    errno.ETIMEDOUT: CONNECTION_TIMEOUT,
    errno.EHOSTUNREACH: UNREACHABLE,
    errno.ENETUNREACH: UNREACHABLE,
    errno.EADDRNOTAVAIL: ADDRESS_NOT_AVAILABLE,
    errno.EADDRINUSE: ADDRESS_NOT_AVAILABLE,
}


def error_name(exc: BaseException | None, default: str = READ_ERROR) -> str | None:
    """The StreamEnd error name for ``exc``; None for no exception."""
    if exc is None:
        return None
    if isinstance(exc, TimeoutError) and not getattr(exc, "errno", None):
        return CONNECTION_TIMEOUT
    if isinstance(exc, socket.gaierror):
        return CANNOT_RESOLVE
    if isinstance(exc, ssl.SSLError):
        return TLS_ERROR
    if isinstance(exc, OSError) and exc.errno is not None:
        return _BY_ERRNO.get(exc.errno, default)
    if isinstance(exc, ConnectionError):
        return CONNECTION_RESET
    return default
