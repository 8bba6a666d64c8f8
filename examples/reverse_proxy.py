"""An HTTP reverse proxy on port 8080: /static/ from disk, everything else to two app servers.

The same as `pipework reverse-proxy --listen 0.0.0.0:8080 --to http://127.0.0.1:9000
--to http://127.0.0.1:9001 --balancer least_conn`, plus a static directory. The app servers share
one upstream: kept-alive connections to each, the least busy one chosen, a server that keeps
failing left out for a while, and a failed connection retried on the other.
Run: pipework run examples/reverse_proxy.py
"""

import os

import pipework as pw

here = os.path.dirname(os.path.abspath(__file__))

apps = pw.Upstream(["127.0.0.1:9000", "127.0.0.1:9001"], balancer="least_conn")
static = pw.pipeline(lambda p: p.serve_files(here))

routes = pw.Router()
routes.add(static, prefix="/static/")

pw.listen(
    8080,
    pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes, default=pw.to(apps, read_timeout=30)))),
)
