"""A caching reverse proxy on port 8080 in front of the app server on 127.0.0.1:9000.

Responses the app marks cacheable (Cache-Control: max-age, s-maxage, public...) are kept in
memory (64 MiB at most, least recently used ones dropped first) and served from there with an
Age field; stale ones are revalidated with If-None-Match/If-Modified-Since, or served at once
and refreshed in the background within their stale-while-revalidate window; many clients
missing the same URL at once make one request to the app. Every answer says what happened in
X-Cache (HIT, MISS, EXPIRED, REVALIDATED, STALE, BYPASS) and Cache-Status. Range requests
(a resumed download, a video's seeks) are answered from the store; a reload (SIGHUP) keeps
what is stored; with --workers N, a purge reaches every worker.

Port 9101 is the cache's admin port (keep it private):
    curl -X PURGE http://127.0.0.1:9101/products/42           # one URL, on every host
    curl -X PURGE 'http://127.0.0.1:9101/products/*'          # every URL under /products/
    curl -X POST 'http://127.0.0.1:9101/cache/purge?all=1'    # everything
    curl http://127.0.0.1:9101/cache/stats                    # hits, misses, bytes...
Run: pipework run examples/http_cache.py
"""

import pipework as pw

cache = pw.HttpCache(max_size=64 << 20, max_object=4 << 20)
app = pw.Upstream(["127.0.0.1:9000"])

pw.listen(8080, lambda p: p.demux_http().to(lambda p: p.cache_http(cache).to(lambda p: p.proxy(app))))
pw.listen("127.0.0.1:9101", lambda p: p.demux_http().to(lambda p: p.serve_cache_admin(cache)))
