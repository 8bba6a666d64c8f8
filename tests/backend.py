"""A small HTTP/1.1 backend for load-balancing tests, run as its own process.

    python tests/backend.py PORT NAME [--host 127.0.0.1]

Every request is answered with ``NAME`` as the body and an ``X-Backend: NAME`` field, with
keep-alive. Its behaviour can be changed at run time by requests to ``/_control``:
``/_control?status=500`` (the status of ordinary answers), ``?health=503`` (the status of
``/health``), ``?delay=0.2`` (seconds before answering), ``?reset=1`` (close connections on
ordinary requests without answering); ``/_count`` answers the number of ordinary requests seen,
``/_count?clear=1`` resets it; ``/_echo...`` answers the request line and fields as received.
Written with asyncio streams and no pipework code: it is a peer.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
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
