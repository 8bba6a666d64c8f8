"""Routing facts from a request's first octets: service, version, method; arguments left alone.

Theory of operation: a Dubbo proxy routes a request on its service path, service version and
method name, then forwards the frame's octets untouched. Those are the second to fourth strings of
the body, right after the header, before the parameter types and the arguments (which may be
megabytes of Hessian objects). ``peek_invocation`` reads the header and those five short strings
with a Hessian decoder bounded by what has arrived, so it works on a partial frame: it answers
None while the strings are not all in, and never reads or decodes an argument. It checks only
what it reads; a full ``decode`` may still refuse the frame.
"""

from __future__ import annotations

from ..hessian import Decoder, HessianError, TruncatedError
from .codec import check_payload, remote_error
from .errors import LocalProtocolError
from .header import DEFAULT_MAX_PAYLOAD, HEADER_SIZE, HESSIAN2, peek_header
from .messages import Invocation


def peek_invocation(buf: bytes | bytearray | memoryview, max_payload: int = DEFAULT_MAX_PAYLOAD
                    ) -> Invocation | None:
    """The invocation at the front of ``buf``, or None until enough of its body is in.

    Raises RemoteProtocolError for a bad header, a body over ``max_payload``, a serialization
    other than Hessian 2 or malformed leading strings (with the BAD_REQUEST ``reply`` for a two-way
    request), and LocalProtocolError if the frame is an event or a response: check ``peek_header``
    first.
    """
    header = peek_header(buf)
    if header is None:
        return None
    if not header.request or header.event:
        raise LocalProtocolError("peek_invocation on an event or a response: check peek_header first")
    check_payload(header, max_payload)
    if header.serialization != HESSIAN2:
        raise remote_error(header, f"serialization id {header.serialization} is not supported")
    end = min(len(buf), header.frame_size)
    data = bytes(buf[:end]) if isinstance(buf, memoryview) else buf
    d = Decoder(data, HEADER_SIZE, end)
    try:
        dubbo_version, path, version = d.read_string(), d.read_string(), d.read_string()
        method, desc = d.read_string(), d.read_string()
    except TruncatedError as exc:
        if end < header.frame_size:
            return None
        raise remote_error(header, f"invalid Hessian 2 body: {exc}") from exc
    except HessianError as exc:
        raise remote_error(header, f"invalid Hessian 2 body: {exc}") from exc
    if path is None or method is None:
        raise remote_error(header, "request without a service path or method name")
    return Invocation(header.request_id, path, method, version, desc or "", dubbo_version)
