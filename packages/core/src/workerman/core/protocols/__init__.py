"""Sans-IO protocol codecs and their registry.

A protocol follows Workerman's contract (see :class:`Codec`), or, when it keeps state
per connection, the stream contract (see :class:`StreamProtocol`). Built-ins: ``text``
and ``frame`` (codecs), ``http``, ``websocket`` and ``ws``/``wss`` (stream protocols).
Third parties register with :func:`register_protocol` or through the
``workerman.protocols`` entry point group, so installing a package adds its scheme.
"""

from .._exceptions import ProtocolError as ProtocolError
from .._stream import StreamProtocol as StreamProtocol
from ._codec import Codec as Codec
from ._frame import Frame as Frame
from ._registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._registry import get_protocol as get_protocol
from ._registry import register_protocol as register_protocol
from ._registry import registered_protocols as registered_protocols
from ._text import Text as Text

__all__ = [
    "ENTRY_POINT_GROUP",
    "Codec",
    "Frame",
    "ProtocolError",
    "StreamProtocol",
    "Text",
    "get_protocol",
    "register_protocol",
    "registered_protocols",
]
