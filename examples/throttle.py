"""Limit each client to 1 MB/s, all of them together to 10 MB/s, and 100 at once.

Run: pipework run examples/throttle.py
"""

import pipework as pw

everyone = pw.TokenBucket(10_000_000)

pw.listen(
    8000,
    pw.pipeline(
        lambda p: (
            p.throttle_concurrency(100)
            .throttle_data_rate(1_000_000)
            .throttle_data_rate(everyone)
            .connect("127.0.0.1:9000")
        )
    ),
)
