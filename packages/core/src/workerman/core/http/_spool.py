"""A request body too large to hold in memory while it arrives: written to a temporary
file as it comes (an unnamed one, gone with its descriptor, so nothing is left behind)."""

from __future__ import annotations

import tempfile
from typing import BinaryIO

__all__ = ["Spool"]


class Spool:
    """The body of one request, on disk: ``missing`` bytes of it are still to come."""

    __slots__ = ("file", "head", "missing", "size")

    def __init__(self, head: bytes, length: int, tmp_dir: str) -> None:
        self.file: BinaryIO = tempfile.TemporaryFile(dir=tmp_dir or None)  # noqa: SIM115
        self.head = head
        self.size = length
        self.missing = length

    def feed(self, data: bytes | memoryview) -> int:
        """Write what of ``data`` belongs to the body; how many bytes that was."""
        take = min(len(data), self.missing)
        if take:
            self.file.write(data[:take] if take < len(data) else data)
            self.missing -= take
        return take

    def read(self) -> bytes:
        """The whole body."""
        self.file.seek(0)
        return self.file.read()

    def rewound(self) -> BinaryIO:
        """The file, at the body's start."""
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()
