"""Names in Redis and on the wire: node and client ids, keys and channels under one prefix.

Everything a node writes lives under keys named after it, each with the node's TTL, so a
node that dies takes its clients, uids, groups and sessions with it when the TTL runs out:

    <prefix>nodes              sorted set: node id -> expiry (ms, Redis server time)
    <prefix>node:<N>           the node's info (JSON); its existence means "alive"
    <prefix>node:<N>:c         hash: client id -> session (JSON object)
    <prefix>node:<N>:u         hash: uid -> the node's client ids of that uid, space separated
    <prefix>node:<N>:g         hash: group -> number of the node's clients in it
    <prefix>node:<N>:b         hash: client id -> bound uid

Channels: ``<prefix>ch:<N>`` reaches one node; ``<prefix>ch:g:<group>`` every node that has
members of the group (a node subscribes while it has some).
"""

from __future__ import annotations

import re
import secrets

from ._exceptions import InvalidTargetError

__all__ = ["NODE_SUFFIXES", "Names", "new_node_id", "node_of", "validate_name"]

NODE_SUFFIXES = ("", ":c", ":u", ":g", ":b")

_NODE = re.compile(r"[0-9a-f]{12}")
_CLIENT = re.compile(r"([0-9a-f]{12})-[0-9a-f]{1,16}")
_PREFIX = re.compile(r"[\x21-\x7e]{0,128}")


def new_node_id() -> str:
    """12 random hex digits: unique among the nodes of a cluster for all practical use."""
    return secrets.token_hex(6)


def node_of(client_id: str) -> str:
    """The node that holds ``client_id`` (``<node>-<hex>``)."""
    if not isinstance(client_id, str):
        raise InvalidTargetError(f"a client id is a str, not {type(client_id).__name__}")
    match = _CLIENT.fullmatch(client_id)
    if match is None:
        raise InvalidTargetError(f"not a client id: {client_id[:80]!r}")
    return match.group(1)


def validate_name(what: str, value: object, limit: int) -> str:
    """A uid, group or event name: a non-empty str of at most ``limit`` UTF-8 bytes."""
    if not isinstance(value, str):
        raise InvalidTargetError(f"{what} must be a str, not {type(value).__name__}")
    if not value or len(value.encode()) > limit:
        raise InvalidTargetError(f"{what} must be 1-{limit} bytes, got {len(value.encode())}")
    return value


class Names:
    """Keys and channels of one namespace (``prefix``) in one Redis database."""

    __slots__ = ("nodes", "prefix")

    def __init__(self, prefix: str) -> None:
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise InvalidTargetError("prefix must be up to 128 printable ASCII characters")
        self.prefix = prefix
        self.nodes = f"{prefix}nodes"

    def node(self, node: str, suffix: str = "") -> str:
        return f"{self.prefix}node:{node}{suffix}"

    def node_keys(self, node: str) -> list[str]:
        return [self.node(node, suffix) for suffix in NODE_SUFFIXES]

    def node_channel(self, node: str) -> str:
        return f"{self.prefix}ch:{node}"

    def group_channel(self, group: str) -> str:
        return f"{self.prefix}ch:g:{group}"

    @staticmethod
    def is_node_id(value: str) -> bool:
        return _NODE.fullmatch(value) is not None
