"""Whole HTTP messages for scripts: :class:`Request` and :class:`Response`, and their encoding.

A handler given to ``serve_http`` gets a :class:`Request` (head and body together) and returns
a :class:`Response` — or a shortcut: ``str``/``bytes`` (200, text or octets), a ``dict``/``list``
(200, JSON), an ``int`` (that status with its reason as the body), or ``None`` (404).
:func:`encode_response` writes one with the fields HTTP/1.1 needs (``Content-Length``, ``Date``,
``Connection``) in a single ``bytes``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from .encode import header_block, reason, status_line
from .head import Headers, RequestHead


class Request:
    """A request head with its whole body."""

    __slots__ = ("body", "head")

    def __init__(self, head: RequestHead, body: bytes = b"") -> None:
        self.head = head
        self.body = body

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def path(self) -> str:
        return self.head.path

    @property
    def target(self) -> str:
        return self.head.target

    @property
    def query(self) -> dict[str, list[str]]:
        return self.head.query_params()

    @property
    def headers(self) -> Headers:
        return self.head.headers

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding)

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not."""
        return orjson.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        """An ``application/x-www-form-urlencoded`` body as a dict of lists."""
        out: dict[str, list[str]] = {}
        for k, v in parse_qsl(self.body.decode("latin-1"), keep_blank_values=True):
            out.setdefault(k, []).append(v)
        return out

    def __repr__(self) -> str:
        return f"<Request {self.head.method} {self.head.target} {len(self.body)} bytes>"


class Response:
    """A response: status, header fields and a whole body."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: Headers | dict[str, str] | list[tuple[str, str]] | None = None,
        content_type: str | None = None,
        reason: str | None = None,
    ) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
            if content_type is None:
                content_type = "text/plain; charset=utf-8"
        self.body: bytes = body
        self.status = status
        self.reason = reason
        if isinstance(headers, Headers):
            self.headers = headers
        else:
            self.headers = Headers(headers.items() if isinstance(headers, dict) else (headers or ()))
        if content_type is not None:
            self.headers["content-type"] = content_type

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(
            orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), status, content_type="application/json"
        )

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


def as_response(value: Any) -> Response:
    """What a handler returned, as a :class:`Response` (see the module docstring)."""
    if isinstance(value, Response):
        return value
    if value is None:
        return Response(b"Not Found\n", 404, content_type="text/plain")
    if isinstance(value, bytes | str):
        return Response(value)
    if isinstance(value, dict | list):
        return Response.json(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return Response(f"{reason(value) or value}\n", value)
    raise TypeError(
        f"a handler returned {type(value).__name__}; expected a Response, str, bytes, dict, list or int"
    )


#: header fields the encoder writes itself; a handler's own values for them are dropped
_OWN = frozenset(("content-length", "date", "connection", "transfer-encoding"))

NO_BODY_STATUS = frozenset((204, 304))


def encode_response(
    resp: Response, date_line: bytes, keep_alive: bool = True, head_only: bool = False
) -> bytes:
    """The whole response as bytes, with Content-Length, Date and, if closing, Connection: close.

    ``head_only`` (a response to HEAD) keeps the Content-Length of the body but leaves it out.
    """
    fields = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers.items() if k.lower() not in _OWN
    ]
    parts = [status_line(resp.status, resp.reason), header_block(fields), date_line]
    no_body = resp.status in NO_BODY_STATUS or resp.status < 200
    if not no_body:
        parts.append(b"content-length: %d\r\n" % len(resp.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only and not no_body:
        parts.append(resp.body)
    return b"".join(parts)
