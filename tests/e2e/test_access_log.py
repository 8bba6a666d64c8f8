"""Access logs (combined and JSON) and the per-status response counters of demux_http."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

from helpers import free_port, require

SCRIPT = """\
    import pipework as pw

    def app(req):
        if req.path == "/stats":
            return {{str(k): v for k, v in pw.http_status_counts().items()}}
        if req.path == "/missing":
            return None
        return "ok"

    site = pw.pipeline(lambda p: p.serve_files({root!r}))
    pw.listen("127.0.0.1:{fast}", pw.pipeline(lambda p: p.demux_http(access_log="combined").to(
        lambda p: p.serve_http(app))))
    pw.listen("127.0.0.1:{deep}", pw.pipeline(lambda p: p.demux_http(access_log="json").to(
        lambda p: p.handle_message_start(lambda e: None).serve_http(app))))
    pw.listen("127.0.0.1:{files}", pw.pipeline(lambda p: p.demux_http(access_log="combined").to(site)))
"""


def curl(*args: str) -> str:
    require("curl")
    return subprocess.run(
        ["curl", "-s", "--max-time", "10", *args], capture_output=True, text=True, timeout=20, check=False
    ).stdout


def test_access_logs_and_counters(pipework, tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "f.txt").write_text("file body\n")
    ports = {"fast": free_port(), "deep": free_port(), "files": free_port()}
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(SCRIPT.format(root=str(tmp_path / "www"), **ports)))
    p = pipework("run", str(script))
    p.wait_log("listening on tcp", count=3)

    assert curl("-A", "tester/1.0", "-e", "http://ref/", f"http://127.0.0.1:{ports['fast']}/a?b=1") == "ok"
    curl(f"http://127.0.0.1:{ports['fast']}/missing")
    line = p.wait_log(
        r'127\.0\.0\.1 - - \[[^\]]+\] "GET /a\?b=1 HTTP/1\.1" 200 2 "http://ref/" "tester/1\.0" [\d.]+'
    )
    assert line
    p.wait_log(r'"GET /missing HTTP/1\.1" 404 10 "-" "curl/')

    curl("-X", "POST", "-d", "xyz", f"http://127.0.0.1:{ports['deep']}/posted")
    m = p.wait_log(r'\{"time":[^\n]*"target":"/posted"[^\n]*\}')
    rec = json.loads(m.group(0))
    assert rec["method"] == "POST"
    assert rec["status"] == 200
    assert rec["bytes"] == 2
    assert rec["remote"] == "127.0.0.1"
    assert rec["user_agent"].startswith("curl/")

    assert curl(f"http://127.0.0.1:{ports['files']}/f.txt") == "file body\n"
    curl(f"http://127.0.0.1:{ports['files']}/nope")
    p.wait_log(r'"GET /f\.txt HTTP/1\.1" 200 10 ')
    p.wait_log(r'"GET /nope HTTP/1\.1" 404 ')

    stats = json.loads(curl(f"http://127.0.0.1:{ports['fast']}/stats"))
    assert stats == {"200": 3, "404": 2}  # counted before this /stats answer itself
    assert not re.search(r"Traceback", p.output())
