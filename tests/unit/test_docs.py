"""Every Python snippet in README.md and docs/ loads as a script (`pipework check`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

DOCS = [Path(ROOT) / "README.md", *sorted((Path(ROOT) / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def snippets() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for i, m in enumerate(BLOCK.finditer(doc.read_text())):
            out.append((f"{doc.name}#{i + 1}", m.group(1)))
    return out


def test_there_are_snippets() -> None:
    assert len(snippets()) >= 8


@pytest.mark.parametrize(("where", "code"), snippets(), ids=[w for w, _ in snippets()])
def test_snippet_loads(tmp_path: Path, where: str, code: str) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    r = subprocess.run(
        [sys.executable, "-m", "pipework", "check", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 0, f"{where}:\n{r.stdout}{r.stderr}"
