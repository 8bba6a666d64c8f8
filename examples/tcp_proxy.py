"""A TCP proxy on port 8000 that spreads connections round-robin over two servers.

The same as `pipework proxy --listen 0.0.0.0:8000 --to 127.0.0.1:9000 --to 127.0.0.1:9001`.
Run: pipework run examples/tcp_proxy.py
"""

import pipework as pw

servers = pw.RoundRobin(["127.0.0.1:9000", "127.0.0.1:9001"])

pw.listen(8000, pw.pipeline(lambda p: p.connect(lambda: servers.next(), connect_timeout=5)))
