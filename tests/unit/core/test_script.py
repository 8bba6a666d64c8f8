"""Script loading: declarations, and errors that point at the script's own line."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipework as pw
from pipework.core.callback import adapt
from pipework.core.runtime import idle_timeout
from pipework.core.script import ScriptError, load_file


def load(tmp_path: Path, text: str) -> object:
    p = tmp_path / "s.py"
    p.write_text(text)
    return load_file(str(p))


def test_declarations_are_collected(tmp_path: Path) -> None:
    prog = load(
        tmp_path,
        "import pipework as pw\nl = pw.pipeline(lambda p: p)\n"
        "pw.listen(9, l)\npw.listen('127.0.0.1:10', l, protocol='udp', idle_timeout=5)\n"
        "pw.task(1.5, l)\npw.on_exit(print)\n",
    )
    assert [(s.protocol, s.host, s.port, s.options) for s in prog.listens] == [
        ("tcp", "0.0.0.0", 9, {}),
        ("udp", "127.0.0.1", 10, {"idle_timeout": 5.0}),
    ]
    assert [t.when for t in prog.tasks] == [1.5]
    assert prog.exits == [print]


def test_idle_timeout_defaults(tmp_path: Path) -> None:
    """A listen() without idle_timeout gets its protocol's: HTTP (a layout that starts with
    demux_http) 75 s, like nginx's keepalive_timeout; raw TCP none; UDP sessions 60 s."""
    prog = load(
        tmp_path,
        "import pipework as pw\n"
        f"web = pw.pipeline(lambda p: p.demux_http().to(lambda q: q.serve_files({str(tmp_path)!r})))\n"
        "raw = pw.pipeline(lambda p: p)\n"
        "pw.listen(1, web)\npw.listen(2, web, idle_timeout=3)\npw.listen(3, web, idle_timeout=0)\n"
        "pw.listen(4, raw)\npw.listen(5, raw, protocol='udp')\n",
    )
    assert [idle_timeout(s) for s in prog.listens] == [75.0, 3.0, 0.0, 0.0, 60.0]  # type: ignore[attr-defined]


def test_error_deep_in_pipework_points_at_the_script_line(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as info:
        load(tmp_path, "import pipework as pw\n\n\npw.listen(80, pw.pipeline(lambda p: p.connect('nope')))\n")
    assert info.value.lineno == 4
    assert str(info.value).startswith(f"{tmp_path / 's.py'}:4: ValueError: bad address 'nope'")


def test_error_in_a_module_the_script_imports(tmp_path: Path) -> None:
    (tmp_path / "helper_mod_x.py").write_text("x = 1\nraise KeyError('from helper')\n")
    with pytest.raises(ScriptError) as info:
        load(tmp_path, "import pipework as pw\nimport helper_mod_x\n")
    assert info.value.lineno == 2  # the script's line that led there


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("pw.listen(80, L, protocol='sctp')", "protocol must be one of tcp, udp"),
        ("pw.listen(80, L, backlog=-1)", "backlog must be a number >= 0"),
        ("pw.listen(80, L); pw.listen(80, L)", "declared twice"),
        ("pw.task(0, L)", "interval must be a number of seconds > 0"),
        ("pw.task('SIGHUP', L)", "unknown signal 'SIGHUP'"),
        ("pw.on_exit(3)", "expects a function"),
        ("pw.listen(80, 'L')", "a pipeline is made from a function"),
    ],
)
def test_declaration_errors(tmp_path: Path, line: str, reason: str) -> None:
    with pytest.raises(ScriptError, match=reason):
        load(tmp_path, f"import pipework as pw\nL = pw.pipeline(lambda p: p)\n{line}\n")


def test_missing_file() -> None:
    with pytest.raises(ScriptError, match="cannot read the script"):
        load_file("/nonexistent/script.py")


def test_declaring_outside_a_script_is_explained() -> None:
    with pytest.raises(RuntimeError, match="pipework run"):
        pw.listen(80, pw.pipeline(lambda p: p))


def test_adapt_passes_the_context_only_to_functions_that_take_it() -> None:
    assert adapt(lambda d: d, 1, "f").call("x", "ctx") == "x"
    assert adapt(lambda d, c: (d, c), 1, "f").call("x", "ctx") == ("x", "ctx")
    assert adapt(lambda *a: a, 1, "f").call("x", "ctx") == ("x", "ctx")
    assert adapt(lambda: 1, 0, "f").call("ctx") == 1

    async def coro(d: object) -> None: ...

    assert adapt(coro, 1, "f").is_async
    with pytest.raises(TypeError, match="expects a function"):
        adapt(5, 1, "f")


def test_registering_a_filter_name_twice_from_elsewhere_is_refused() -> None:
    def connect(self: object) -> object:
        return self

    with pytest.raises(ValueError, match=r"already registered by pipework\.filters\.connect"):
        pw.register(connect=connect)
    with pytest.raises(ValueError, match="builder method of its own"):
        pw.register(to=connect)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("p.demux_http(header_timeout=-1)", "header_timeout must be seconds"),
        ("p.demux_http(header_timeout='60')", "header_timeout must be seconds"),
        ("p.demux_http(max_uri=0)", "max_uri must be a positive number"),
        ("p.demux_http(max_url=10)", "unknown limit 'max_url'"),
        ("p.demux_http(access_log='apache')", "access_log must be one of"),
    ],
)
def test_demux_http_settings_are_checked_at_load(tmp_path: Path, call: str, error: str) -> None:
    with pytest.raises(ScriptError, match=error) as info:
        load(tmp_path, f"import pipework as pw\n\npw.listen(80, pw.pipeline(lambda p: {call}))\n")
    assert info.value.lineno == 3
