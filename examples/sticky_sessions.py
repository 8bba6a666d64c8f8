"""Sticky sessions on port 8080: each session cookie always reaches the same app server.

Requests are hashed by their `session` cookie on a consistent-hash ring (nginx's `hash
$cookie_session consistent`): when a server fails its health checks only the sessions it held
move, spread over the others, and they come back when it does. Requests without the cookie
(a first visit) go to any server.
Run: pipework run examples/sticky_sessions.py
"""

import pipework as pw

app = pw.Upstream(
    ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"],
    balancer="ring_hash",
    hash_key="cookie:session",
    # GET /health every second; out after 2 failures in a row, back after 2 passes
    health_check=pw.HealthCheck("/health", interval=1, fall=2, rise=2),
)

pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(lambda p: p.proxy(app, read_timeout=30))))
