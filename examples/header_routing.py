"""Route HTTP requests on port 8080 by host, path and header, with a rewrite and redirects.

- example.com (without www): a permanent redirect to https://www.example.com, same path;
- /blog/2019/some-post: moved to /posts/some-post (308: the method and body are kept);
- /api/...: to the API servers without the /api prefix (nginx's `proxy_pass http://api/;`),
  to version 2 for clients that send `X-Api-Version: 2`;
- everything else to the web servers. Routes match by precedence, not by the order written:
  see docs/load-balancing.md.
Run: pipework run examples/header_routing.py
"""

import pipework as pw

web = pw.Upstream(["127.0.0.1:9001", "127.0.0.1:9002"])
api_v1 = pw.Upstream(["127.0.0.1:9003"])
api_v2 = pw.Upstream(["127.0.0.1:9004"])

routes = pw.Router()
routes.add(pw.redirect("https://www.example.com{uri}", 301), host="example.com")
routes.add(pw.redirect("/posts/{slug}", 308), path="/blog/{year}/{slug}")
# the first route added wins between routes with the same path: the one with a condition first
routes.add(pw.to(api_v2, rewrite_prefix="/"), prefix="/api/", headers={"x-api-version": "2"})
routes.add(
    pw.to(api_v1, rewrite_prefix="/", request_headers={"set": {"x-api-version": "1"}}, read_timeout=10),
    prefix="/api/",
)
routes.add(web, prefix="/")

pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes))))
