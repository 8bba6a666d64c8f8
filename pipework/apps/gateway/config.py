"""The gateway file's sections checked and turned into pipework objects with the public script API.

Theory of operation: :func:`declare` reads the file (:mod:`.source`), then walks its sections in
order — ``upstreams``, ``policies``, ``routes``, ``listeners``, ``admin`` — making the
:class:`pipework.Upstream`, :class:`pipework.Router` and layouts a script would make by hand. Each
mistake is added to a :class:`~.source.Problems` list with its line and the walk goes on, so one
run reports them all; the listeners are declared only when the list is empty, and otherwise a
:class:`pipework.ScriptError` carries every line. A reload goes through the same function, so a
bad file is refused as a whole and the running configuration keeps serving.

Options are checked against the signatures of the functions they are passed to (an unknown
option is named, with the closest known one), and the functions' own checks (``ValueError`` for
a bad value) are reported at the option's line. Durations may be written with a unit
(``500ms``, ``30s``, ``5m``, ``1h``, ``1d``) and sizes with one (``64k``, ``10m``, ``1g``: powers of
1024, as nginx reads them) wherever the option is a number. Relative file names are taken from
the directory of the gateway file.

Modules: :mod:`.source` (YAML with lines), :mod:`.reader` (the shared checks), then one per
section — :mod:`.upstreams`, :mod:`.policies` (and caches), :mod:`.routes`, :mod:`.listeners`
(and admin) — each a mixin of :class:`Gateway`.
"""

from __future__ import annotations

import pipework as pw

from .listeners import Listeners
from .source import Map

__all__ = ["Gateway", "declare", "load"]

TOP = ("listeners", "upstreams", "routes", "policies", "caches", "admin")


class Gateway(Listeners):
    """One reading of a gateway file, section by section; see the module docstring."""

    def check_top(self) -> Map | None:
        if self.doc is None and not self.problems:
            self.bad(1, "", "the file is empty: it needs at least 'listeners' and 'routes'")
            return None
        if self.problems:
            return None
        doc = self.mapping(self.doc, 1, "the file", TOP)
        if doc is None:
            return None
        for required in ("listeners", "routes"):
            if required not in doc:
                self.bad(1, "the file", f"{required!r} is missing")
        return doc

    def summary(self) -> str:
        """What the file declares, in a line: ``--check`` prints it."""

        def n(count: int, what: str) -> str:
            return f"{count} {what}{'' if count == 1 else 's'}"

        doc = self.doc if isinstance(self.doc, Map) else Map()
        listeners = [
            f"{m.get('address')}{' tls' if 'tls' in m else ''}" if isinstance(m, Map) else str(m)
            for m in (doc.get("listeners") or ())
        ]
        parts = [n(len(listeners), "listener") + (f" ({', '.join(listeners)})" if listeners else "")]
        parts += [n(len(self.routes), "route"), n(len(self.upstreams), "upstream")]
        if self.named:
            parts.append(n(len(self.named), "named policy").replace("policys", "policies"))
        if self.caches:
            parts.append(n(len(self.caches), "cache"))
        if "admin" in doc:
            parts.append("an admin listener")
        return ", ".join(parts)

    def run(self) -> None:
        doc = self.check_top()
        if doc is None:
            return
        self.read_upstreams(doc)
        self.read_caches(doc)
        self.read_policies(doc)
        self.read_routes(doc)
        listeners = self.read_listeners(doc)
        if self.problems:
            return
        for m, name, where in listeners:
            self.declare_listener(m, name, where)
        self.declare_admin(doc)


def load(path: str) -> Gateway:
    """Read and check the gateway file at ``path``, declaring its listeners into the program
    being loaded when it has no mistake; raise :class:`pipework.ScriptError` listing them."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise pw.ScriptError(f"{path}: cannot read the gateway file: {exc.strerror}", path) from None
    except UnicodeDecodeError:
        raise pw.ScriptError(f"{path}: not a text file (UTF-8)", path) from None
    gw = Gateway(path, text)
    gw.run()
    if gw.problems:
        lines = gw.problems.lines()
        first = gw.problems.found[0][0] if gw.problems.found else 0
        raise pw.ScriptError("\n".join(lines), path, first)
    return gw


def declare(path: str) -> None:
    """Declare what the gateway file at ``path`` says; call while a program is being loaded."""
    load(path)
