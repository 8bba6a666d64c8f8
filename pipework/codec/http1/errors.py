"""The HTTP/1.1 codec's one error family; each error carries the status to answer with."""

from __future__ import annotations

import httptools


class HTTPError(Exception):
    """Base of the codec's errors. ``status`` is the HTTP status that fits (400, 413, 414, 431...)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RemoteProtocolError(HTTPError):
    """The peer sent bytes that break HTTP/1.1 or pass a limit; answer ``status`` and close."""


class LocalProtocolError(HTTPError):
    """We were asked to send something HTTP/1.1 cannot carry."""


def from_llhttp(exc: httptools.HttpParserError, what: str, status: int) -> Exception:
    """What to raise for an error out of httptools' ``feed_data``: the RemoteProtocolError one of
    our callbacks raised, as it was; llhttp's own refusal as ``what: reason`` with ``status``; and
    ``exc`` itself for anything else a callback raised (a bug: re-raise it, its cause attached)."""
    if isinstance(exc, httptools.HttpParserCallbackError):
        cause = exc.__context__
        return cause if isinstance(cause, RemoteProtocolError) else exc
    return RemoteProtocolError(f"{what}: {exc}", status)
