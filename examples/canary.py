"""A canary release on port 8080: 10% of the traffic to the new version, 90% to the stable one.

A client with a `user` cookie stays on the side it was first given, so a user does not flip
between versions; `X-Canary: always` sends a request to the canary whatever the split (for the
team testing it). Move the weights to roll forward (or back) and reload with SIGHUP.
Run: pipework run examples/canary.py
"""

import pipework as pw

stable = pw.Upstream(["127.0.0.1:9001", "127.0.0.1:9002"], balancer="least_request")
canary = pw.Upstream(["127.0.0.1:9003"])

routes = pw.Router()
routes.add(canary, headers={"x-canary": "always"})

# requests no route takes: 90 to 10 by weight, the same way for the same `user` cookie
split = pw.split({stable: 90, canary: 10}, by="cookie:user")

pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes, default=split))))
