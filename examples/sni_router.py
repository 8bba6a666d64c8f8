"""SNI pass-through on port 8443: route TLS by the name the client asks for, without terminating it.

The ClientHello is read, not answered: a.test goes to the TLS server on 9443, b.test to the one
on 9444, any other name (or none) to a.test's. Each backend holds its own certificate and key;
the proxy holds none and forwards the client's bytes untouched. Non-TLS clients are refused.
The same as nginx's `ssl_preread on` with a `map $ssl_preread_server_name`.
Run: pipework run examples/sni_router.py
"""

import logging

import pipework as pw

log = logging.getLogger("sni_router")

backends = {"a.test": "127.0.0.1:9443", "b.test": "127.0.0.1:9444"}
default = "127.0.0.1:9443"


def backend(ctx):
    return backends.get(ctx.vars.tls_hello.server_name, default)


def seen(hello):
    log.info("hello for %s, ALPN %s", hello.server_name, ",".join(hello.alpn) or "none")


pw.listen(
    8443,
    pw.pipeline(
        lambda p: (
            p.handle_tls_client_hello(seen).link(lambda p: p.connect(backend, connect_timeout=5))
        )
    ),
)
