"""A small Redis client for shared state (rate-limit quotas): one pipelined connection, callbacks.

Theory of operation: a :class:`RedisClient` keeps one TCP connection (an
:class:`~pipework.net.outbound.Outbound`) to one server and speaks RESP2 through the project's
sans-IO codec (:mod:`pipework.codec.resp`). :meth:`RedisClient.call` writes a command at once —
commands are pipelined, never waiting for the previous answer — and queues its callback; Redis
answers in order, so each reply goes to the oldest callback. No Future and no Task per command:
a data-path caller (a rate-limit gate) gives a callback and holds its request until it is called.

Bounded everywhere: at most ``max_pending`` commands wait for an answer (past that ``call``
refuses at once and the caller decides without Redis); each must be answered within ``timeout``
seconds (one timer watches the oldest), else the connection is dropped and every waiting
callback gets a :class:`RedisError`; connecting is bounded by ``connect_timeout``.

States: the client is *up* once the server answered the commands sent first on a new connection
(AUTH and SELECT from the URL, the caller's ``setup`` such as SCRIPT LOAD, then PING). While it
is not up, ``call`` refuses at once (the caller falls back at once instead of waiting), and a
new connection is tried every ``retry`` seconds. ``on_up()`` and ``on_down(reason)`` tell the
owner each change (the owner logs; this module logs nothing but a callback's own failure).

Why not redis.asyncio: it makes a Future per command and a Task per connection reader, and it
is a dependency the data path would carry for three commands (EVALSHA, EVAL, SCRIPT LOAD);
the codec is here already. redis-py stays what the tests talk to the server with.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from ..codec.resp import NEED_DATA, RESP2, Decoder, RESPError, SimpleError, Value, encode_command
from ..codec.resp.decoder import Sentinel
from .loop import running_loop
from .outbound import Outbound

log = logging.getLogger("pipework")

#: commands waiting for an answer, at most: a stalled server must not grow a queue without end
DEFAULT_MAX_PENDING = 4096
#: the default wait for one answer; a limit check should not hold a request longer
DEFAULT_TIMEOUT = 0.5
#: seconds between two connection attempts while the server is unreachable
DEFAULT_RETRY = 1.0


class RedisError(Exception):
    """No answer: the server could not be reached, did not answer in time, or broke the protocol."""


Callback = Callable[[Value | RedisError], None]
Arg = bytes | str | int | float


def parse_url(url: str) -> tuple[str, int, str | None, str | None, int]:
    """``redis://[user:password@]host[:port][/db]`` as (host, port, user, password, db);
    ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"{url!r} is not a redis:// URL (rediss:// and unix sockets are not supported)")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError(f"{url!r} has a bad port") from None
    db_text = parts.path.strip("/") or "0"
    if not db_text.isdigit():
        raise ValueError(f"{url!r}: the database is a number, not {db_text!r}")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, password, int(db_text)


class RedisClient:
    """One pipelined connection to the server at ``url``; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 1.0,
        timeout: float = DEFAULT_TIMEOUT,
        max_pending: int = DEFAULT_MAX_PENDING,
        retry: float = DEFAULT_RETRY,
        setup: Iterable[tuple[Arg, ...]] = (),
        on_up: Callable[[], None] | None = None,
        on_down: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.host, self.port, user, password, db = parse_url(url)
        if timeout <= 0 or connect_timeout <= 0 or retry <= 0:
            raise ValueError("timeout, connect_timeout and retry must be > 0")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, not {max_pending!r}")
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_pending = max_pending
        self.retry = retry
        first: list[tuple[Arg, ...]] = []
        if password is not None:
            first.append(("AUTH", user, password) if user else ("AUTH", password))
        if db:
            first.append(("SELECT", db))
        self.setup = [*first, *setup, ("PING",)]
        self.on_up = on_up
        self.on_down = on_down
        self.up = False
        self.conn: Outbound | None = None
        self.decoder = Decoder(RESP2)
        self.pending: deque[tuple[float, Callback]] = deque()
        self._timer: Any = None
        self._retry_timer: Any = None
        self._users = 0

    # -- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin connecting (counted: each start needs its stop)."""
        self._users += 1
        if self._users == 1:
            self._connect()

    def stop(self) -> None:
        """Drop the connection when the last user stops; waiting callbacks get RedisError."""
        self._users -= 1
        if self._users > 0:
            return
        self._users = 0
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.handler = None
            conn.close()
        self.up = False
        self._fail_pending("the client was stopped")

    def _connect(self) -> None:
        self._retry_timer = None
        if self._users <= 0:
            return
        self.decoder = Decoder(RESP2)
        self.conn = Outbound(self, self.host, self.port, connect_timeout=self.connect_timeout)
        loop = running_loop()
        deadline = loop.time() + self.connect_timeout + self.timeout
        last = len(self.setup) - 1
        for i, args in enumerate(self.setup):
            self._send(args, self._ready if i == last else self._setup_answer, deadline)

    def _setup_answer(self, reply: Value | RedisError) -> None:
        if isinstance(reply, SimpleError):
            self._drop(f"the server refused a setup command: {reply.value.decode('latin-1')}")

    def _ready(self, reply: Value | RedisError) -> None:
        if isinstance(reply, RedisError | SimpleError) or self.conn is None:
            return  # _drop has said why
        self.up = True
        if self.on_up is not None:
            self.on_up()

    # -- commands -----------------------------------------------------------------------------------
    def call(self, callback: Callback, *args: Arg) -> bool:
        """Send the command ``args``; ``callback`` gets the reply (a RESP value: an error reply
        is a :class:`~pipework.codec.resp.SimpleError`) or a :class:`RedisError`. False when the
        command cannot be sent now (not up, or ``max_pending`` waiting): the callback is then
        never called and the caller decides without Redis."""
        if not self.up or len(self.pending) >= self.max_pending:
            return False
        self._send(args, callback, running_loop().time() + self.timeout)
        return True

    def _send(self, args: tuple[Arg, ...], callback: Callback, deadline: float) -> None:
        conn = self.conn
        assert conn is not None
        conn.write(encode_command(*args))
        self.pending.append((deadline, callback))
        timer = self._timer
        if timer is None or timer.when() > deadline:  # a setup command's longer wait was armed
            if timer is not None:
                timer.cancel()
            self._timer = running_loop().call_at(deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        pending = self.pending
        if not pending:
            return
        loop = running_loop()
        if pending[0][0] <= loop.time():
            self._drop(f"no answer within {self.timeout:g}s")
        else:
            self._timer = loop.call_at(pending[0][0], self._check)

    # -- the connection's handler ---------------------------------------------------------------------
    def on_connect(self) -> None:
        pass

    def on_data(self, data: bytes) -> None:
        dec = self.decoder
        try:
            dec.receive_data(data)
            while True:
                value = dec.next_event()
                if isinstance(value, Sentinel):
                    if value is not NEED_DATA:
                        self._drop("the server closed the connection")
                    return
                if not self.pending:
                    self._drop("an answer to no command")
                    return
                _, callback = self.pending.popleft()
                self._answer(callback, value)  # type: ignore[arg-type]
        except RESPError as exc:
            self._drop(f"protocol error: {exc}")

    def on_eof(self) -> None:
        self._drop("the server closed the connection")

    def on_close(self, error: str | None) -> None:
        if self.conn is not None:
            self.conn = None
            self._drop(error or "the connection closed")

    def on_write_paused(self, paused: bool) -> None:
        pass  # bounded by max_pending, not by the socket buffer

    # -- failure --------------------------------------------------------------------------------------
    def _drop(self, reason: str) -> None:
        """Close the connection, fail what waits, tell the owner, and try again later."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.handler = None
            conn.abort()
        self.up = False
        self._fail_pending(reason)
        if self.on_down is not None:
            self.on_down(reason)
        if self._users > 0 and self._retry_timer is None:
            self._retry_timer = running_loop().call_later(self.retry, self._connect)

    def _fail_pending(self, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self.pending = self.pending, deque()
        err = RedisError(f"redis {self.host}:{self.port}: {reason}")
        for _, callback in pending:
            self._answer(callback, err)

    @staticmethod
    def _answer(callback: Callback, value: Value | RedisError) -> None:
        try:
            callback(value)
        except Exception as exc:  # a caller's failure must not break the connection
            log.error("redis callback failed: %s", exc, exc_info=exc)
