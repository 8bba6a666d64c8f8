"""The opening handshake (RFC 6455 4): keys, header checks, subprotocols and extensions.

Theory of operation: the handshake is an HTTP/1.1 Upgrade, framed by the HTTP codec; this module
only judges and builds its headers, given as a list of (name, value) pairs (``str`` or ``bytes``,
names case-insensitive, repeated names allowed) exactly as the HTTP parser produced them. A server
passes the request's headers to :func:`validate_request`, chooses a subprotocol
(:func:`select_subprotocol`) and extensions (e.g. :func:`~.deflate.negotiate_deflate`), and
answers 101 with :func:`response_headers`. A client sends :func:`request_headers` with a fresh
:func:`make_key`, and checks the 101's headers with :func:`validate_response`. Then both sides
hand the socket's bytes to a :class:`Connection`.

The method, status line and HTTP version (GET, HTTP/1.1, 101) belong to the HTTP codec and are
not checked here. Failures raise RemoteProtocolError with ``http_status`` 400, or 426 with a
``Sec-WebSocket-Version: 13`` header for a version we do not speak (4.2.2, 4.4); a choice of ours
that the protocol forbids raises LocalProtocolError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from .deflate import Extension
from .errors import LocalProtocolError, bad_handshake

# "a globally unique identifier (GUID, [RFC4122]) in string form" (4.2.2 step 5.4).
GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VERSION: Final = "13"  # the only version RFC 6455 defines (4.1, 11.6)

HeaderPairs = Iterable[tuple[str | bytes, str | bytes]]

# RFC 7230 3.2.6 token, the grammar of extension names, their parameters and subprotocols.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED: Final = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BACKSLASH: Final = re.compile(r"\\(.)")


def accept_key(key: str | bytes) -> str:
    """The Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64 of the SHA-1 of the key and the
    GUID (4.2.2 step 5.4). ``accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="``."""
    if isinstance(key, str):
        key = key.encode("ascii")
    # SHA-1 is what the RFC fixes; it proves the server read the key, not any secret.
    digest = hashlib.sha1(key + GUID.encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def make_key() -> str:
    """A fresh Sec-WebSocket-Key: "a randomly selected 16-byte value that has been base64-encoded"
    and "MUST be selected randomly for each connection" (4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def header_values(headers: HeaderPairs, name: str) -> list[str]:
    """The values of every header called ``name`` (any case), in order, as ``str``."""
    wanted = name.lower()
    return [_text(v).strip(" \t") for n, v in headers if _text(n).lower() == wanted]


def _comma_list(values: Iterable[str]) -> list[str]:
    """The elements of ``#element`` lists (RFC 7230 7): split on commas, empty elements dropped."""
    return [item for value in values for part in value.split(",") if (item := part.strip(" \t"))]


def _one(headers: HeaderPairs, name: str, status: int = 400) -> str:
    values = header_values(headers, name)
    if len(values) != 1:
        raise bad_handshake(f"{len(values)} {name} headers, not one (RFC 6455 4.1, 4.2.1)", status)
    return values[0]


def _check_upgrade(headers: HeaderPairs) -> None:
    if "websocket" not in (t.lower() for t in _comma_list(header_values(headers, "Upgrade"))):
        raise bad_handshake("no Upgrade: websocket (4.1, 4.2.1)")
    if "upgrade" not in (t.lower() for t in _comma_list(header_values(headers, "Connection"))):
        raise bad_handshake("no Connection: Upgrade (4.1, 4.2.1)")


def parse_subprotocols(values: Iterable[str]) -> list[str]:
    """The tokens of Sec-WebSocket-Protocol header values (4.3); RemoteProtocolError if one is not."""
    items = _comma_list(values)
    for item in items:
        if not _TOKEN.fullmatch(item):
            raise bad_handshake(f"subprotocol {item!r} is not a token (4.3)")
    return items


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The first of ``supported`` (our order of preference) that the client offered, or None."""
    return next((p for p in supported if p in offered), None)


def parse_extensions(values: Iterable[str]) -> list[Extension]:
    """Sec-WebSocket-Extensions header values as ``[(name, [(param, value or None)])]`` (9.1).

    A quoted value is unescaped and must then be a token, as 9.1 requires. Raises
    RemoteProtocolError (400) for anything else.
    """
    out: list[Extension] = []
    for value in values:
        pos, n = 0, len(value)
        while True:
            while pos < n and value[pos] in ", \t":  # empty list elements are allowed (RFC 7230 7)
                pos += 1
            if pos == n:
                break
            name, pos = _token(value, pos)
            params: list[tuple[str, str | None]] = []
            while pos < n and value[pos] == ";":
                pname, pos = _token(value, _skip(value, pos + 1))
                pvalue = None
                if pos < n and value[pos] == "=":
                    pos = _skip(value, pos + 1)
                    quoted = _QUOTED.match(value, pos)
                    if quoted:
                        pvalue = _BACKSLASH.sub(r"\1", quoted.group(1))
                        if not _TOKEN.fullmatch(pvalue):
                            raise bad_handshake(f"quoted extension parameter {pvalue!r} is not a token (9.1)")
                        pos = _skip(value, quoted.end())
                    else:
                        pvalue, pos = _token(value, pos)
                params.append((pname, pvalue))
            out.append((name, params))
            if pos < n and value[pos] != ",":
                raise bad_handshake(f"unexpected {value[pos]!r} in Sec-WebSocket-Extensions: {value!r} (9.1)")
    return out


def _skip(value: str, pos: int) -> int:
    """The position after any spaces and tabs at ``value[pos:]`` (a header, not a hot path)."""
    n = len(value)
    while pos < n and value[pos] in " \t":
        pos += 1
    return pos


def _token(value: str, pos: int) -> tuple[str, int]:
    """The token at ``value[pos:]`` and the position after it and any whitespace."""
    m = _TOKEN.match(value, pos)
    if m is None:
        raise bad_handshake(f"expected a token at {pos} in Sec-WebSocket-Extensions: {value!r} (9.1)")
    return m.group(), _skip(value, m.end())


def format_extensions(extensions: Iterable[Extension]) -> str:
    """A Sec-WebSocket-Extensions value; LocalProtocolError for a name or value not a token."""
    parts = []
    for name, params in extensions:
        items = [name]
        for pname, pvalue in params:
            items.append(pname if pvalue is None else f"{pname}={pvalue}")
        for item in (name, *(p for param in params for p in param if p is not None)):
            if not _TOKEN.fullmatch(item):
                raise LocalProtocolError(f"{item!r} in an extension is not a token (RFC 6455 9.1)")
        parts.append("; ".join(items))
    return ", ".join(parts)


@dataclass(slots=True)
class HandshakeRequest:
    """What a valid client request asks for (4.2.1)."""

    key: str
    subprotocols: list[str] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    origin: str | None = None


@dataclass(slots=True)
class HandshakeResponse:
    """What a valid server response agreed to (4.2.2): the subprotocol and extensions in use."""

    subprotocol: str | None = None
    extensions: list[Extension] = field(default_factory=list)


def validate_request(headers: HeaderPairs) -> HandshakeRequest:
    """Check a client's opening handshake headers (4.2.1) and say what it asks for.

    Raises RemoteProtocolError with ``http_status`` 400 for a missing Host, Upgrade: websocket
    or Connection: Upgrade, a Sec-WebSocket-Key that is not 16 base64-encoded bytes, malformed
    subprotocols or extensions; 426 for a Sec-WebSocket-Version other than 13 (4.4).
    """
    headers = list(headers)
    _one(headers, "Host")
    _check_upgrade(headers)
    key = _one(headers, "Sec-WebSocket-Key")
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 16:
        raise bad_handshake(f"Sec-WebSocket-Key {key!r} is not 16 base64-encoded bytes (4.1, 4.2.1)")
    version = _one(headers, "Sec-WebSocket-Version", 426)
    if version != VERSION:
        raise bad_handshake(f"Sec-WebSocket-Version {version!r}: only 13 is spoken (4.2.2, 4.4)", 426)
    origins = header_values(headers, "Origin")
    return HandshakeRequest(
        key=key,
        subprotocols=parse_subprotocols(header_values(headers, "Sec-WebSocket-Protocol")),
        extensions=parse_extensions(header_values(headers, "Sec-WebSocket-Extensions")),
        origin=origins[0] if origins else None)


def response_headers(request: HandshakeRequest, *, subprotocol: str | None = None,
                     extensions: str | None = None) -> list[tuple[str, str]]:
    """The headers of a server's 101 Switching Protocols answer to ``request`` (4.2.2).

    ``extensions`` is the Sec-WebSocket-Extensions value (from :func:`format_extensions` or
    :func:`~.deflate.negotiate_deflate`). LocalProtocolError for a subprotocol the client did not
    offer: the server must pick "one of the values from the client's handshake" (4.2.2 5.4).
    """
    if subprotocol is not None and subprotocol not in request.subprotocols:
        raise LocalProtocolError(f"subprotocol {subprotocol!r} was not offered by the client (4.2.2)")
    out = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
           ("Sec-WebSocket-Accept", accept_key(request.key))]
    if subprotocol is not None:
        out.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        out.append(("Sec-WebSocket-Extensions", extensions))
    return out


def request_headers(host: str, key: str, *, subprotocols: Sequence[str] = (), extensions: str | None = None,
                    origin: str | None = None) -> list[tuple[str, str]]:
    """The headers of a client's opening handshake (4.1), for a GET of the resource."""
    for item in subprotocols:
        if not _TOKEN.fullmatch(item):
            raise LocalProtocolError(f"subprotocol {item!r} is not a token (4.1)")
    out = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
           ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", VERSION)]
    if origin is not None:
        out.append(("Origin", origin))
    if subprotocols:
        out.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions:
        out.append(("Sec-WebSocket-Extensions", extensions))
    return out


def validate_response(headers: HeaderPairs, key: str, *, subprotocols: Sequence[str] = (),
                      extensions: Iterable[str] = ()) -> HandshakeResponse:
    """Check a server's 101 response headers against our request (4.1, the client's checks).

    ``key``: the Sec-WebSocket-Key we sent; ``subprotocols``: those we offered; ``extensions``:
    the names of the extensions we offered. Raises RemoteProtocolError ("the client MUST _Fail
    the WebSocket Connection_") for a missing Upgrade or Connection, a wrong Sec-WebSocket-Accept,
    a subprotocol or an extension we did not offer.
    """
    headers = list(headers)
    _check_upgrade(headers)
    accept = _one(headers, "Sec-WebSocket-Accept")
    if accept != accept_key(key):
        raise bad_handshake(f"Sec-WebSocket-Accept {accept!r} does not match our key (4.1)")
    chosen = parse_subprotocols(header_values(headers, "Sec-WebSocket-Protocol"))
    if len(chosen) > 1 or (chosen and chosen[0] not in subprotocols):
        raise bad_handshake(f"subprotocol {', '.join(chosen)!r} was not offered (4.1)")
    agreed = parse_extensions(header_values(headers, "Sec-WebSocket-Extensions"))
    offered = set(extensions)
    for name, _ in agreed:
        if name not in offered:
            raise bad_handshake(f"extension {name!r} was not offered (4.1)")
    return HandshakeResponse(chosen[0] if chosen else None, agreed)
