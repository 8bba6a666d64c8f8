"""An HTTP proxy on port 8080 to the servers DNS names: here the instances of the `web` service
registered in Consul, read from its DNS interface (the local agent on 127.0.0.1:8600).

SRV records give each instance's address, port and weight; they are looked up again when their
TTL runs out (at most once a second), and instances that appear or go away are added or removed
without dropping requests in flight. If DNS fails, the servers already known keep serving.
GET /_upstream shows the servers in use and their health.
Run: pipework run examples/dns_upstream.py
"""

import pipework as pw

web = pw.Upstream.from_dns(
    "_web._tcp.service.consul",
    record="SRV",
    servers=["127.0.0.1:8600"],
    balancer="least_request",
)
# or, with A records and a fixed port, from the system's resolver:
#   pw.Upstream.from_dns("web.internal", 80)

routes = pw.Router()
routes.add(pw.pipeline(lambda p: p.serve_http(lambda req: web.targets)), path="/_upstream")

pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes, default=web))))
