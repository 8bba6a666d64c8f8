"""Metric families as this project keeps them between collecting and rendering: named samples
with their labels, and the rule that combines a family across the workers of a group.

Theory of operation: a :class:`Family` is plain data (so a worker can write it to a file and
another read it back, see :mod:`pipework.admin.combine`); :func:`render` writes families in
Prometheus' text exposition format (version 0.0.4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..filters import request_stats

#: how families combine across the workers of a group: counters (and histograms) add up over
#: every worker that ever ran, gauges over the workers alive now, or take their least or most
SUM, LIVE_SUM, LIVE_MIN, LIVE_MAX = "sum", "live_sum", "live_min", "live_max"
RULES = (SUM, LIVE_SUM, LIVE_MIN, LIVE_MAX)

Labels = tuple[tuple[str, str], ...]
#: a sample: the sample's name (the family's, or with _bucket, _sum, _count) and its labels
Key = tuple[str, Labels]


class Family:
    """One metric family: ``name``, ``kind`` (counter, gauge, histogram), ``doc``, the ``rule``
    that combines it across workers, and its samples in order, ``{(sample name, labels): value}``."""

    __slots__ = ("doc", "kind", "name", "rule", "samples")

    def __init__(self, name: str, kind: str, doc: str, rule: str) -> None:
        self.name = name
        self.kind = kind
        self.doc = doc
        self.rule = rule
        self.samples: dict[Key, float] = {}

    def add(self, value: float, suffix: str = "", **labels: object) -> None:
        self.samples[(self.name + suffix, tuple((k, str(v)) for k, v in labels.items()))] = value

    def histogram(self, buckets: Iterable[int], total: float, **labels: object) -> None:
        """Add a histogram's samples from its per-bucket counts (request_stats.BOUNDS, then +Inf)."""
        running = 0
        for bound, n in zip((*request_stats.BOUNDS, math.inf), buckets, strict=True):
            running += n
            self.add(running, "_bucket", **labels, le=_number(bound))
        self.add(total, "_sum", **labels)
        self.add(running, "_count", **labels)


def _number(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(float(v))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(families: Iterable[Family]) -> str:
    """The text exposition of ``families``."""
    out: list[str] = []
    for f in families:
        out += (f"# HELP {f.name} {f.doc}", f"# TYPE {f.name} {f.kind}")
        for (name, labels), value in f.samples.items():
            if labels:
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                out.append(f"{name}{{{inner}}} {_number(value)}")
            else:
                out.append(f"{name} {_number(value)}")
    return "\n".join(out) + "\n"
