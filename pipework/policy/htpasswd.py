"""HTTP Basic authentication against an htpasswd file (pure: the caller reads the file).

Theory of operation: :func:`parse` turns the lines of an Apache ``htpasswd`` file into
``{user: hash}`` (file, line and reason for a line it cannot use), and :class:`Htpasswd` checks
a ``user:password`` pair against it, for the formats the ``htpasswd`` tool writes: bcrypt
(``$2y$``, ``-B``), Apache's MD5 (``$apr1$``, the default), SHA-1 (``{SHA}``, ``-s``) and plain
text (``-p``, only where the platform allows it). The old DES ``crypt()`` format is refused with a
clear error: it keeps 8 characters of a password. :func:`basic_credentials` reads an
``Authorization: Basic`` value (RFC 7617). Checks take constant time in the password for the
formats that allow it (``hmac.compare_digest``); bcrypt is slow by design, so the results of
recent checks are remembered (bounded) to keep a busy client from costing 50 ms per request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterable

#: remembered (user, password-digest) -> result of a bcrypt check; a client chooses the keys
CACHE_SIZE = 1024
_APR1_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class HtpasswdError(ValueError):
    """A line of an htpasswd file that cannot be used: ``str()`` is ``file:line: reason``."""


def parse(lines: Iterable[str], source: str = "htpasswd") -> dict[str, str]:
    """``{user: hash}`` from the lines of an htpasswd file; blank lines and ``#`` comments are
    skipped. Raises :class:`HtpasswdError` naming ``source`` and the line."""
    users: dict[str, str] = {}
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        if not colon or not user or not hashed:
            raise HtpasswdError(f"{source}:{n}: expected user:hash")
        if not hashed.startswith(("$2y$", "$2a$", "$2b$", "$apr1$", "{SHA}")) and len(hashed) == 13:
            raise HtpasswdError(
                f"{source}:{n}: {user}: crypt() hashes keep only 8 characters of a password; "
                "make the entry again with htpasswd -B (bcrypt)"
            )
        if user in users:
            raise HtpasswdError(f"{source}:{n}: {user} is listed twice")
        users[user] = hashed
    return users


def basic_credentials(value: bytes | str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic ...`` value, or None if it is not one
    (RFC 7617: the scheme is case-insensitive; user and password are UTF-8, split at the first
    colon)."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def apr1(password: str, salt: str) -> str:
    """Apache's MD5-based hash (``$apr1$salt$digest``), as ``htpasswd -m`` makes it."""
    pw = password.encode()
    sb = salt.encode()[:8]
    magic = b"$apr1$"
    alt = hashlib.md5(pw + sb + pw).digest()
    ctx = pw + magic + sb
    n = len(pw)
    while n > 0:
        ctx += alt[: min(16, n)]
        n -= 16
    i = len(pw)
    while i:
        ctx += b"\0" if i & 1 else pw[:1]
        i >>= 1
    final = hashlib.md5(ctx).digest()
    for r in range(1000):
        step = pw if r & 1 else final
        if r % 3:
            step += sb
        if r % 7:
            step += pw
        step += final if r & 1 else pw
        final = hashlib.md5(step).digest()
    out = []
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        v = (final[a] << 16) | (final[b] << 8) | final[c]
        for _ in range(4):
            out.append(_APR1_ALPHABET[v & 0x3F])
            v >>= 6
    v = final[11]
    for _ in range(2):
        out.append(_APR1_ALPHABET[v & 0x3F])
        v >>= 6
    return f"$apr1${salt[:8]}${''.join(out)}"


class Htpasswd:
    """Checks passwords against parsed htpasswd entries (see the module docstring)."""

    __slots__ = ("_cache", "users")

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self._cache: OrderedDict[tuple[str, bytes], bool] = OrderedDict()

    @classmethod
    def from_file(cls, path: str) -> Htpasswd:
        """Read and parse ``path``; OSError or :class:`HtpasswdError` say what is wrong."""
        with open(path, encoding="utf-8") as f:
            return cls(parse(f, path))

    def check(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s."""
        hashed = self.users.get(user)
        if hashed is None:
            return False
        if hashed.startswith(("$2y$", "$2a$", "$2b$")):
            return self._bcrypt(user, password, hashed)
        if hashed.startswith("$apr1$"):
            salt = hashed[6:].partition("$")[0]
            return hmac.compare_digest(apr1(password, salt), hashed)
        if hashed.startswith("{SHA}"):
            digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
            return hmac.compare_digest("{SHA}" + digest, hashed)
        return hmac.compare_digest(password, hashed)  # plain text (htpasswd -p)

    def _bcrypt(self, user: str, password: str, hashed: str) -> bool:
        import bcrypt  # only files with bcrypt entries need the package

        key = (user, hashlib.sha256(f"{hashed}\0{password}".encode()).digest())
        known = self._cache.get(key)
        if known is not None:
            self._cache.move_to_end(key)
            return known
        ok = bcrypt.checkpw(password.encode(), hashed.replace("$2y$", "$2b$", 1).encode())
        self._cache[key] = ok
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return ok
