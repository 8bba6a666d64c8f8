"""The HTTP cache's admin endpoints: purge stored responses and read the statistics.

Theory of operation: ``cache_admin(cache)`` makes a plain ``Request -> Response`` handler, to
mount under ``serve_http`` on an admin port (``p.serve_cache_admin(cache)`` does that), or to
call from a larger admin API; ``purge_handler`` is the same handler for every cache of the
process (:data:`pipework.filters.cache.LIVE`), a ``?cache=NAME`` parameter picking one (but
for ``PURGE``, whose query is the purged URL's). It answers:

- ``PURGE /path?query`` — drop the responses stored for that URL on every host (as Varnish's
  ``PURGE``); a path ending in ``*`` drops every URL starting with what is before it;
- ``POST /cache/purge?url=URL`` — the same for ``URL`` (``/path``, ``host/path`` or
  ``http://host/path``); ``?prefix=PREFIX`` for every URL starting with ``PREFIX``; ``?all=1``
  for everything;
- ``GET /cache/stats`` — each cache's counters as JSON (this worker's: with ``--workers``, the
  ``X-Pipework-Worker: 2/4`` field says which one answered; the metrics combine them all).

Purges answer ``{"purged": N}``, N counted in this worker (with ``--workers``, the others drop
theirs before their next lookup, see :mod:`pipework.filters.cache`); a request for another path
gets 404, another method 405.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..codec.http1 import Request, Response
from ..core import Builder, group, register
from ..filters.cache import LIVE, HttpCache


def _caches(req: Request, only: HttpCache | None) -> list[HttpCache] | Response:
    if only is not None:
        return [only]
    name = req.query.get("cache", [None])[0]
    caches = sorted(LIVE, key=lambda c: c.name)
    if name is None:
        return caches
    picked = [c for c in caches if c.name == name]
    return picked or Response.json({"error": f"no cache named {name!r}"}, 404)


def _purge(caches: Iterable[HttpCache], url: str | None, prefix: str | None, everything: bool) -> int:
    n = 0
    for c in caches:
        if everything:
            n += c.clear()
        elif prefix is not None:
            n += c.purge_prefix(prefix)
        elif url is not None:
            n += c.purge(url)
    return n


def cache_admin(cache: HttpCache | None = None) -> Callable[[Request], Response]:
    """The admin handler of ``cache`` (of every cache of the process when None); see the
    module docstring for what it answers."""

    def handle(req: Request) -> Response:
        if req.method == "PURGE":  # the target is the URL, query included: every cache
            every = [cache] if cache is not None else list(LIVE)
            target = req.target
            if target.endswith("*"):
                return Response.json({"purged": _purge(every, None, target[:-1], False)})
            return Response.json({"purged": _purge(every, target, None, False)})
        caches = _caches(req, cache)
        if isinstance(caches, Response):
            return caches
        if req.path == "/cache/purge":
            if req.method != "POST":
                return Response("use POST\n", 405, {"allow": "POST"})
            q = req.query
            url, prefix = q.get("url", [None])[0], q.get("prefix", [None])[0]
            everything = q.get("all", ["0"])[0] in ("1", "true", "yes")
            if url is None and prefix is None and not everything:
                return Response.json({"error": "give url=, prefix= or all=1"}, 400)
            return Response.json({"purged": _purge(caches, url, prefix, everything)})
        if req.path == "/cache/stats":
            if req.method not in ("GET", "HEAD"):
                return Response("use GET\n", 405, {"allow": "GET, HEAD"})
            answer = Response.json({c.name: c.statistics() for c in caches})
            if group.workers() > 1:  # the counters are this worker's: say which one answered
                answer.headers["x-pipework-worker"] = f"{group.worker_index()}/{group.workers()}"
            return answer
        return Response.json({"error": "not found"}, 404)

    return handle


#: the admin handler of every cache of the process (``?cache=NAME`` picks one)
purge_handler = cache_admin()


def serve_cache_admin(self: Builder, cache: HttpCache | None = None) -> Builder:
    """Answer the cache's admin requests (purge, statistics; see :mod:`pipework.admin.cache`)
    for ``cache``, or for every cache of the process. Use it under ``demux_http`` on an admin
    port: ``pw.listen(9101, lambda p: p.demux_http().to(lambda p: p.serve_cache_admin(cache)))``."""
    return self.serve_http(cache_admin(cache))  # type: ignore[no-any-return]


register(serve_cache_admin=serve_cache_admin)
