"""A static site on port 8080, plus a small JSON API on /api/ answered by a Python function.

Files come from memory and are checked against the disk at most once a second.
Run: pipework run examples/static_site.py (serves this examples/ directory).
"""

import os
import time

import pipework as pw

root = os.path.dirname(os.path.abspath(__file__))

site = pw.pipeline(lambda p: p.serve_files(root))
api = pw.pipeline(lambda p: p.serve_http(lambda req: {"path": req.path, "time": int(time.time())}))

pw.listen(
    8080,
    pw.pipeline(
        lambda p: p.demux_http().to(
            lambda p: p.pipe(lambda req: api if req.head.path.startswith("/api/") else site)
        )
    ),
)
