"""Topic names, topic filters and matching (MQTT 5.0 §4.7, shared subscriptions §4.8.2).

Theory of operation: a Topic Name (what a PUBLISH is sent to) and a Topic Filter (what a
SUBSCRIBE asks for) are UTF-8 strings of levels separated by ``/``. Filters may use the
single-level wildcard ``+`` and the multi-level wildcard ``#``; names may not. Validation
answers with the reason a string is invalid (or None), so that the codec can raise the error
class that fits the direction — RemoteProtocolError for a peer's packet, LocalProtocolError for
ours — with Reason Code 0x90 Topic Name invalid or 0x8F Topic Filter invalid.

Matching splits both strings on ``/`` once and compares level by level; a filter without
wildcards is compared as a whole. Levels are compared as exact strings: "the Server MUST NOT
perform any normalization of Topic Names or Topic Filters" [MQTT-4.7.3-4]. A shared
subscription ``$share/{ShareName}/{filter}`` matches what its inner filter matches.
"""

from __future__ import annotations

from typing import Final

SHARED_PREFIX: Final = "$share/"
# [MQTT-4.7.3-3]: names and filters "MUST NOT encode to more than 65,535 bytes".
MAX_TOPIC_BYTES: Final = 65_535


def _length_error(topic: str) -> str | None:
    if not topic:
        return "topic is empty: names and filters MUST be at least one character long [MQTT-4.7.3-1]"
    if "\x00" in topic:
        return "topic contains U+0000 [MQTT-4.7.3-2]"
    # A UTF-8 character takes at most 4 bytes: only long strings need encoding to check.
    if len(topic) * 4 > MAX_TOPIC_BYTES and len(topic.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        return "topic encodes to more than 65,535 bytes [MQTT-4.7.3-3]"
    return None


def topic_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid Topic Name, or None when it is.

    A Topic Name is non-empty, has no U+0000 and no wildcard: "The wildcard characters can be
    used in Topic Filters, but MUST NOT be used within a Topic Name" [MQTT-4.7.0-1],
    [MQTT-3.3.2-2]. (An MQTT 5.0 PUBLISH may have an empty name when it carries a Topic Alias;
    the codec checks that case itself.)
    """
    if "+" in name or "#" in name:
        return f"topic name {name[:64]!r} contains a wildcard [MQTT-3.3.2-2]"
    return _length_error(name)


def split_shared(topic_filter: str) -> tuple[str | None, str]:
    """``("group", "a/b")`` for ``"$share/group/a/b"``; ``(None, topic_filter)`` for a plain filter.

    The result is meaningful only for a valid filter (see :func:`topic_filter_error`).
    """
    if not topic_filter.startswith(SHARED_PREFIX):
        return None, topic_filter
    share, sep, rest = topic_filter[len(SHARED_PREFIX):].partition("/")
    if not sep:
        return share, ""
    return share, rest


def topic_filter_error(topic_filter: str, *, shared: bool = True) -> str | None:
    """Why ``topic_filter`` is not a valid Topic Filter, or None when it is.

    With ``shared`` (MQTT 5.0) a filter starting ``$share/`` must be a well-formed shared
    subscription: "MUST contain a ShareName that is at least one character long"
    [MQTT-4.8.2-1]; "The ShareName MUST NOT contain the characters "/", "+" or "#", but MUST be
    followed by a "/" character. This "/" character MUST be followed by a Topic Filter"
    [MQTT-4.8.2-2]. MQTT 3.1.1 has no shared subscriptions: pass ``shared=False``.
    """
    problem = _length_error(topic_filter)
    if problem is not None:
        return problem
    if shared and topic_filter.startswith(SHARED_PREFIX):
        share, rest = split_shared(topic_filter)
        if not share:
            return "shared subscription has an empty ShareName [MQTT-4.8.2-1]"
        if "+" in share or "#" in share:
            return f"ShareName {share!r} contains a wildcard [MQTT-4.8.2-2]"
        if not rest:
            return "shared subscription has no Topic Filter after its ShareName [MQTT-4.8.2-2]"
        topic_filter = rest
    hash_at = topic_filter.find("#")
    if hash_at >= 0 and (
        hash_at != len(topic_filter) - 1 or (hash_at > 0 and topic_filter[hash_at - 1] != "/")
    ):
        return ("'#' MUST be on its own or after a '/', and MUST be the last character "
                f"[MQTT-4.7.1-1]: {topic_filter[:64]!r}")
    if "+" in topic_filter:
        for level in topic_filter.split("/"):
            if "+" in level and level != "+":
                return f"'+' MUST occupy an entire level [MQTT-4.7.1-2]: {topic_filter[:64]!r}"
    return None


def topic_matches(topic_filter: str, topic_name: str) -> bool:
    """Whether a PUBLISH to ``topic_name`` matches the subscription ``topic_filter`` (§4.7).

    Both arguments must be valid (see :func:`topic_name_error`, :func:`topic_filter_error`);
    the result for invalid ones is unspecified. ``sport/#`` matches ``sport`` itself (§4.7.1.2);
    ``+`` matches one level, possibly empty; a filter starting with a wildcard does not match a
    name starting with ``$``: "The Server MUST NOT match Topic Filters starting with a wildcard
    character (# or +) with Topic Names beginning with a $ character" [MQTT-4.7.2-1].
    """
    if topic_filter.startswith(SHARED_PREFIX):
        topic_filter = split_shared(topic_filter)[1]
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic_name
    if topic_name.startswith("$") and topic_filter[0] in "+#":
        return False
    names = topic_name.split("/")
    count = len(names)
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            return True  # matches the parent level too: i <= count here
        if i >= count:
            return False
        if level != "+" and level != names[i]:
            return False
    return len(levels) == count
