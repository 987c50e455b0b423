"""Request bodies: bytes, text, forms, JSON, multipart with files, or a stream of chunks.

``encode_body`` turns what the caller passed into the headers the body implies and either
bytes (sent with Content-Length) or an async iterator of bytes (sent chunked, and never
retried, since it cannot be replayed).
"""

from __future__ import annotations

import json as json_module
import mimetypes
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import IO, Any
from urllib.parse import urlencode

from ._exceptions import HttpClientError

__all__ = ["Content", "FileValue", "Files", "encode_body"]

Content = bytes | bytearray | memoryview | str | AsyncIterable[bytes] | Iterable[bytes]
FileValue = (
    bytes
    | str
    | IO[bytes]
    | tuple[str | None, bytes | str | IO[bytes]]
    | tuple[str | None, bytes | str | IO[bytes], str | None]
)
Files = Mapping[str, FileValue] | Iterable[tuple[str, FileValue]]

Body = bytes | AsyncIterator[bytes]


def encode_body(
    content: Content | None = None,
    data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    files: Files | None = None,
    json: Any = None,
) -> tuple[list[tuple[str, str]], Body]:
    """The headers and the body for one request's arguments (at most one kind given)."""
    if content is None and data is None and files is None and json is None:
        return [], b""
    kinds = sum(x is not None for x in (content, json)) + (data is not None or files is not None)
    if kinds > 1:
        raise HttpClientError("give one of content=, data=/files= or json=, not several")
    if json is not None:
        payload = json_module.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
        return [("Content-Type", "application/json")], payload
    if files is not None:
        boundary = secrets.token_hex(16)
        body = _multipart(boundary, data or {}, files)
        return [("Content-Type", f"multipart/form-data; boundary={boundary}")], body
    if data is not None:
        if isinstance(data, bytes | str):
            raise HttpClientError("data= takes form fields; pass raw bytes or text as content=")
        form = urlencode(list(_fields(data)), doseq=True).encode()
        return [("Content-Type", "application/x-www-form-urlencoded")], form
    if content is None:
        return [], b""
    if isinstance(content, str):
        return [("Content-Type", "text/plain; charset=utf-8")], content.encode()
    if isinstance(content, bytes | bytearray | memoryview):
        return [], bytes(content)
    if isinstance(content, AsyncIterable):
        return [], _as_bytes(content.__aiter__())
    if isinstance(content, Iterable):
        return [], _from_sync(content)
    raise HttpClientError(f"cannot send {type(content).__name__} as a body")


async def _as_bytes(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield _chunk(chunk)
    finally:
        close = getattr(chunks, "aclose", None)  # the caller's generator ends with ours
        if close is not None:
            await close()


async def _from_sync(chunks: Iterable[Any]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield _chunk(chunk)


def _chunk(chunk: Any) -> bytes:
    if isinstance(chunk, str):
        return chunk.encode()
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    raise HttpClientError(f"a streamed body yielded {type(chunk).__name__}, not bytes")


def _fields(data: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Iterable[tuple[str, Any]]:
    items = data.items() if isinstance(data, Mapping) else data
    for name, value in items:
        if isinstance(value, list | tuple):
            for item in value:
                yield name, _text(item)
        elif value is not None:
            yield name, _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _quote(value: str) -> str:
    # the HTML living standard's escaping for multipart/form-data names and filenames
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _multipart(boundary: str, data: Any, files: Files) -> bytes:
    parts: list[bytes] = []
    dash = f"--{boundary}\r\n".encode()
    for name, value in _fields(data):
        parts += [
            dash,
            f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode(),
            value.encode(),
            b"\r\n",
        ]
    items = files.items() if isinstance(files, Mapping) else files
    for name, spec in items:
        filename, payload, content_type = _file_spec(name, spec)
        disposition = f'form-data; name="{_quote(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"'
        parts += [
            dash,
            f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
            payload,
            b"\r\n",
        ]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def _file_spec(name: str, spec: FileValue) -> tuple[str | None, bytes, str]:
    content_type: str | None = None
    if isinstance(spec, tuple):
        filename, source = spec[0], spec[1]
        if len(spec) > 2:
            content_type = spec[2]
    else:
        source = spec
        raw_name = getattr(spec, "name", None)
        filename = os.path.basename(raw_name) if isinstance(raw_name, str) else name
    if isinstance(source, str):
        payload = source.encode()
    elif isinstance(source, bytes):
        payload = source
    else:
        payload = source.read()
        if not isinstance(payload, bytes):
            raise HttpClientError(f"file {name!r} must be opened in binary mode")
    if content_type is None:
        guessed = mimetypes.guess_type(filename or "")[0]
        content_type = guessed or "application/octet-stream"
    return filename, payload, content_type
