"""Topic names and filters: checking them, and matching names against filters
(``+`` one level, ``#`` the rest, ``$`` topics hidden from leading wildcards,
``$share/group/`` prefixes stripped for matching)."""

from __future__ import annotations

from ._exceptions import MqttError

__all__ = ["check_filter", "check_topic", "matches", "split_filter"]

_MAX_TOPIC = 65535
_split_cache: dict[str, tuple[str, ...]] = {}


def check_topic(topic: str) -> None:
    """A topic name to publish to: not empty, no wildcards, no NUL, at most 65535 bytes."""
    if not isinstance(topic, str):
        raise MqttError(f"a topic is a str, not {type(topic).__name__}")
    if not topic:
        raise MqttError("a topic may not be empty")
    if "+" in topic or "#" in topic:
        raise MqttError(f"cannot publish to {topic!r}: wildcards belong in subscriptions")
    _check_common(topic)


def check_filter(topic_filter: str) -> None:
    """A subscription filter: ``#`` only last and alone in its level, ``+`` alone in its
    level, a ``$share/group/`` prefix followed by a filter."""
    if not isinstance(topic_filter, str):
        raise MqttError(f"a topic filter is a str, not {type(topic_filter).__name__}")
    if not topic_filter:
        raise MqttError("a topic filter may not be empty")
    _check_common(topic_filter)
    levels = split_filter(topic_filter)
    if topic_filter.startswith("$share/") and not levels:
        raise MqttError(f"bad shared subscription {topic_filter!r}: $share/<group>/<filter>")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise MqttError(f"bad filter {topic_filter!r}: '#' must be a whole, last level")
        if "+" in level and level != "+":
            raise MqttError(f"bad filter {topic_filter!r}: '+' must be a whole level")


def _check_common(text: str) -> None:
    if "\x00" in text:
        raise MqttError("a topic may not contain NUL")
    if len(text.encode()) > _MAX_TOPIC:
        raise MqttError("a topic may be at most 65535 bytes of UTF-8")


def split_filter(topic_filter: str) -> tuple[str, ...]:
    """The levels of a filter, without a ``$share/group/`` prefix (cached)."""
    levels = _split_cache.get(topic_filter)
    if levels is None:
        parts = topic_filter.split("/")
        if parts[0] == "$share":
            parts = parts[2:] if len(parts) > 2 and parts[1] else []
        levels = tuple(parts)
        if len(_split_cache) < 4096:
            _split_cache[topic_filter] = levels
    return levels


def matches(levels: tuple[str, ...], topic: str) -> bool:
    """Whether ``topic`` matches the filter split into ``levels``."""
    names = topic.split("/")
    if names[0].startswith("$") and levels and levels[0] in ("+", "#"):
        return False
    count = len(names)
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= count:
            return False
        if level != "+" and level != names[index]:
            return False
    return count == len(levels)
