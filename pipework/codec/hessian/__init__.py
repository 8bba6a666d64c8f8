"""A sans-IO Hessian 2.0 codec (the Hessian 2.0 Serialization Protocol): octets in, values out.

Theory of operation: Hessian is the binary object serialization of Dubbo's default wire format
(serialization id 2). ``decode(data)`` reads the one value ``data`` holds; ``encode(value)``
writes one. A protocol that puts several values in one body, sharing class definitions, type
strings and object references across them, uses a ``Decoder`` (``read()`` value after value,
``pos`` tells where it stands) and an ``Encoder`` (``write()`` then ``getvalue()``). Values are
plain Python ones, with ``Long``, ``TypedList``, ``TypedMap`` and ``HessianObject`` keeping what
Python cannot say by itself, so that decoding then encoding gives back the same octets for
anything a Java peer (Caucho's ``Hessian2Output``, Dubbo's ``hessian-lite``) writes.

Everything the codec refuses raises a ``HessianError``: ``RemoteProtocolError`` for octets
(``TruncatedError`` when they merely stop short), ``LocalProtocolError`` for values. Decoding is
hardened against hostile input: nesting, references, class definitions and type strings are
capped (:mod:`.wire` names each limit and why), counts are checked against the octets left, and
strings must be valid UTF-8 (CESU-8 surrogate pairs, which Java writes, included).

Why write it rather than use a library: the Python Hessian packages are RPC clients whose parsers
read one octet at a time from a file object, and those on PyPI either speak only Hessian 1 when
encoding (python-hessian), are Python 2 only (pyhessian2), or mis-handle chunked strings, lists or
characters above U+FFFF (dubbo-python, hessian-codec). They serve as the independent peers the
tests check this codec against (DESIGN.md 6).
"""

from .decoder import Decoder, decode
from .encoder import Encoder, encode
from .errors import HessianError, LocalProtocolError, RemoteProtocolError, TruncatedError
from .values import HessianObject, Long, TypedList, TypedMap
from .wire import (
    DEFAULT_MAX_CLASSES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_REFS,
    DEFAULT_MAX_TYPES,
    MAX_FIELDS,
)

__all__ = [
    "DEFAULT_MAX_CLASSES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_REFS",
    "DEFAULT_MAX_TYPES",
    "MAX_FIELDS",
    "Decoder",
    "Encoder",
    "HessianError",
    "HessianObject",
    "LocalProtocolError",
    "Long",
    "RemoteProtocolError",
    "TruncatedError",
    "TypedList",
    "TypedMap",
    "decode",
    "encode",
]
