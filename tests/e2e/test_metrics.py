"""The metrics endpoint read by Prometheus' own parser (prometheus_client), after real traffic."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import free_port, require, run_script
from prometheus_client.parser import text_string_to_metric_families


def curl(*args: str) -> str:
    require("curl")
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True,
                          timeout=30, check=True).stdout  # fmt: skip


def test_metrics_after_traffic(pipework, tmp_path: Path, backends) -> None:
    a, b = backends(2)
    port, admin = free_port(), free_port()
    run_script(
        pipework,
        tmp_path / "m.py",
        "import pipework as pw\n"
        f"api = pw.Upstream([{a.address!r}, {b.address!r}], name='api')\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.rate_limit(5, 60, key='header:x-user').proxy(api))))\n"
        "scrape = pw.pipeline(lambda p: p.demux_http().to(lambda p: p.serve_metrics()))\n"
        f"pw.listen('127.0.0.1:{admin}', scrape)\n",
    )
    codes = [curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "X-User: ann", f"http://127.0.0.1:{port}/x")
             for _ in range(7)]  # fmt: skip
    assert codes == ["200"] * 5 + ["429"] * 2
    text = curl(f"http://127.0.0.1:{admin}/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("pipework_http_responses_total", (("code", "200"),))] == 5
    assert samples[("pipework_http_responses_total", (("code", "429"),))] == 2
    assert samples[("pipework_rate_limit_rejections_total", (("limit", "5/60s by header:x-user"),))] == 2
    for t in (a, b):
        key = (("target", t.address), ("upstream", "api"))
        assert samples[("pipework_upstream_target_healthy", key)] == 1
        assert samples[("pipework_upstream_target_active", key)] == 0
        assert samples[("pipework_upstream_target_connections", key)] >= 1  # kept alive for the next
    assert samples[("pipework_connections_active", ())] >= 1  # this scrape's own
    assert samples[("pipework_upstream_retries_total", (("upstream", "api"),))] == 0
