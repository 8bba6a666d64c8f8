"""Spread the proxy's upstream connections over eight local addresses.

One local IP can hold about 28,000 connections to one upstream address (the ephemeral port
range); a pool of eight lifts that to about 225,000.
Run: pipework run examples/source_pool.py
"""

import pipework as pw

pool = pw.SourcePool("127.0.0.2-127.0.0.9")

pw.listen(8000, pw.pipeline(lambda p: p.connect("127.0.0.1:9000", bind=pool)), max_connections=100_000)
