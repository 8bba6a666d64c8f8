"""Edge policies around a layout: field changes both ways, custom error pages, maintenance mode.

Theory of operation: ``headers(...).to(layout)`` and ``error_pages(...).to(layout)`` sit in the
sub-pipeline ``demux_http`` makes per request and wrap a sub-pipeline of ``layout``: the request
goes in (its fields changed first), the response comes out (its fields changed, or its body
replaced by a page of the site's own for the listed statuses). ``maintenance(...)`` is a gate:
while its switch is on, every request gets 503 with ``Retry-After`` and a page, and nothing
behind it is asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, register
from ..core.pipeline import Pipeline
from ..core.subpipes import _One
from .gate import Gate
from .http import Answer, gateway_status
from .route import HeaderOps

#: security fields most sites want (``headers(security=True)``), as the usual hardening guides
SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "strict-origin-when-cross-origin",
}
#: the largest error page read into memory
MAX_PAGE = 1024 * 1024


class _WrapCfg(_One):
    __slots__ = ("pages", "request", "response")

    def __init__(
        self, request: HeaderOps | None, response: HeaderOps | None, pages: dict[int, bytes]
    ) -> None:
        super().__init__(None)
        self.request = request
        self.response = response
        self.pages = pages


class Wrap(Filter):
    """``headers`` and ``error_pages``: a sub-pipeline whose request and response are changed."""

    __slots__ = ("answered", "replacing", "sub")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.sub: Pipeline | None = None
        self.replacing = False  # the body of this response is being replaced by a page
        self.answered = False  # a response head went out

    def process(self, evt: Event) -> None:
        cfg: _WrapCfg = self.cfg
        if type(evt) is MessageStart and cfg.request is not None:
            head = evt.head
            if isinstance(head, RequestHead):
                head.replace_fields(cfg.request.apply(head.raw_headers))
        sub = self.sub
        if sub is None:
            assert cfg.layout is not None
            sub = self.sub = cfg.layout.spawn(self.pipeline.context, self._answer)
            sub.start()
        sub.input(evt)

    def _answer(self, evt: Event) -> None:
        cfg: _WrapCfg = self.cfg
        t = type(evt)
        if t is StreamEnd and evt.error and not self.answered:  # type: ignore[attr-defined]
            status = gateway_status(evt.error)  # type: ignore[attr-defined]
            if status in cfg.pages:  # the gateway's own error: the page in its place
                self._page(status, "")
                self._out(MessageEnd())
                return
        if t is MessageStart:
            head = evt.head  # type: ignore[attr-defined]
            if isinstance(head, ResponseHead):
                self.answered = True
                if head.status in cfg.pages:
                    self.replacing = True
                    self._page(head.status, head.reason)
                    return
                self.replacing = False
                if cfg.response is not None:
                    head.raw_headers = cfg.response.apply(head.raw_headers)
        elif self.replacing and t is Data:
            return
        elif self.replacing and t in (MessageEnd, StreamEnd):
            self.replacing = False
            self._out(MessageEnd() if t is MessageEnd else evt)
            return
        self._out(evt)

    def _page(self, status: int, reason: str) -> None:
        cfg: _WrapCfg = self.cfg
        self.answered = True
        fields = [(b"content-type", b"text/html; charset=utf-8")]
        if cfg.response is not None:
            fields = cfg.response.apply(fields)
        self._out(MessageStart(ResponseHead(status, reason, "1.1", fields)))
        self._out(Data(cfg.pages[status]))

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()


def headers(
    self: Builder,
    *,
    request: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    security: bool = False,
) -> Builder:
    """Change the fields of the requests into the sub-pipeline (``.to(layout)``) and of its
    responses: ``{"set": {...}, "add": {...}, "remove": [...]}`` each. ``security=True`` sets
    ``X-Content-Type-Options``, ``X-Frame-Options`` and ``Referrer-Policy`` on responses
    (:data:`SECURITY`; ``response`` may override them)."""
    resp = dict(response or {})
    if security:
        resp["set"] = {**SECURITY, **dict(resp.get("set", {}))}
    cfg = _WrapCfg(
        HeaderOps(request, "headers(): request") or None, HeaderOps(resp, "headers(): response") or None, {}
    )
    return self.add("headers", Wrap, cfg, 1)


def error_pages(
    self: Builder, pages: Mapping[int, str], *, response: Mapping[str, Any] | None = None
) -> Builder:
    """Answer the listed statuses of the sub-pipeline's responses (``.to(layout)``) with the
    site's own pages: ``{502: "errors/502.html", 503: ...}``, read at load (a missing file is a
    load error), sent as HTML with the status kept; the gateway's own 502/503/504 (an upstream
    that failed) get them too."""
    loaded: dict[int, bytes] = {}
    for status, path in pages.items():
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"error_pages(): {status!r} is not an error status (400-599)")
        if os.path.getsize(path) > MAX_PAGE:
            raise ValueError(f"error_pages(): {path} is over {MAX_PAGE} bytes")
        with open(path, "rb") as f:
            loaded[status] = f.read()
    cfg = _WrapCfg(None, HeaderOps(response, "error_pages(): response") or None, loaded)
    return self.add("error_pages", Wrap, cfg, 1)


def maintenance(
    self: Builder,
    switch: str | Callable[[], Any],
    *,
    retry_after: int = 300,
    page: str | None = None,
) -> Builder:
    """While ``switch`` is on — a file that exists (touch it to start, remove it to end), or a
    function returning true — answer every request 503 with ``Retry-After: retry_after`` and
    ``page`` (an HTML file read at load) or a short text; nothing behind is asked."""
    on: Callable[[], Any] = (lambda: os.path.exists(switch)) if isinstance(switch, str) else switch
    if not callable(on):
        raise TypeError("maintenance(): switch is a file path or a function")
    body = b"down for maintenance\n"
    kind = b"text/plain"
    if page is not None:
        with open(page, "rb") as f:
            body = f.read(MAX_PAGE)
        kind = b"text/html; charset=utf-8"
    fields = [(b"retry-after", str(retry_after).encode()), (b"content-type", kind)]
    text = body.decode("utf-8", "replace")

    def check(head: RequestHead, ctx: Any) -> Answer | None:
        return (503, fields, text) if on() else None

    return self.add("maintenance", Gate, check)


register(headers=headers, error_pages=error_pages, maintenance=maintenance)
