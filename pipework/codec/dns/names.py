"""Domain names: the ``Name`` value, compression-aware reading and writing, case-insensitive helpers.

Theory of operation: a ``Name`` is a tuple of labels (``bytes``), most specific first, without the
empty root label: ``www.example.com.`` is ``Name((b"www", b"example", b"com"))`` and the root is
``Name()``. Names are always absolute. Tuples keep decoding cheap (one slice per label, no text
conversion) and keep the octets exactly as sent, case included: a proxy must not change the case
of a name (resolvers randomise it as a defence against spoofing), so ``==`` is exact and the
``lower()``, ``equals()`` and ``is_subdomain_of()`` helpers compare as DNS does (RFC 4343: ASCII
letters only are folded, which is what ``bytes.lower`` does).

Reading (``read_name``) follows compression pointers (RFC 1035 4.1.4) under three rules that make
every hostile input terminate quickly: a pointer must point strictly before the place where the
current run of labels started (so targets strictly decrease and no loop is possible), at most
``MAX_POINTER_HOPS`` pointers are followed to read one name, and the expanded name has at most
``MAX_NAME_LENGTH`` octets. A per-message cache (offset → name) makes the common case — an owner
name that points at the question — one dict lookup, and keeps the total work of a message linear
in its length even when every name points at a long chain.

Writing (``Compressor``) keeps a table of the suffixes already written and their offsets, and
replaces the longest known suffix of each new name by a pointer. Keys are the exact labels, so
compression never changes the case of a name on the far side. Names a type forbids compressing
(SRV, SVCB targets; every type the RFC 1035 era did not know, RFC 3597 4) are written in full and
not entered in the table.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Self

from .errors import LocalProtocolError, RemoteProtocolError

#: RFC 1035 2.3.4: "labels 63 octets or less"; the two top bits of the length octet are taken by
#: the label type (00 label, 11 pointer, 4.1.4).
MAX_LABEL_LENGTH = 63
#: RFC 1035 2.3.4: "names 255 octets or less", counted in wire form (length octets and root octet
#: included). Also bounds a name to 127 labels.
MAX_NAME_LENGTH = 255
#: A name has at most 127 labels, and an encoder needs at most one pointer per label; more hops
#: than that only spend our CPU on a crafted chain of pointers to pointers.
MAX_POINTER_HOPS = 127
#: Pointers carry a 14-bit offset (RFC 1035 4.1.4): names written past 16383 cannot be targets.
MAX_POINTER_OFFSET = 0x3FFF

_POINTER = struct.Struct("!H")

# Presentation format: these octets are escaped with a backslash, everything outside printable
# ASCII as \DDD (RFC 1035 5.1); the same set as dnspython, so text forms compare equal.
_SPECIAL = frozenset(b'"().;\\@$')
_TEXT = tuple(
    f"\\{b:03d}" if b <= 0x20 or b >= 0x7F else ("\\" + chr(b) if b in _SPECIAL else chr(b))
    for b in range(256)
)

NameCache = dict[int, tuple["Name", int]]
"""Per-message cache of ``read_name``: offset → (name, its wire length)."""


class Name(tuple[bytes, ...]):
    """An absolute domain name as a tuple of labels, most specific first, root label omitted.

    ``==`` and ``hash`` are exact (case-sensitive), as the octets travel; use ``equals``/``lower``
    for DNS comparisons. ``Name()`` is the root. The constructor does not validate: the encoder
    raises ``LocalProtocolError`` for a label that is empty or longer than 63 octets or a name
    longer than 255, and ``from_text`` validates at once.
    """

    __slots__ = ()

    def __new__(cls, labels: Iterable[bytes] = ()) -> Self:
        # Name("a.b") would make one label per character. mypy rules the case out; scripts are untyped.
        if isinstance(labels, str | bytes):  # type: ignore[unreachable]
            raise TypeError("Name() takes an iterable of bytes labels; use Name.from_text for text")
        return super().__new__(cls, labels)

    @classmethod
    def from_text(cls, text: str) -> Self:
        """Parse presentation format (``www.example.com``, trailing dot optional, ``\\.`` and ``\\DDD``
        escapes). Raises ``LocalProtocolError`` for empty labels, non-ASCII text (convert IDNs to
        A-labels first), or sizes over RFC 1035 limits."""
        if text in (".", ""):
            return cls()
        if not text.isascii():
            raise LocalProtocolError(f"name {text!r} is not ASCII: encode IDNs as A-labels (xn--) first")
        if "\\" not in text:
            labels = text.encode("ascii").split(b".")
            if labels[-1] == b"":
                labels.pop()
        else:
            labels = _split_escaped(text)
        name = cls(labels)
        check_name(name)
        return name

    def to_text(self) -> str:
        """Presentation format with a trailing dot, special octets escaped (inverse of ``from_text``)."""
        if not self:
            return "."
        text = _TEXT
        return "".join("".join(text[b] for b in label) + "." for label in self)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"Name({self.to_text()!r})"

    def lower(self) -> Name:
        """This name with ASCII letters folded to lower case (RFC 4343): a key for dicts and sets."""
        return Name([label.lower() for label in self])

    def equals(self, other: Name) -> bool:
        """Whether the two names are the same DNS name, ignoring ASCII case (RFC 4343)."""
        if len(self) != len(other):
            return False
        return all(a.lower() == b.lower() for a, b in zip(self, other, strict=True))

    def is_subdomain_of(self, parent: Name) -> bool:
        """Whether this name is ``parent`` or below it, ignoring ASCII case. Every name is below the root."""
        n = len(parent)
        if n > len(self):
            return False
        return n == 0 or Name(self[-n:]).equals(parent)

    def wire_length(self) -> int:
        """Octets of the uncompressed wire form, root octet included."""
        return sum(len(label) for label in self) + len(self) + 1


def names_equal(a: Name, b: Name) -> bool:
    """Whether ``a`` and ``b`` are the same DNS name, ignoring ASCII case (RFC 4343)."""
    return a.equals(b)


def is_subdomain(name: Name, parent: Name) -> bool:
    """Whether ``name`` is ``parent`` or below it, ignoring ASCII case (RFC 4343)."""
    return name.is_subdomain_of(parent)


def check_name(name: Name) -> None:
    """Raise ``LocalProtocolError`` unless ``name`` fits the RFC 1035 2.3.4 size limits."""
    for label in name:
        if not 0 < len(label) <= MAX_LABEL_LENGTH:
            shown = label[:70]
            raise LocalProtocolError(f"label {shown!r} not 1 to {MAX_LABEL_LENGTH} octets (RFC 1035 2.3.4)")
    length = name.wire_length()
    if length > MAX_NAME_LENGTH:
        raise LocalProtocolError(f"name of {length} octets, more than {MAX_NAME_LENGTH} (RFC 1035 2.3.4)")


def _split_escaped(text: str) -> list[bytes]:
    labels: list[bytes] = []
    label = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                value = int(text[i + 1 : i + 4])
                if value > 255:
                    raise LocalProtocolError(f"escape \\{value} in {text!r} is not an octet")
                label.append(value)
                i += 4
                continue
            if i + 1 >= n:
                raise LocalProtocolError(f"name {text!r} ends with a lone backslash")
            label += text[i + 1].encode("ascii")
            i += 2
            continue
        if c == ".":
            if not label:
                raise LocalProtocolError(f"empty label in {text!r}")
            labels.append(bytes(label))
            label.clear()
        else:
            label += c.encode("ascii")
        i += 1
    if label:
        labels.append(bytes(label))
    return labels


def read_name(buf: bytes, offset: int, cache: NameCache | None = None) -> tuple[Name, int]:
    """Decode the (possibly compressed) name at ``offset`` of the message ``buf``.

    Returns the name and the offset just past its in-place octets (after the first pointer, or
    after the root octet). ``cache`` is shared by all the names of one message. Raises
    ``RemoteProtocolError`` (FORMERR) for a name running past the end of ``buf``, a pointer that
    does not point backwards, too many pointers, an over-long name or a reserved label type.
    """
    labels: list[bytes] = []
    jumps: list[tuple[int, int]] = []  # (pointer target, number of labels read before the jump)
    length_so_far = 1  # the root octet
    n = len(buf)
    pos = run_start = offset
    end = -1
    while True:
        if pos >= n:
            raise RemoteProtocolError("name runs past the end of the message")
        size = buf[pos]
        if size == 0:
            if end < 0:
                end = pos + 1
            break
        kind = size & 0xC0
        if kind == 0:
            nxt = pos + 1 + size
            if nxt > n:
                raise RemoteProtocolError("label runs past the end of the message")
            length_so_far += size + 1
            if length_so_far > MAX_NAME_LENGTH:
                raise RemoteProtocolError(f"name longer than {MAX_NAME_LENGTH} octets (RFC 1035 2.3.4)")
            labels.append(buf[pos + 1 : nxt])
            pos = nxt
            continue
        if kind != 0xC0:
            # 01 and 10 were extended label types; RFC 6891 5 deprecates them.
            raise RemoteProtocolError(f"reserved label type 0x{kind:02x} (RFC 1035 4.1.4, RFC 6891 5)")
        if pos + 1 >= n:
            raise RemoteProtocolError("compression pointer runs past the end of the message")
        target = ((size & 0x3F) << 8) | buf[pos + 1]
        if end < 0:
            end = pos + 2
        # RFC 1035 4.1.4 lets a pointer name "a prior occurrence"; demanding that it point before
        # the current run makes the targets strictly decrease, so loops cannot exist.
        if target >= run_start:
            raise RemoteProtocolError(f"compression pointer at {pos} to {target} does not point backwards")
        hit = cache.get(target) if cache is not None else None
        if hit is not None:
            suffix, suffix_length = hit
            length_so_far += suffix_length - 1
            if length_so_far > MAX_NAME_LENGTH:
                raise RemoteProtocolError(f"name longer than {MAX_NAME_LENGTH} octets (RFC 1035 2.3.4)")
            labels += suffix
            break
        if len(jumps) >= MAX_POINTER_HOPS:
            raise RemoteProtocolError(f"more than {MAX_POINTER_HOPS} compression pointers in one name")
        jumps.append((target, len(labels)))
        pos = run_start = target
    name = Name(labels)
    if cache is not None:
        cache[offset] = (name, length_so_far)
        for target, index in jumps:
            suffix = Name(labels[index:])
            cache[target] = (suffix, suffix.wire_length())
    return name, end


class Compressor:
    """Writes names into one message, compressing against the names written before.

    One instance per message being encoded. ``forget(offset)`` drops the table entries at or
    after ``offset``, for an encoder that cuts the message back (truncation).
    """

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: dict[tuple[bytes, ...], int] = {}

    def write(self, out: bytearray, name: Name, compress: bool = True) -> None:
        """Append ``name`` to ``out``; with ``compress``, use and extend the suffix table.

        Raises ``LocalProtocolError`` for a label or name over the RFC 1035 2.3.4 limits.
        """
        check_name(name)
        if not compress:
            for label in name:
                out.append(len(label))
                out += label
            out.append(0)
            return
        table = self.table
        for i, label in enumerate(name):
            suffix = name[i:]
            at = table.get(suffix)
            if at is not None:
                out += _POINTER.pack(0xC000 | at)
                return
            here = len(out)
            if here <= MAX_POINTER_OFFSET:
                table[suffix] = here
            out.append(len(label))
            out += label
        out.append(0)

    def forget(self, offset: int) -> None:
        """Forget every suffix written at ``offset`` or later (the caller deletes those octets)."""
        self.table = {k: v for k, v in self.table.items() if v < offset}


def name_to_wire(name: Name) -> bytes:
    """The uncompressed wire form of ``name``; ``LocalProtocolError`` if it breaks RFC 1035 2.3.4."""
    out = bytearray()
    Compressor().write(out, name, compress=False)
    return bytes(out)
