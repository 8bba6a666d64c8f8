"""A UDP forwarder: each client address is a session with its own upstream socket.

Run: pipework run examples/udp_proxy.py, then e.g. `dig @127.0.0.1 -p 5353 example.com`
with a resolver on 127.0.0.1:53.
"""

import pipework as pw

pw.listen(
    "127.0.0.1:5353",
    pw.pipeline(lambda p: p.connect("127.0.0.1:53", protocol="udp", idle_timeout=30)),
    protocol="udp",
    idle_timeout=30,
)
