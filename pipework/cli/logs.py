"""Logging set-up for the command line: text or JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from ..filters import access_log as accesslog

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup(level: str = "info", fmt: str = "text", tag: str = "", access_log: str | None = None) -> None:
    """Send pipework's logs to stderr at ``level`` in ``fmt``; ``tag`` marks a worker's lines;
    HTTP access log lines to the file ``access_log`` when given (OSError if it cannot be opened)."""
    accesslog.to_file(access_log)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        prefix = f"[{tag}] " if tag else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    os.environ["PIPEWORK_LOG"] = f"{level}:{fmt}"
