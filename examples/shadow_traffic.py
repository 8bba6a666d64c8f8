"""Try a new version of a service on real traffic: port 8080 proxies to the live app on
127.0.0.1:9000, and a copy of one request in ten goes to the new version on 127.0.0.1:9001,
whose answers are dropped. Clients only ever see the live app's answers and never wait for the
copy; the new version gets `Host: <host>-shadow`, to tell copies from real requests in its logs.

Port 9102 serves the metrics: pipework_mirror_requests_total{mirror="v2",outcome=...} counts
the copies that completed, failed (a 5xx, no answer in 5 s), were dropped (over 100 open at
once) or cut (a body over 1 MiB).
Run: pipework run examples/shadow_traffic.py
"""

import pipework as pw

live = pw.Upstream(["127.0.0.1:9000"])
v2 = pw.Upstream(["127.0.0.1:9001"], name="v2")

pw.listen(8080, lambda p: p.demux_http().to(
    lambda p: p.mirror(v2, fraction=0.1, max_in_flight=100, timeout=5, host_suffix="-shadow", name="v2")
    .proxy(live)
))
pw.listen("127.0.0.1:9102", lambda p: p.demux_http().to(lambda p: p.serve_metrics()))
