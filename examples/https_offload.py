"""HTTPS offload: TLS ends here, the backends speak plain HTTP.

- 8443 serves HTTPS with the certificate in pki/ (beside this file), HTTP/1.1 by ALPN, TLS 1.2
  and up; every response gets Strict-Transport-Security, every request X-Forwarded-Proto: https
  (the proxy adds it). The site goes to 9001 and 9002, round-robin.
- /admin/ needs a client certificate signed by pki/ca.pem (mutual TLS): without one the answer
  is 403; with one the request goes to 9003 (/admin/x as /x) with the certificate in
  X-Client-Cert (URL-encoded PEM, as nginx's $ssl_client_escaped_cert) and its subject in
  X-Client-DN. Fields of those names sent by the client are dropped.
- 8080 answers every plain-HTTP request with a 301 to the same URL on https://...:8443.

The same as nginx's `ssl_verify_client optional` with `if ($ssl_client_verify != SUCCESS)
{ return 403; }` in `location /admin/`, `add_header Strict-Transport-Security ... always` and a
`return 301 https://$host:8443$request_uri` server. Run:

    pipework cert ca --out examples/pki
    pipework cert issue localhost 127.0.0.1 --ca examples/pki --out examples/pki
    pipework cert issue admin --client --ca examples/pki --out examples/pki
    pipework run examples/https_offload.py
    curl --cacert examples/pki/ca.pem https://localhost:8443/
    curl --cacert examples/pki/ca.pem --cert examples/pki/admin-client.pem \
        --key examples/pki/admin-client-key.pem https://localhost:8443/admin/
"""

from pathlib import Path

import pipework as pw

PKI = Path(__file__).with_name("pki")
HSTS = {"set": {"strict-transport-security": "max-age=31536000"}}
CLIENT_FIELDS = (b"x-client-cert", b"x-client-dn")

site = pw.Upstream(["127.0.0.1:9001", "127.0.0.1:9002"])
admin = pw.Upstream(["127.0.0.1:9003"])


def pass_client_cert(evt, ctx):
    """The verified client certificate, for the backend; what the client sent in its place, dropped."""
    peer = ctx.tls.peer
    head = evt.head
    fields = [(k, v) for k, v in head.raw_headers if k.lower() not in CLIENT_FIELDS]
    fields += [(b"x-client-cert", peer["escaped_pem"].encode()), (b"x-client-dn", peer["subject"].encode())]
    head.raw_headers = fields


def gate(evt, ctx):
    """/admin/ is for clients that showed a certificate the CA signed (verified in the handshake)."""
    return to_admin if ctx.tls.peer is not None else refuse


def to_https(head, params):
    """The same URL on the HTTPS port: the Host field without its port, then the target."""
    host = (head.header(b"host") or b"localhost").decode("latin-1")
    name = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
    return f"https://{name}:8443{head.target}"


to_admin = pw.pipeline(lambda p: p.handle_message_start(pass_client_cert).proxy(admin))
refuse = pw.pipeline(lambda p: p.serve_http(lambda req: pw.Response("a client certificate is needed\n", 403)))

routes = pw.Router()
gated = pw.pipeline(lambda p: p.pipe(gate))
routes.add(pw.to(gated, rewrite_prefix="/", response_headers=HSTS), prefix="/admin/")
routes.add(pw.to(site, response_headers=HSTS), prefix="/")

tls = {
    "certificate": (PKI / "localhost.pem", PKI / "localhost-key.pem"),
    "alpn": ["http/1.1"],
    "client_ca": str(PKI / "ca.pem"),
    "verify_client": "optional",  # asked for, checked against client_ca when given, not required
}
http = pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes)))
pw.listen(8443, pw.pipeline(lambda p: p.accept_tls(**tls).to(http)))

redirects = pw.Router()
moved = pw.redirect(to_https, 301)
pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(redirects, default=moved))))
