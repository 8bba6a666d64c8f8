"""A small HTTP/1.1 GET for control-plane documents (a JWKS, a list of addresses), not for traffic.

Theory of operation: :func:`fetch` opens one connection (TLS for ``https://``, verified against
the system's CAs or ``ca``), sends one GET with ``Connection: close`` and parses the answer with
the project's own response decoder, so chunked and length-framed bodies both work. It uses
asyncio streams, which STYLE.md keeps off the data path: this runs now and then, beside it. Every
wait is bounded by ``timeout`` and the body by ``max_size``.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from ..codec.http1 import RemoteProtocolError, ResponseDecoder, ResponseHead

#: the largest document read
DEFAULT_MAX_SIZE = 1024 * 1024


class FetchError(Exception):
    """The document could not be had: ``str()`` says from where and why."""


async def fetch(
    url: str,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - one bound for connect, send and read together
    max_size: int = DEFAULT_MAX_SIZE,
    ca: str | None = None,
) -> tuple[int, bytes]:
    """(status, body) of ``GET url``; FetchError for anything that keeps it from coming."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: only http:// and https:// URLs")
    tls = ssl.create_default_context(cafile=ca) if parts.scheme == "https" else None
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=tls)
            try:
                writer.write(
                    f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pipework\r\n"
                    "Accept: application/json\r\nConnection: close\r\n\r\n".encode("latin-1")
                )
                dec = ResponseDecoder(one_at_a_time=True)
                dec.expect("GET")
                status = 0
                body: list[bytes] = []
                size = 0
                while True:
                    data = await reader.read(65536)
                    dec.receive_data(data)
                    for e in dec.events:
                        if type(e) is ResponseHead and e.status >= 200:
                            status = e.status
                        elif type(e) is bytes:
                            size += len(e)
                            if size > max_size:
                                raise FetchError(f"{url}: the document is over {max_size} bytes")
                            body.append(e)
                        elif type(e) is not ResponseHead:  # the end of the message
                            return status, b"".join(body)
                    dec.events.clear()
                    if not data:
                        raise FetchError(f"{url}: the server closed before the end of its answer")
            finally:
                writer.close()
    except TimeoutError:
        raise FetchError(f"{url}: no whole answer within {timeout:g}s") from None
    except (OSError, ssl.SSLError, RemoteProtocolError) as exc:
        raise FetchError(f"{url}: {exc}") from None
