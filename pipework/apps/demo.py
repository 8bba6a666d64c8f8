"""The built-in default that ``pipework run`` serves when given no script.

- port 8080: a static site (this package's ``demo_site/``) from the in-memory file cache, with
  ``/api/`` reverse-proxied to a small JSON API on 127.0.0.1:8081;
- port 8000: a TCP proxy spreading connections round-robin over two small backends on 9001 and
  9002 that greet the client and echo what it sends, upper-cased.
"""

from __future__ import annotations

import os
import time

import pipework as pw

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_site")


def echo_backend(name: str) -> pw.Layout:
    return pw.pipeline(
        lambda p: p.replace_data(lambda data: data.upper()).on_start(
            lambda: f"hello from {name}: type a line and it comes back upper-cased\n"
        )
    )


def api(req: pw.Request) -> dict[str, object]:
    return {"hello": "from the built-in API", "path": req.path, "time": int(time.time())}


def declare(http_port: int = 8080, tcp_port: int = 8000) -> None:
    pw.listen("127.0.0.1:8081", pw.pipeline(lambda p: p.demux_http().to(lambda p: p.serve_http(api))))
    site = pw.pipeline(lambda p: p.serve_files(SITE))
    to_api = pw.pipeline(lambda p: p.proxy("http://127.0.0.1:8081"))
    pw.listen(
        http_port,
        pw.pipeline(
            lambda p: p.demux_http().to(
                lambda p: p.pipe(lambda req: to_api if req.head.path.startswith("/api/") else site)
            )
        ),
    )
    pw.listen("127.0.0.1:9001", echo_backend("backend-1"))
    pw.listen("127.0.0.1:9002", echo_backend("backend-2"))
    rr = pw.RoundRobin(["127.0.0.1:9001", "127.0.0.1:9002"])
    pw.listen(tcp_port, pw.pipeline(lambda p: p.connect(lambda: rr.next())))
