"""A small HTTP/1.1 backend for load-balancing tests, run as its own process.

    python tests/backend.py PORT NAME [--host 127.0.0.1]

Every request is answered with ``NAME`` as the body and an ``X-Backend: NAME`` field, with
keep-alive. Its behaviour can be changed at run time by requests to ``/_control``:
``/_control?status=500`` (the status of ordinary answers), ``?health=503`` (the status of
``/health``), ``?delay=0.2`` (seconds before answering), ``?reset=1`` (close connections on
ordinary requests without answering); ``/_count`` answers the number of ordinary requests seen,
``/_count?clear=1`` resets it; ``/_echo...`` answers the request line and fields as received;
``/_cache...`` answers with the caching fields its query asks for (see ``cacheable``).
Written with asyncio streams and no pipework code: it is a peer.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import parse_qsl, urlsplit

state = {"status": 200, "health": 200, "delay": 0.0, "reset": 0, "count": 0}


def answer(status: int, body: bytes, name: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nX-Backend: %s\r\nContent-Type: text/plain\r\n\r\n%s" % (
        status,
        len(body),
        name,
        body,
    )


async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, name: bytes) -> None:
    try:
        while True:
            try:
                head = await r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            line, *fields = head.decode("latin-1").split("\r\n")
            _, target, _ = line.split(" ", 2)
            length = 0
            for f in fields:
                k, _, v = f.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            if length:
                await r.readexactly(length)
            url = urlsplit(target)
            query = dict(parse_qsl(url.query))
            if url.path == "/_control":
                for k, v in query.items():
                    state[k] = float(v) if k == "delay" else int(v)
                w.write(answer(200, b"ok", name))
            elif url.path == "/_count":
                w.write(answer(200, str(state["count"]).encode(), name))
                if "clear" in query:
                    state["count"] = 0
            elif url.path.startswith("/_echo"):
                state["count"] += 1
                w.write(answer(200, head.rstrip(b"\r\n"), name))
            elif url.path == "/health":
                w.write(answer(int(state["health"]), name, name))
            elif url.path.startswith("/_cache"):
                state["count"] += 1
                await asyncio.sleep(float(query.get("delay", 0)))
                w.write(cacheable(url.path, query, fields, int(state["count"]), name))
            else:
                state["count"] += 1
                if state["reset"]:
                    w.transport.abort()
                    return
                if state["delay"]:
                    await asyncio.sleep(state["delay"])
                w.write(answer(int(state["status"]), name, name))
            await w.drain()
    finally:
        w.close()


def cacheable(path: str, query: dict[str, str], fields: list[str], n: int, name: bytes) -> bytes:
    """``/_cache...``: an answer with the caching fields the query asks for (``cc`` for
    Cache-Control, ``etag``, ``lm`` (Last-Modified, seconds since the epoch), ``vary``, ``cookie``,
    ``status``, ``size`` of the body, ``delay`` before answering); 304 when the request's
    If-None-Match or If-Modified-Since matches. The body tells the request's number ``n=`` and
    its Accept-Encoding."""
    got = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    extra = [f"{k}: {query[q]}" for q, k in (("cc", "Cache-Control"), ("etag", "ETag"), ("vary", "Vary"),
                                              ("cookie", "Set-Cookie")) if q in query]  # fmt: skip
    if "lm" in query:
        extra.append("Last-Modified: " + formatdate(int(query["lm"]), usegmt=True))
    extra.append("Date: " + formatdate(usegmt=True))
    inm, ims = got.get("if-none-match"), got.get("if-modified-since")
    if inm is not None:
        unchanged = inm == query.get("etag")
    else:
        unchanged = (
            ims is not None and "lm" in query and parsedate_to_datetime(ims).timestamp() >= int(query["lm"])
        )
    if unchanged:
        return ("HTTP/1.1 304 Not Modified\r\n" + "".join(f"{e}\r\n" for e in extra) + "\r\n").encode()
    body = f"{name.decode()} {path} n={n} ae={got.get('accept-encoding', '-')}\n".encode()
    body += b"." * max(0, int(query.get("size", 0)) - len(body))
    head = f"HTTP/1.1 {query.get('status', '200')} X\r\nContent-Length: {len(body)}\r\n"
    return (head + "".join(f"{e}\r\n" for e in extra) + "\r\n").encode() + body


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("name")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--cert", help="serve HTTPS with this certificate (and --key)")
    ap.add_argument("--key")
    a = ap.parse_args()
    name = a.name.encode()
    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    server = await asyncio.start_server(lambda r, w: handle(r, w, name), a.host, a.port, ssl=tls)
    print(f"listening {a.host}:{a.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
