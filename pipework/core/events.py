"""The four events that flow through pipelines.

Theory of operation: everything a pipeline carries is one of four events, as in Pipy. A raw
TCP stream is ``Data* StreamEnd``; a message (an HTTP request, an MQTT packet, a DNS query) is
``MessageStart Data* MessageEnd``, and a stream may carry many messages before its
``StreamEnd``. Events are small slotted objects, made once and passed by reference; filters must
treat them as immutable (make a new event rather than change one another filter may hold).
"""

from __future__ import annotations

from typing import Any


class Event:
    """Base class of all events; use ``type(evt) is Data`` style checks on hot paths."""

    __slots__ = ()


class Data(Event):
    """A chunk of bytes. ``data`` is ``bytes`` (never a mutable buffer)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        n = len(self.data)
        head = self.data[:32]
        return f"Data({head!r}{'...' if n > 32 else ''}, {n} bytes)"

    def __eq__(self, other: object) -> bool:
        return type(other) is Data and other.data == self.data

    __hash__ = None  # type: ignore[assignment]


class MessageStart(Event):
    """The start of a message; ``head`` is protocol-specific (an HTTP request head, a dict...)."""

    __slots__ = ("head",)

    def __init__(self, head: Any = None) -> None:
        self.head = head

    def __repr__(self) -> str:
        return f"MessageStart({self.head!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is MessageStart and other.head == self.head

    __hash__ = None  # type: ignore[assignment]


class MessageEnd(Event):
    """The end of a message; ``tail`` carries trailers or similar, ``payload`` extra data."""

    __slots__ = ("payload", "tail")

    def __init__(self, tail: Any = None, payload: Any = None) -> None:
        self.tail = tail
        self.payload = payload

    def __repr__(self) -> str:
        return f"MessageEnd({self.tail!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is MessageEnd and other.tail == self.tail and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


class StreamEnd(Event):
    """The end of a stream. ``error`` is None for a clean end, else a short reason string.

    Error names follow Pipy's (``"ConnectionRefused"``, ``"ConnectionTimeout"``, ``"ReadTimeout"``,
    ``"IdleTimeout"``, ``"ConnectionReset"``, ...) so scripts can branch on them.
    """

    __slots__ = ("error",)

    def __init__(self, error: str | None = None) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"StreamEnd({self.error!r})" if self.error else "StreamEnd()"

    def __eq__(self, other: object) -> bool:
        return type(other) is StreamEnd and other.error == self.error

    __hash__ = None  # type: ignore[assignment]


class Message:
    """A whole message gathered from ``MessageStart Data* MessageEnd``."""

    __slots__ = ("body", "head", "tail")

    def __init__(self, head: Any = None, body: bytes = b"", tail: Any = None) -> None:
        self.head = head
        self.body = body
        self.tail = tail

    def events(self) -> list[Event]:
        out: list[Event] = [MessageStart(self.head)]
        if self.body:
            out.append(Data(self.body))
        out.append(MessageEnd(self.tail))
        return out

    def __repr__(self) -> str:
        return f"Message({self.head!r}, {len(self.body)} bytes)"


def to_events(value: Any) -> list[Event]:
    """Turn what a user callback returned into events.

    ``None`` gives no events; ``bytes``/``bytearray``/``str`` give one ``Data``; an ``Event`` is
    itself; a ``Message`` gives its three events; a list or tuple is flattened. Anything else
    raises ``TypeError`` naming the type.
    """
    if value is None:
        return []
    t = type(value)
    if t is bytes:
        return [Data(value)]
    if isinstance(value, Event):
        return [value]
    if t is str:
        return [Data(value.encode())]
    if t is bytearray or t is memoryview:
        return [Data(bytes(value))]
    if t is Message:
        return value.events()  # type: ignore[no-any-return]
    if t is list or t is tuple:
        out: list[Event] = []
        for v in value:
            out.extend(to_events(v))
        return out
    raise TypeError(f"a callback returned {t.__name__}; expected bytes, str, an Event, a Message or a list")
