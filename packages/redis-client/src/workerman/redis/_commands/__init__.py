"""The typed Redis commands, one mixin per family, all of them in ``Commands``.

A mixin only builds a command's arguments and picks the transform of its reply; the
class it is mixed into provides ``_command(args, callback, transform)``, which sends
the command (the client), or queues it (the pipeline).
"""

from __future__ import annotations

from ._base import CommandsBase
from ._geo import GeoCommands
from ._hashes import HashCommands
from ._hyperloglog import HyperLogLogCommands
from ._keys import KeyCommands
from ._lists import ListCommands
from ._publishing import PublishingCommands
from ._scripting import ScriptingCommands
from ._server import ServerCommands
from ._sets import SetCommands
from ._sorted_sets import SortedSetCommands
from ._streams import StreamCommands
from ._strings import StringCommands
from ._transactions import TransactionCommands

__all__ = [
    "Commands",
    "CommandsBase",
    "GeoCommands",
    "HashCommands",
    "HyperLogLogCommands",
    "KeyCommands",
    "ListCommands",
    "PublishingCommands",
    "ScriptingCommands",
    "ServerCommands",
    "SetCommands",
    "SortedSetCommands",
    "StreamCommands",
    "StringCommands",
    "TransactionCommands",
]


class Commands(
    StringCommands,
    KeyCommands,
    HashCommands,
    ListCommands,
    SetCommands,
    SortedSetCommands,
    StreamCommands,
    HyperLogLogCommands,
    GeoCommands,
    ScriptingCommands,
    TransactionCommands,
    PublishingCommands,
    ServerCommands,
):
    """Every command family; the host class provides ``_command``."""

    __slots__ = ()
