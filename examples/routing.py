"""Route a connection by its first bytes, keep per-connection state, and log the ends.

A client whose first chunk starts with "ADMIN" goes to the admin server, every other one to the
app; the context counts the bytes each connection sent, logged when it closes.
Run: pipework run examples/routing.py
"""

import logging

import pipework as pw

log = logging.getLogger("routing")

admin = pw.pipeline(lambda p: p.connect("127.0.0.1:9100"))
app = pw.pipeline(lambda p: p.connect("127.0.0.1:9000"))


def count(data, ctx):
    ctx.vars.sent = getattr(ctx.vars, "sent", 0) + len(data)


def report(ctx):
    log.info(
        "%s:%d sent %d bytes",
        ctx.inbound.remote_address,
        ctx.inbound.remote_port,
        getattr(ctx.vars, "sent", 0),
    )


pw.listen(
    8000,
    pw.pipeline(
        lambda p: (
            p.handle_data(count)
            .on_end(report)
            .branch(lambda first: isinstance(first, pw.Data) and first.data.startswith(b"ADMIN"), admin, app)
        )
    ),
)
