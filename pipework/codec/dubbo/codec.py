"""Dubbo frames to messages and back: ``decode(buf)`` and ``encode(message)``.

Theory of operation: ``decode`` reads the header at the front of ``buf``, refuses a body over the
payload limit as soon as the header is in, waits (returns None) until the whole frame is there,
then decodes the body with one Hessian ``Decoder`` (the values of a body share one Hessian stream:
class definitions, type strings and references). ``encode`` writes the body with one Hessian
``Encoder``, checks it against the payload limit as Dubbo's encoder does, and puts the header in
front. Only Hessian 2 bodies (serialization id 2) are decoded or encoded; any other id is refused.

A body that cannot be decoded raises ``RemoteProtocolError`` chained to the Hessian error; for a
two-way request it carries ``reply``, the BAD_REQUEST response a Dubbo server would send
("Fail to decode request due to: ..."), so a proxy can answer it and go on with the next frame.
A body must hold exactly its values: Dubbo's Java decoder skips trailing octets, this one refuses
them, so that what it accepts re-encodes to the same bytes.
"""

from __future__ import annotations

from typing import Any, Final

from ..hessian import Decoder, Encoder, HessianError
from ..hessian import LocalProtocolError as HessianLocalError
from .errors import LocalProtocolError, RemoteProtocolError, Status
from .header import DEFAULT_MAX_PAYLOAD, HEADER_SIZE, HESSIAN2, Header, check_magic
from .messages import Event, Message, Request, Response, ResponseType, parse_parameter_types

#: Longest error message put in a BAD_REQUEST reply: it names the fault, it need not carry the data.
_MAX_REPLY_MESSAGE: Final = 512
#: Event bodies larger than this are refused, as Dubbo does "for security consideration"
#: (``deserialization.event.size``, default 50): a heartbeat's body is one octet, 'N'.
MAX_EVENT_BODY: Final = 50


def decode(buf: bytes | bytearray | memoryview, max_payload: int = DEFAULT_MAX_PAYLOAD
           ) -> tuple[Message, int] | None:
    """The message at the front of ``buf`` and the octets it took, or None until the frame is whole.

    Raises RemoteProtocolError for a bad magic number (from the first octet on), a body longer
    than ``max_payload``, or a body that is not valid for its header.
    """
    check_magic(buf)
    if len(buf) < HEADER_SIZE:
        return None
    header = Header.unpack_from(buf)
    check_payload(header, max_payload)
    end = header.frame_size
    if len(buf) < end:
        return None
    return decode_body(header, buf, HEADER_SIZE), end


def check_payload(header: Header, max_payload: int) -> None:
    """Raise RemoteProtocolError (with a BAD_REQUEST reply for a two-way request) if the body is
    over ``max_payload``: Dubbo's ``checkPayload``, "Data length too large"."""
    if header.body_length > max_payload:
        raise remote_error(header, f"Data length too large: {header.body_length}, max payload: {max_payload}")


def remote_error(header: Header, message: str) -> RemoteProtocolError:
    """A RemoteProtocolError about the frame of ``header``, with the reply a Dubbo peer would send."""
    if not header.request:
        return RemoteProtocolError(message, Status.BAD_RESPONSE)
    reply = None
    if header.two_way and not header.event:
        why = f"Fail to decode request due to: {message}"[:_MAX_REPLY_MESSAGE]
        reply = encode(Response(header.request_id, Status.BAD_REQUEST, error_message=why))
    return RemoteProtocolError(message, Status.BAD_REQUEST, reply)


def decode_body(header: Header, buf: bytes | bytearray | memoryview, offset: int = HEADER_SIZE) -> Message:
    """Decode the body of the frame ``header`` describes, at ``buf[offset:offset + body_length]``.

    Raises RemoteProtocolError (see ``remote_error``) when the body is short, not Hessian 2, or not
    what the header says it is.
    """
    if header.serialization != HESSIAN2:
        raise remote_error(header, f"serialization id {header.serialization} is not supported")
    end = offset + header.body_length
    ok = header.request or header.status == Status.OK  # a request's status octet means nothing
    if header.event and ok and header.body_length > MAX_EVENT_BODY:
        raise remote_error(header, f"event data of {header.body_length} octets is over {MAX_EVENT_BODY}")
    if len(buf) < end:
        raise remote_error(header, f"body of {header.body_length} octets but {len(buf) - offset} given")
    if isinstance(buf, memoryview):
        buf, offset, end = bytes(buf[offset:end]), 0, header.body_length
    d = Decoder(buf, offset, end)
    try:
        message = _read_body(header, d)
        if not d.at_end():
            raise RemoteProtocolError(f"{d.end - d.pos} octets after the body's last value")
    except HessianError as exc:
        raise remote_error(header, f"invalid Hessian 2 body: {exc}") from exc
    except (RemoteProtocolError, ValueError) as exc:
        raise remote_error(header, str(exc)) from exc
    return message


def _read_body(header: Header, d: Decoder) -> Message:
    if header.event:
        if header.request or header.status == Status.OK:
            return Event(header.request_id, header.request, d.read(), header.two_way)
        return Event(header.request_id, False, d.read_string(), False, header.status)
    if header.request:
        dubbo_version, path, version = d.read_string(), d.read_string(), d.read_string()
        method, desc = d.read_string(), d.read_string() or ""
        if path is None or method is None:
            raise RemoteProtocolError("request without a service path or method name")
        arguments = [d.read() for _ in parse_parameter_types(desc)]
        attachments = d.read()
        if attachments is None:
            attachments = {}
        elif not isinstance(attachments, dict):
            raise RemoteProtocolError(f"attachments are a {type(attachments).__name__}, not a map")
        return Request(header.request_id, path, method, desc, arguments, attachments, version,
                       dubbo_version, header.two_way)
    if header.status != Status.OK:
        return Response(header.request_id, header.status, error_message=d.read_string())
    kind = d.read_int()
    if not 0 <= kind <= ResponseType.NULL_VALUE_WITH_ATTACHMENTS:
        raise RemoteProtocolError(f"Unknown result flag, expect '0' '1' '2' '3' '4' '5', but received: "
                                  f"{kind}")
    value = exception = attachments = None
    if kind in (ResponseType.VALUE, ResponseType.VALUE_WITH_ATTACHMENTS):
        value = d.read()
    elif kind in (ResponseType.WITH_EXCEPTION, ResponseType.WITH_EXCEPTION_WITH_ATTACHMENTS):
        exception = d.read()
    if kind >= ResponseType.WITH_EXCEPTION_WITH_ATTACHMENTS:
        attachments = d.read()
        if attachments is None:
            attachments = {}
        elif not isinstance(attachments, dict):
            raise RemoteProtocolError(f"attachments are a {type(attachments).__name__}, not a map")
    return Response(header.request_id, header.status, value, exception, attachments)


def encode(message: Message, max_payload: int = DEFAULT_MAX_PAYLOAD) -> bytes:
    """The frame of ``message``. Raises LocalProtocolError for a body over ``max_payload``
    ("Data length too large"), a serialization other than Hessian 2, arguments that do not match
    ``parameter_types``, an id or status out of range, or a value Hessian cannot carry."""
    if message.serialization != HESSIAN2:
        raise LocalProtocolError(f"serialization id {message.serialization} is not supported (Hessian 2: 2)")
    enc = Encoder()
    try:
        header = _write_body(message, enc)
    except HessianLocalError as exc:
        raise LocalProtocolError(f"cannot encode the body: {exc}", _status_of(message)) from exc
    body = enc.getvalue()
    if len(body) > max_payload:
        raise LocalProtocolError(f"Data length too large: {len(body)}, max payload: {max_payload}",
                                 _status_of(message))
    rid, status = message.request_id, header.status
    if not (isinstance(rid, int) and isinstance(status, int) and -(1 << 63) <= rid < 1 << 63
            and 0 <= status <= 0xFF):
        raise LocalProtocolError(f"request id {rid!r} or status {status!r} out of range", _status_of(message))
    return Header(message.request_id, len(body), header.request, header.two_way, header.event,
                  HESSIAN2, header.status).pack() + body


def _status_of(message: Message) -> int:
    request = isinstance(message, Request) or (isinstance(message, Event) and message.request)
    return Status.BAD_REQUEST if request else Status.BAD_RESPONSE


def _write_body(message: Message, enc: Encoder) -> Header:
    """Write the body; return a header template (its length is filled in by the caller)."""
    rid = message.request_id
    if isinstance(message, Request):
        try:
            types = parse_parameter_types(message.parameter_types)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        if len(types) != len(message.arguments):
            raise LocalProtocolError(f"{len(message.arguments)} arguments for {len(types)} parameter types "
                                     f"{message.parameter_types!r}")
        for text in (message.dubbo_version, message.path, message.version, message.method,
                     message.parameter_types):
            enc.write_string(text)
        for argument in message.arguments:
            enc.write(argument)
        enc.write(message.attachments)
        return Header(rid, 0, True, message.two_way)
    if isinstance(message, Event):
        status = Status.OK if message.request else message.status
        enc.write(message.data)
        return Header(rid, 0, message.request, message.two_way, True, status=status)
    if message.status != Status.OK:
        enc.write_string(message.error_message)
        return Header(rid, 0, False, status=message.status)
    kind = message.result_type
    assert kind is not None  # status is OK
    enc.write_int(kind)
    payload: Any = message.exception if message.exception is not None else message.value
    if payload is not None:
        enc.write(payload)
    if message.attachments is not None:
        enc.write(message.attachments)
    return Header(rid, 0, False, status=Status.OK)

