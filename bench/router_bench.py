"""Router lookup cost as the number of routes grows: 10, 1,000 and 10,000 routes.

Usage: ``bench/router_bench.py [--sizes 10,1000,10000] [--seconds 0.2]``

Each router holds exactly that many routes, a realistic mix: three regex routes (always present;
they are tried in turn, so their cost does not grow with the table), then about 40% exact paths,
25% templates (``/api/v2/res7/{id}``, ``/users7/{uid}/posts/{pid}``), 25% prefixes and 10% exact
paths with a header condition (a canary, added before the plain route of the same path so that
plain requests fall through it; the pair counts as two routes); a quarter of the routes is bound
to one of 20 virtual hosts. Lookups are timed per kind of
request hit (exact, canary fall-through, template, prefix) and for misses, which walk every
stage. Heads are made and their path split before timing: what is measured is ``Router.match``
only. Figures are the best of five rounds of ``timeit`` (wall time, µs per match); the issue's
target is growth well below linear from 1,000 to 10,000 routes. ``bench/http_lb.py`` imports
:func:`measure` and :func:`growth` to put these figures beside its load runs.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
import timeit
from collections.abc import Sequence
from dataclasses import dataclass

from pipework.codec.http1 import RequestHead
from pipework.lb.router import Router

KINDS = ("exact", "canary", "template", "prefix", "miss")
SIZES = (10, 1000, 10000)  # routes in the router: the sizes
REGEXES = (r"/legacy/(?P<id>\d+)\.php", r"/v\d+/.+\.json", r"/old/.*")


def build(n: int) -> tuple[Router[int], dict[str, list[RequestHead]]]:
    rnd = random.Random(n)
    router: Router[int] = Router()
    heads: dict[str, list[RequestHead]] = {k: [] for k in KINDS}
    for pattern in REGEXES:
        router.add(-1, regex=pattern)
    for i in itertools.count():
        if len(router) >= n:
            break
        host = f"svc{i % 20}.example.com" if i % 4 == 0 else None
        vhost = (host or "www.example.com").encode()
        hdr = [(b"Host", vhost), (b"User-Agent", b"bench/1.0"), (b"Accept", b"*/*")]
        slot = i * 7 % 20  # spreads the kinds over the first routes too
        if slot < 8 or (slot < 10 and len(router) + 2 > n):  # no room left for a canary's pair
            router.add(i, host=host, path=f"/api/v1/items{i}")
            heads["exact"].append(RequestHead("GET", f"/api/v1/items{i}?page=2", raw_headers=hdr))
        elif slot < 10:
            router.add(i, host=host, path=f"/api/v1/orders{i}", headers={"x-canary": "1"})
            router.add(i, host=host, path=f"/api/v1/orders{i}")
            heads["canary"].append(RequestHead("GET", f"/api/v1/orders{i}", raw_headers=hdr))
        elif slot < 15:
            tmpl = f"/api/v{i % 3}/res{i}/{{id}}" if i % 2 else f"/users{i}/{{uid}}/posts/{{pid}}"
            router.add(i, host=host, path=tmpl)
            path = tmpl.replace("{id}", "42").replace("{uid}", "7").replace("{pid}", "99")
            heads["template"].append(RequestHead("GET", path, raw_headers=hdr))
        else:
            prefix = f"/static{i}/" if i % 2 else f"/assets/app{i}/"
            router.add(i, host=host, prefix=prefix)
            heads["prefix"].append(RequestHead("GET", prefix + "js/main.js", raw_headers=hdr))
        heads["miss"].append(RequestHead("GET", f"/nothing/here{i}/x", raw_headers=hdr))
    for k, hs in heads.items():
        rnd.shuffle(hs)
        del hs[200:]
        for h in hs:
            assert (router.match(h) is None) == (k == "miss"), (k, h)
    return router, heads


def per_match(router: Router[int], heads: list[RequestHead], seconds: float) -> float:
    match = router.match
    run = lambda: [match(h) for h in heads]  # noqa: E731
    number = max(1, int(seconds / 5 / max(timeit.timeit(run, number=1), 1e-7)))
    best = min(timeit.repeat(run, number=number, repeat=5))
    return best / number / len(heads) * 1e6


@dataclass(frozen=True)
class Row:
    """One router size: its routes, how long it took to build, and µs per match by kind."""

    routes: int
    build_ms: float
    us: dict[str, float]  # kind -> µs per match (kinds the size has requests of)


def measure(sizes: Sequence[int], seconds: float) -> list[Row]:
    """A row per size: a router of that many routes built and timed, ``seconds`` per kind."""
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        router, heads = build(n)
        built = (time.perf_counter() - t0) * 1e3
        us = {k: per_match(router, heads[k], seconds) for k in KINDS if heads[k]}
        rows.append(Row(len(router), built, us))
    return rows


def growth(rows: Sequence[Row]) -> list[tuple[int, int, float]]:
    """Per step between sizes: (routes before, routes after, the slowest kind's growth factor)."""
    return [(lo.routes, hi.routes, max(hi.us[k] / lo.us[k] for k in hi.us if k in lo.us))
            for lo, hi in itertools.pairwise(rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--seconds", type=float, default=0.2, help="time per kind and size")
    args = ap.parse_args()
    rows = measure([int(s) for s in args.sizes.split(",")], args.seconds)
    print(f"router lookup, µs per match (best of 5; Python {sys.version.split()[0]})")
    print(f"(routes: all in the router, canaries' pairs and {len(REGEXES)} regexes included)")
    print(f"{'routes':>7} {'build ms':>9} " + " ".join(f"{k:>9}" for k in KINDS))
    for row in rows:
        print(f"{row.routes:>7} {row.build_ms:>9.1f} " + " ".join(f"{row.us.get(k, 0):>9.2f}" for k in KINDS))
    for lo, hi, factor in growth(rows):
        print(f"{lo} -> {hi} routes (x{hi / lo:g}): slowest kind x{factor:.2f}")


if __name__ == "__main__":
    main()
