"""An HTTP reverse proxy on port 8080: /static/ from disk, everything else to two app servers.

The same as `pipework reverse-proxy --listen 0.0.0.0:8080 --to http://127.0.0.1:9000 ...`, plus
a static directory. Run: pipework run examples/reverse_proxy.py
"""

import os

import pipework as pw

here = os.path.dirname(os.path.abspath(__file__))

static = pw.pipeline(lambda p: p.serve_files(here))
apps = pw.RoundRobin(
    [
        pw.pipeline(lambda p: p.proxy("http://127.0.0.1:9000", read_timeout=30)),
        pw.pipeline(lambda p: p.proxy("http://127.0.0.1:9001", read_timeout=30)),
    ]
)


def route(req):
    return static if req.head.path.startswith("/static/") else apps.next()


pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(lambda p: p.pipe(route))))
