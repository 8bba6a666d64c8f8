"""``pipework serve DIR``: a static web server for a directory, from the in-memory file cache.

This is what a user would write as a script (see examples/static_site.py); the command line
only fills in the directory, the address and the cache settings.
"""

from __future__ import annotations

import pipework as pw
from pipework.filters.http import DEFAULT_IDLE_TIMEOUT


def declare(
    root: str,
    listen: str,
    *,
    cache_size: int = 64 * 1024 * 1024,
    max_file: int = 4 * 1024 * 1024,
    revalidate: float = 1.0,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    tls: tuple[str, str, str | None] | None = None,
) -> None:
    """Declare the listener (HTTPS with ``tls``, a certificate and key, and their passphrase);
    call while a program is being loaded."""
    site = pw.pipeline(
        lambda p: p.serve_files(root, cache_size=cache_size, max_file=max_file, revalidate=revalidate)
    )
    if tls is None:
        pw.listen(listen, pw.pipeline(lambda p: p.demux_http(site)), idle_timeout=idle_timeout)
    else:
        https = pw.pipeline(lambda p: p.accept_tls(tls, alpn=["http/1.1"]).to(lambda p: p.demux_http(site)))
        pw.listen(listen, https, idle_timeout=idle_timeout)
