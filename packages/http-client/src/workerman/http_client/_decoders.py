"""Content-Encoding decoders (gzip, deflate, br) that never make more output per input
piece than asked for, so a small compressed body cannot expand without bound in memory."""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Iterator
from typing import Any

from ._exceptions import DecodingError

__all__ = ["Decoder", "make_decoder", "supported_encodings"]

_PIECE = 256 * 1024  # decompressed bytes produced per step


class Decoder:
    """Decodes one body; ``decode(data)`` yields the plain bytes ``data`` gives."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib(Decoder):
    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        # gzip: a gzip header; deflate: zlib-wrapped first, raw deflate if that fails
        self._obj: Any = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._first = not gzip

    def decode(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        try:
            if self._first and data:
                self._first = False
                try:
                    out = obj.decompress(data, _PIECE)
                except zlib.error:
                    self._obj = obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = obj.decompress(data, _PIECE)
            else:
                out = obj.decompress(data, _PIECE)
            if out:
                yield out
            while obj.unconsumed_tail:
                out = obj.decompress(obj.unconsumed_tail, _PIECE)
                if out:
                    yield out
        except zlib.error as exc:
            raise DecodingError(f"the {self._name} body does not decompress: {exc}") from None

    def flush(self) -> Iterator[bytes]:
        try:
            out = self._obj.flush()
        except zlib.error as exc:
            raise DecodingError(f"the {self._name} body does not decompress: {exc}") from None
        if out:
            yield out

    @property
    def _name(self) -> str:
        return "gzip" if self._gzip else "deflate"


class _Brotli(Decoder):
    def __init__(self) -> None:
        import brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]

        self._obj: Any = brotli.Decompressor()
        self._error: Any = getattr(brotli, "error", Exception)

    def decode(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        try:
            # the buffer may end up to twice the limit: half a piece keeps it within one
            out = obj.process(data, output_buffer_limit=_PIECE // 2)
            if out:
                yield out
            while out:  # more output for the input it holds, until it has none
                out = obj.process(b"", output_buffer_limit=_PIECE // 2)
                if out:
                    yield out
        except self._error as exc:
            raise DecodingError(f"the br body does not decompress: {exc}") from None


def _have_brotli() -> bool:
    return importlib.util.find_spec("brotli") is not None


def supported_encodings() -> str:
    """The Accept-Encoding value this client sends."""
    return "gzip, deflate, br" if _have_brotli() else "gzip, deflate"


def make_decoder(content_encoding: str) -> Decoder | None:
    """A decoder for a Content-Encoding value (codings applied in order), or None for
    identity. An unknown coding raises DecodingError."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    decoders: list[Decoder] = []
    for coding in reversed(codings):  # the last applied is the first to undo
        if coding in ("gzip", "x-gzip"):
            decoders.append(_Zlib(gzip=True))
        elif coding == "deflate":
            decoders.append(_Zlib(gzip=False))
        elif coding == "br" and _have_brotli():
            decoders.append(_Brotli())
        else:
            raise DecodingError(f"unsupported Content-Encoding {content_encoding!r}")
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


class _Chain(Decoder):
    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._run([data], 0)

    def _run(self, pieces: list[bytes], start: int) -> Iterator[bytes]:
        if start == len(self._decoders):
            yield from pieces
            return
        for piece in pieces:
            for out in self._decoders[start].decode(piece):
                yield from self._run([out], start + 1)

    def flush(self) -> Iterator[bytes]:
        for index, decoder in enumerate(self._decoders):
            for out in decoder.flush():
                yield from self._run([out], index + 1)
