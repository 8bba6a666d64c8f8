"""The Hessian codec's one error family.

Theory of operation: everything the codec refuses raises a ``HessianError``; the subclass says
whose fault it is, so a caller never inspects messages:

- ``RemoteProtocolError``: the bytes are not Hessian 2.0, or break a limit the decoder keeps
  (depth, references, lengths past the data, invalid UTF-8, a reference to nothing). Its subclass
  ``TruncatedError`` means only that the bytes end inside a value: with more bytes the same
  prefix might decode, which lets a caller that peeks at a partial message ask for more.
- ``LocalProtocolError``: the caller asked to encode something Hessian cannot carry (an int past
  64 bits, a naive datetime, a string with a lone surrogate, a type the codec does not know).

Hessian itself has no error codes on the wire; a protocol that carries Hessian (Dubbo) maps these
errors to its own status codes. Neither direction lets ``IndexError``, ``struct.error``,
``UnicodeError``, ``RecursionError`` or ``TypeError`` escape: the property tests fuzz that contract.
"""

from __future__ import annotations


class HessianError(Exception):
    """Base class of the codec's errors; never raised itself."""

    def __init__(self, msg: str) -> None:
        if type(self) is HessianError:
            raise TypeError("HessianError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)


class LocalProtocolError(HessianError):
    """We (the caller of the codec) asked to encode a value Hessian 2.0 cannot represent."""


class RemoteProtocolError(HessianError):
    """The peer's bytes are not valid Hessian 2.0, or break one of the decoder's limits."""


class TruncatedError(RemoteProtocolError):
    """The bytes end inside a value; more bytes might complete it."""
