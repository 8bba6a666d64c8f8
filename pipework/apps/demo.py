"""The built-in default that ``pipework run`` serves when given no script.

A TCP proxy on port 8000 spreads connections round-robin over two small backends on 9001 and
9002 that greet the client and echo what it sends, upper-cased. Try ``nc localhost 8000``.
"""

from __future__ import annotations

import pipework as pw


def backend(name: str) -> pw.Layout:
    return pw.pipeline(
        lambda p: p.replace_data(lambda data: data.upper()).on_start(
            lambda: f"hello from {name}: type a line and it comes back upper-cased\n"
        )
    )


def declare(port: int = 8000) -> None:
    pw.listen("127.0.0.1:9001", backend("backend-1"))
    pw.listen("127.0.0.1:9002", backend("backend-2"))
    rr = pw.RoundRobin(["127.0.0.1:9001", "127.0.0.1:9002"])
    pw.listen(port, pw.pipeline(lambda p: p.connect(lambda: rr.next())))
