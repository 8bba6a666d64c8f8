"""A TCP server written as a pipeline: greet, then echo every chunk upper-cased.

Run: pipework run examples/echo_upper.py, then `nc 127.0.0.1 8000`.
"""

import pipework as pw

pw.listen(
    "127.0.0.1:8000",
    pw.pipeline(lambda p: p.replace_data(lambda data: data.upper()).on_start(lambda: b"hello\n")),
)
