"""Dubbo messages: a request (an invocation), a response (its result), an event (a heartbeat).

Theory of operation: these are plain slotted dataclasses, what ``decode`` returns and ``encode``
takes. Their fields follow the body layouts of Dubbo's ``DubboCodec`` (Hessian 2 values, one after
another in one Hessian stream):

    request body:  dubbo version, service path, service version, method name,
                   parameter types descriptor ("Ljava/lang/String;I"), one value per parameter,
                   attachments (a map)
    response body: if status is OK: a result-type int (ResponseType), then the value (VALUE...),
                   the exception (WITH_EXCEPTION...) or nothing (NULL_VALUE...), then the
                   attachments map for the *_WITH_ATTACHMENTS types;
                   if status is not OK: the error message (a string)
    event body:    one value: null for a heartbeat, "R" for the read-only event

The parameter types descriptor uses JVM field descriptors (JVMS 4.3.2); it says how many argument
values follow, so it is parsed here, strictly, with the grammar Dubbo's ``ReflectUtils`` uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from .errors import Status
from .header import HESSIAN2


class ResponseType(IntEnum):
    """The first value of an OK response's body (``DubboCodec.RESPONSE_*``)."""

    WITH_EXCEPTION = 0
    VALUE = 1
    NULL_VALUE = 2
    WITH_EXCEPTION_WITH_ATTACHMENTS = 3
    VALUE_WITH_ATTACHMENTS = 4
    NULL_VALUE_WITH_ATTACHMENTS = 5


#: Dubbo's protocol version string that requests carry ("2.0.2" since Dubbo 2.7; it turns on
#: response attachments).
DUBBO_VERSION: Final = "2.0.2"
#: The read-only event's data: a provider shutting down tells its consumers to stop sending.
READONLY_EVENT: Final = "R"
#: Arguments in one request. A Java method takes at most 255 parameter slots (JVMS 4.3.3: "A method
#: descriptor is valid only if it represents method parameters with a total length of 255 or less").
MAX_ARGUMENTS: Final = 255
#: Dimensions of an array type (JVMS 4.3.2: "255 or fewer dimensions").
MAX_ARRAY_DIMENSIONS: Final = 255

# ReflectUtils.DESC_REGEX: a primitive (V included, as Dubbo accepts it), a class "La/b/C;", or an
# array of either.
_IDENT = r"[_$a-zA-Z][_$a-zA-Z0-9]*"
_DESC: Final = re.compile(rf"\[*(?:[VZBCDFIJS]|L{_IDENT}(?:/{_IDENT})*;)")


def parse_parameter_types(desc: str) -> list[str]:
    """Split a parameter types descriptor into one descriptor per parameter.

    ``"Ljava/lang/String;I[[J"`` → ``["Ljava/lang/String;", "I", "[[J"]``. Raises ValueError for
    anything that is not a sequence of field descriptors (Dubbo's own parser skips junk between
    them; this one refuses it), more than MAX_ARGUMENTS of them, or too many array dimensions.
    """
    types: list[str] = []
    pos, end = 0, len(desc)
    match = _DESC.match
    while pos < end:
        m = match(desc, pos)
        if m is None:
            raise ValueError(f"parameter types {desc!r}: no field descriptor at offset {pos} (JVMS 4.3.2)")
        token = m.group()
        if len(token) - len(token.lstrip("[")) > MAX_ARRAY_DIMENSIONS:
            raise ValueError(f"parameter type with more than {MAX_ARRAY_DIMENSIONS} array dimensions")
        types.append(token)
        if len(types) > MAX_ARGUMENTS:
            raise ValueError(f"more than {MAX_ARGUMENTS} parameter types (JVMS 4.3.3)")
        pos = m.end()
    return types


@dataclass(slots=True)
class Request:
    """An invocation of ``method`` on service ``path``; ``two_way`` False when no reply is wanted.

    ``parameter_types`` must describe ``arguments`` one for one. A decoded request whose
    attachments were null has ``{}``.
    """

    request_id: int
    path: str
    method: str
    parameter_types: str = ""
    arguments: list[Any] = field(default_factory=list)
    attachments: dict[Any, Any] = field(default_factory=dict)
    version: str | None = "0.0.0"
    dubbo_version: str | None = DUBBO_VERSION
    two_way: bool = True
    serialization: int = HESSIAN2


@dataclass(slots=True)
class Response:
    """The answer to request ``request_id``.

    With ``status`` OK: ``value`` (None for a void method or a null result) or ``exception`` (the
    Java Throwable, a HessianObject); ``attachments`` None for the types without attachments.
    With any other status: ``error_message`` only.
    """

    request_id: int
    status: int = Status.OK
    value: Any = None
    exception: Any = None
    attachments: dict[Any, Any] | None = None
    error_message: str | None = None
    serialization: int = HESSIAN2

    @property
    def result_type(self) -> ResponseType | None:
        """The ResponseType the body starts with; None when ``status`` is not OK."""
        if self.status != Status.OK:
            return None
        attach = 3 if self.attachments is not None else 0
        if self.exception is not None:
            return ResponseType(ResponseType.WITH_EXCEPTION + attach)
        if self.value is None:
            return ResponseType(ResponseType.NULL_VALUE + attach)
        return ResponseType(ResponseType.VALUE + attach)


@dataclass(slots=True)
class Event:
    """An event frame: a heartbeat (``data`` None) or another event such as READONLY_EVENT.

    ``request`` tells a heartbeat from its answer; ``two_way`` (requests) asks for that answer;
    ``status`` (responses) is OK, or an error whose message is then ``data``.
    """

    request_id: int
    request: bool = True
    data: Any = None
    two_way: bool = True
    status: int = Status.OK
    serialization: int = HESSIAN2

    @property
    def is_heartbeat(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True)
class Invocation:
    """What ``peek_invocation`` reads from the front of a request body, arguments untouched."""

    request_id: int
    service: str
    method: str
    version: str | None
    parameter_types: str
    dubbo_version: str | None


Message = Request | Response | Event
