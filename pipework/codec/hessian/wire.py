"""Hessian 2.0's bytecodes, the structs that read their operands, and the decoder's limits.

Theory of operation: a Hessian reader "is essentially a switch statement on the initial octet"
(Hessian 2.0 Serialization Protocol, section 6, Bytecode map). This module names the octets and
ranges of that map and the fixed-size operands that follow them; the decoder builds its dispatch
table from it and the encoder writes the same names.

Where the specification and the reference implementation (Caucho's ``Hessian2Input``/
``Hessian2Output``, which Dubbo's ``hessian-lite`` copies and every Dubbo peer speaks) disagree,
the codec follows the implementation and says so:

* ``x5f`` is "double represented as float" in the spec's text, but the implementation writes and
  reads a 32-bit int of thousandths (``BC_DOUBLE_MILL``: value = 0.001 * b3b2b1b0), and so does
  every Dubbo peer; we follow the wire (a copy of the spec's grammar even reads "32-bit mills").
* section 4.7.4 names ``x4c`` for a long in 32 bits; the grammar and bytecode map say ``x59``
  ('Y'), as does the implementation (``x4c`` is 'L', the 8-octet long).
* the spec's minute-date example (``x4b x4b x92 x0b xa0``) is not 09:51 May 8 1998 in minutes;
  the tests use a computed vector.
"""

from __future__ import annotations

import struct
from typing import Final

# --- Bytecodes (section 6) --------------------------------------------------------------------
STRING_DIRECT_MAX: Final = 0x1F  # x00-x1f: string of 0-31 UTF-16 units, length in the octet
BINARY_DIRECT: Final = 0x20  # x20-x2f: binary of 0-15 octets
BINARY_DIRECT_MAX: Final = 15
STRING_SHORT: Final = 0x30  # x30-x33 b0: string of 0-1023 units
STRING_SHORT_MAX: Final = 0x3FF
BINARY_SHORT: Final = 0x34  # x34-x37 b0: binary of 0-1023 octets
BINARY_SHORT_MAX: Final = 0x3FF
LONG_BYTE3_ZERO: Final = 0x3C  # x38-x3f b1 b0: long -x40000..x3ffff
BINARY_CHUNK: Final = 0x41  # 'A' b1 b0 <data>: non-final binary chunk
BINARY_FINAL: Final = 0x42  # 'B' b1 b0 <data>: final binary chunk
CLASS_DEF: Final = 0x43  # 'C' string int string*
DOUBLE: Final = 0x44  # 'D' b7..b0: IEEE 754 double
FALSE: Final = 0x46  # 'F'
UNTYPED_MAP: Final = 0x48  # 'H' (value value)* 'Z'
INT: Final = 0x49  # 'I' b3..b0
DATE_MILLIS: Final = 0x4A  # b7..b0: milliseconds since the epoch, UTC
DATE_MINUTES: Final = 0x4B  # b3..b0: minutes since the epoch, UTC
LONG: Final = 0x4C  # 'L' b7..b0
TYPED_MAP: Final = 0x4D  # 'M' type (value value)* 'Z'
NULL: Final = 0x4E  # 'N'
OBJECT: Final = 0x4F  # 'O' int value*
REF: Final = 0x51  # 'Q' int: the nth list, map or object of the stream
STRING_CHUNK: Final = 0x52  # 'R' b1 b0 <utf8>: non-final string chunk
STRING_FINAL: Final = 0x53  # 'S' b1 b0 <utf8>: final string chunk
TRUE: Final = 0x54  # 'T'
LIST_VARIABLE: Final = 0x55  # type value* 'Z'
LIST_FIXED: Final = 0x56  # 'V' type int value*
LIST_VARIABLE_UNTYPED: Final = 0x57  # value* 'Z'
LIST_FIXED_UNTYPED: Final = 0x58  # int value*
LONG_INT: Final = 0x59  # 'Y' b3..b0: long in 32 bits
END: Final = 0x5A  # 'Z': list/map terminator
DOUBLE_ZERO: Final = 0x5B
DOUBLE_ONE: Final = 0x5C
DOUBLE_BYTE: Final = 0x5D  # b0: signed byte cast to double
DOUBLE_SHORT: Final = 0x5E  # b1 b0: signed short cast to double
DOUBLE_MILL: Final = 0x5F  # b3..b0: signed int of thousandths (see above)
OBJECT_DIRECT: Final = 0x60  # x60-x6f value*: instance of class definition 0-15
OBJECT_DIRECT_MAX: Final = 15
LIST_DIRECT: Final = 0x70  # x70-x77 type value*: typed list of 0-7 items
LIST_DIRECT_UNTYPED: Final = 0x78  # x78-x7f value*: untyped list of 0-7 items
LIST_DIRECT_MAX: Final = 7
INT_ZERO: Final = 0x90  # x80-xbf: int -x10..x2f
INT_DIRECT_MIN: Final = -0x10
INT_DIRECT_MAX: Final = 0x2F
INT_BYTE_ZERO: Final = 0xC8  # xc0-xcf b0: int -x800..x7ff
INT_BYTE_MIN: Final = -0x800
INT_BYTE_MAX: Final = 0x7FF
INT_SHORT_ZERO: Final = 0xD4  # xd0-xd7 b1 b0: int -x40000..x3ffff
INT_SHORT_MIN: Final = -0x40000
INT_SHORT_MAX: Final = 0x3FFFF
LONG_ZERO: Final = 0xE0  # xd8-xef: long -x8..xf
LONG_DIRECT_MIN: Final = -0x08
LONG_DIRECT_MAX: Final = 0x0F
LONG_BYTE_ZERO: Final = 0xF8  # xf0-xff b0: long -x800..x7ff

INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
CHUNK_MAX: Final = 0xFFFF  # a chunk's length is 16 bits (sections 4.1 and 4.12)

I32: Final = struct.Struct(">i")
I64: Final = struct.Struct(">q")
U16: Final = struct.Struct(">H")
F64: Final = struct.Struct(">d")
I16: Final = struct.Struct(">h")
I8: Final = struct.Struct(">b")

# --- Limits -------------------------------------------------------------------------------------
#: Nesting of lists, maps and objects. The decoder and encoder recurse once per level and Python's
#: stack allows ~1000 frames, part of which the caller (event loop, pipeline) already uses. Real
#: payloads nest a few dozen deep at most: a DTO graph, or an exception whose causes each hold a
#: list of stack-trace objects (three levels per cause).
DEFAULT_MAX_DEPTH: Final = 128
#: Lists, maps and objects stored for 'Q' references in one stream. Each costs a Python object
#: (~56-200 bytes) for as little as one octet of input; this caps that amplification at ~1M
#: containers while a real multi-megabyte response holds a few hundred thousand at most.
DEFAULT_MAX_REFS: Final = 1 << 20
#: Class definitions ('C') in one stream: a body defines each Java class it carries once, so even a
#: large object graph needs dozens; 4096 bounds the table a hostile stream can make us keep.
DEFAULT_MAX_CLASSES: Final = 4096
#: Type strings remembered for type references (section 5.3), bounded for the same reason.
DEFAULT_MAX_TYPES: Final = 4096
#: Fields in one class definition: a Java class cannot have more (JVMS 4.1: fields_count is a u2).
MAX_FIELDS: Final = 0xFFFF
