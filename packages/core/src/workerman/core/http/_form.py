"""Request bodies and query strings: urlencoded forms, multipart/form-data, JSON.

The request calls these lazily, the first time a handler asks for its query, form,
files or JSON, so a request that never looks at its body never pays for parsing it.

A multipart body (RFC 2046 section 5.1, RFC 7578) is a list of parts between
delimiter lines::

    preamble CRLF --boundary CRLF headers CRLF CRLF content
             CRLF --boundary CRLF headers CRLF CRLF content
             CRLF --boundary-- epilogue

The CRLF before ``--boundary`` belongs to the delimiter, not to the content, and
the first delimiter may open the body with no CRLF in front of it. A delimiter may
be followed by spaces or tabs before its CRLF (transport padding); any other bytes
after ``--boundary`` mean that line was content after all, so the scan moves on.
Every search starts where the previous one ended, so the work is linear in the body.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import unquote, unquote_to_bytes

from ._errors import RequestError

__all__ = ["UploadedFile", "boundary_of", "parse_json", "parse_multipart", "parse_query"]

# A part's header block may not exceed this; a missing blank line then fails fast
# instead of searching the rest of the body.
_MAX_PART_HEADERS = 16 * 1024
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# One `; key=value` parameter; a quoted value may hold escaped characters.
_PARAM = re.compile(
    rf'[ \t]*;[ \t]*({_TOKEN})[ \t]*=[ \t]*("(?:[^"\\\r\n]|\\[^\r\n])*"|[^;"\r\n]*)[ \t]*'
)
_ESCAPED = re.compile(r"\\([\\\"])")
_PADDING_CRLF = re.compile(rb"[ \t]*\r\n")
_BAD_HEADER_VALUE = re.compile(r"[\x00\r\n]")
# RFC 2046 allows 1-70 characters. Real clients stray from its bchars set (Python's
# email package uses '='), so any printable ASCII is taken; quoting allows spaces.
_QUOTED_BOUNDARY = re.compile(r"[ -~]{0,69}[!-~]")
_TOKEN_BOUNDARY = re.compile(r"[!-~]{1,70}")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


class UploadedFile:
    """One uploaded file of a multipart body, spooled to a temporary file on disk.

    The file belongs to the request: the server calls :meth:`cleanup` when the
    request is done, so a handler that wants to keep it calls :meth:`save`.

    Attributes:
        field: the form field name.
        filename: the file name as the client sent it (may be "" or hold a path).
        content_type: the part's Content-Type, "application/octet-stream" if none.
        size: the number of bytes.
        path: the file holding the bytes (the destination, once saved).
    """

    __slots__ = ("_owned", "content_type", "field", "filename", "path", "size")

    def __init__(self, field: str, filename: str, content_type: str, size: int, path: str) -> None:
        self.field = field
        self.filename = filename
        self.content_type = content_type
        self.size = size
        self.path = path
        self._owned = True

    def __repr__(self) -> str:
        return (
            f"<UploadedFile field={self.field!r} filename={self.filename!r} "
            f"content_type={self.content_type!r} size={self.size}>"
        )

    @property
    def safe_name(self) -> str:
        """The filename without directories or control characters; "" if nothing is left.

        Browsers send a bare name, old ones a full Windows path; neither may
        choose where a saved file lands.
        """
        name = _UNSAFE_NAME.sub("", self.filename).replace("\\", "/").rsplit("/", 1)[-1].strip()
        return "" if name in (".", "..") else name

    def read(self) -> bytes:
        """All the bytes of the file."""
        with open(self.path, "rb") as f:
            return f.read()

    def open(self) -> BinaryIO:
        """The file opened for reading in binary mode; the caller closes it."""
        return open(self.path, "rb")

    def save(self, dest: str | os.PathLike[str], *, mode: int | None = 0o644) -> str:
        """Move the file to ``dest`` and return that path.

        The move is a rename when ``dest`` is on the same filesystem, else a copy
        followed by deleting the temporary file. After saving, :meth:`cleanup`
        leaves the file alone.

        Args:
            dest: the path of the new file (not a directory); an existing file is replaced.
            mode: the permission bits to give the saved file (temporary files are
                created readable by their owner only); None keeps them.
        """
        target = os.fspath(dest)
        try:
            os.replace(self.path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copyfile(self.path, target)
            os.unlink(self.path)
        if mode is not None:
            os.chmod(target, mode)
        self.path = target
        self._owned = False
        return target

    def cleanup(self) -> None:
        """Delete the temporary file if it is still there (a saved file is kept)."""
        if self._owned:
            self._owned = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def parse_query(data: str | bytes, *, max_fields: int | None = None) -> dict[str, list[str]]:
    """Parse a query string or an application/x-www-form-urlencoded body.

    Pairs are separated by "&"; "+" is a space and %XX escapes are UTF-8 (invalid
    sequences become U+FFFD). A key without "=" maps to "", empty pairs are skipped,
    and keys and values keep the order they came in. The result equals
    ``urllib.parse.parse_qs(data, keep_blank_values=True)`` for text.

    Args:
        data: the text, or raw bytes (which may hold unescaped UTF-8).
        max_fields: the most pairs accepted, None for no limit.

    Raises:
        RequestError: 413 when there are more than ``max_fields`` pairs.
    """
    if not data:
        return {}
    if not isinstance(data, str):
        raw = bytes(data)
        if not raw.isascii():
            return _parse_query_bytes(raw, max_fields)
        data = raw.decode("ascii")
    pairs = data.split("&")
    if max_fields is not None and len(pairs) > max_fields:
        _check_field_count(pairs, max_fields)
    result: dict[str, list[str]] = {}
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition("=")
        # The checks skip a function call for the common plain pair.
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value)
        values = result.get(name)
        if values is None:
            result[name] = [value]
        else:
            values.append(value)
    return result


def _parse_query_bytes(data: bytes, max_fields: int | None) -> dict[str, list[str]]:
    # Decode after unescaping, so raw UTF-8 and %XX escapes of one name join up.
    pairs = data.split(b"&")
    if max_fields is not None and len(pairs) > max_fields:
        _check_field_count(pairs, max_fields)
    result: dict[str, list[str]] = {}
    for pair in pairs:
        if pair:
            name, _, value = pair.partition(b"=")
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
            text = unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8", "replace")
            result.setdefault(key, []).append(text)
    return result


def _check_field_count(pairs: list[str] | list[bytes], max_fields: int) -> None:
    if sum(1 for pair in pairs if pair) > max_fields:
        raise RequestError(413, f"more than {max_fields} form fields")


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart Content-Type header value.

    Returns None when there is none, or when it is empty, longer than 70
    characters (RFC 2046) or holds characters other than printable ASCII.
    """
    start = content_type.find(";")
    if start < 0:
        return None
    params = _params(content_type, start)
    if params is None:
        return None
    value = params.get("boundary")
    if value is None:
        return None
    pattern = _QUOTED_BOUNDARY if value.startswith('"') else _TOKEN_BOUNDARY
    value = _unquote(value)
    return value if pattern.fullmatch(value) else None


def parse_multipart(
    body: bytes,
    boundary: str,
    *,
    max_files: int = 1024,
    max_fields: int = 1000,
    max_field_size: int = 1024 * 1024,
    tmp_dir: str | None = None,
) -> tuple[dict[str, list[str]], dict[str, list[UploadedFile]]]:
    """Parse a multipart/form-data body (RFC 7578) into its fields and files.

    A part whose Content-Disposition has a ``filename`` (or RFC 5987 ``filename*``)
    parameter is a file, written to a temporary file; the others are fields,
    decoded with the part's charset (UTF-8 by default, invalid bytes become U+FFFD).
    A file part with an empty filename and no bytes is what a browser sends when no
    file was chosen: it is skipped, as PHP does, and counts toward no limit until the
    parts number more than ``max_fields + max_files``.

    Args:
        body: the whole request body.
        boundary: the boundary from the Content-Type (see :func:`boundary_of`).
        max_files: the most file parts accepted (empty ones skipped aside).
        max_fields: the most field parts accepted.
        max_field_size: the most bytes one field may hold.
        tmp_dir: where temporary files go; None for the system default.

    Returns:
        Fields and files by name, each a list in the order the parts came.

    Raises:
        RequestError: 400 for a malformed body (no closing delimiter, bad part
            headers, a part that is not form-data or has no name), 413 when a limit
            is crossed. Temporary files already written are deleted first.
    """
    try:
        dash_boundary = b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        raise RequestError(400, "multipart boundary is not ASCII") from None
    fields: dict[str, list[str]] = {}
    files: dict[str, list[UploadedFile]] = {}
    written: list[UploadedFile] = []
    field_count = skipped = 0
    try:
        with memoryview(body) as view:
            for headers, start, end in _parts(body, dash_boundary):
                name, filename = _disposition(headers.get("content-disposition"))
                if filename is None:
                    field_count += 1
                    if field_count > max_fields:
                        raise RequestError(413, f"more than {max_fields} form fields")
                    if end - start > max_field_size:
                        raise RequestError(
                            413, f"form field {name!r} exceeds {max_field_size} bytes"
                        )
                    value = _field_value(body[start:end], headers.get("content-type", ""))
                    fields.setdefault(name, []).append(value)
                    continue
                if not filename and start == end:
                    # Free, but not unlimited: parts are work even when skipped.
                    skipped += 1
                    if skipped + field_count + len(written) > max_fields + max_files:
                        raise RequestError(413, "too many multipart parts")
                    continue
                if len(written) >= max_files:
                    raise RequestError(413, f"more than {max_files} uploaded files")
                fd, path = tempfile.mkstemp(prefix="workerman-upload-", dir=tmp_dir)
                content_type = headers.get("content-type") or "application/octet-stream"
                upload = UploadedFile(name, filename, content_type, end - start, path)
                written.append(upload)
                with open(fd, "wb") as f:
                    f.write(view[start:end])
                files.setdefault(name, []).append(upload)
    except BaseException:
        for upload in written:
            upload.cleanup()
        raise
    return fields, files


def _parts(body: bytes, dash_boundary: bytes) -> Iterator[tuple[dict[str, str], int, int]]:
    """Each part's headers and the span of its content in ``body``."""
    delimiters = _Delimiters(body, b"\r\n" + dash_boundary)
    opening = _delimiter_end(body, len(dash_boundary)) if body.startswith(dash_boundary) else None
    _, pos, closed = delimiters.find(0) if opening is None else (0, *opening)
    while not closed:
        if body.startswith(b"\r\n", pos):
            headers: dict[str, str] = {}
            start = pos + 2
        else:
            blank = body.find(b"\r\n\r\n", pos, pos + _MAX_PART_HEADERS)
            if blank < 0:
                raise RequestError(400, "multipart part headers are not terminated")
            headers = _part_headers(body[pos:blank])
            start = blank + 4
        end, pos, closed = delimiters.find(start)
        yield headers, start, end


class _Delimiters:
    """Finds the delimiter lines of one body."""

    __slots__ = ("body", "delimiter", "pattern")

    def __init__(self, body: bytes, delimiter: bytes) -> None:
        self.body = body
        self.delimiter = delimiter
        self.pattern: re.Pattern[bytes] | None = None

    def find(self, start: int) -> tuple[int, int, bool]:
        """The next delimiter line from ``start``: where it begins, where the part
        after it begins, and whether it closes the body."""
        if self.pattern is None:
            found = self.body.find(self.delimiter, start)
            after = None if found < 0 else _delimiter_end(self.body, found + len(self.delimiter))
            if after is not None:
                return found, after[0], after[1]
            if found < 0:
                raise RequestError(400, "multipart body has no closing delimiter")
            # The content holds a lookalike (`--boundary` and more on one line). Compiling
            # costs about 0.2 ms, but then a body of lookalikes is skipped in C, not one
            # Python iteration each.
            self.pattern = re.compile(re.escape(self.delimiter) + rb"(--|[ \t]*\r\n)")
            start = found + 1
        match = self.pattern.search(self.body, start)
        if match is None:
            raise RequestError(400, "multipart body has no closing delimiter")
        return match.start(), match.end(), match.group(1) == b"--"


def _delimiter_end(body: bytes, pos: int) -> tuple[int, bool] | None:
    # `--boundary` is a delimiter when `--` (close) or padding and CRLF follow it.
    if body.startswith(b"--", pos):
        return pos + 2, True
    match = _PADDING_CRLF.match(body, pos)
    return None if match is None else (match.end(), False)


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if _BAD_HEADER_VALUE.search(line):
            raise RequestError(400, "multipart part header has a control character")
        if line[:1] in (" ", "\t"):
            # obs-fold: RFC 7578 forbids it, but old encoders fold long lines.
            if not last:
                raise RequestError(400, "multipart part headers start with a continuation")
            headers[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise RequestError(400, f"malformed multipart part header {line[:64]!r}")
        last = name.lower()
        headers[last] = value.strip()
    return headers


def _disposition(header: str | None) -> tuple[str, str | None]:
    """The field name and filename (None for a plain field) of a part."""
    if header is None:
        raise RequestError(400, "multipart part has no Content-Disposition")
    semicolon = header.find(";")
    kind = header if semicolon < 0 else header[:semicolon]
    params = _params(header, semicolon) if semicolon >= 0 else {}
    if kind.strip().lower() != "form-data" or params is None:
        raise RequestError(400, f"malformed Content-Disposition {header[:64]!r}")
    name = _param(params, "name")
    if name is None:
        raise RequestError(400, "multipart part has no form-data name")
    return name, _param(params, "filename")


def _params(header: str, pos: int) -> dict[str, str] | None:
    """The `; key=value` parameters from ``pos`` on: keys lowercased, values as sent
    (quotes included). The first of a repeated key wins; None if the text does not
    parse."""
    params: dict[str, str] = {}
    end = len(header)
    while pos < end:
        match = _PARAM.match(header, pos)
        if match is None:
            if header[pos:].strip(" \t;"):
                return None
            break
        params.setdefault(match.group(1).lower(), match.group(2).rstrip(" \t"))
        pos = match.end()
    return params


def _param(params: dict[str, str], key: str) -> str | None:
    """A parameter's value, unquoted; its RFC 5987 ``key*`` form wins when present."""
    extended = params.get(key + "*")
    if extended is not None:
        # charset'language'percent-encoded
        charset, _, rest = _unquote(extended).partition("'")
        return _decode(unquote_to_bytes(rest.partition("'")[2]), charset)
    value = params.get(key)
    return None if value is None else _unquote(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _ESCAPED.sub(r"\1", value[1:-1])
    return value


def _field_value(content: bytes, content_type: str) -> str:
    semicolon = content_type.find(";")
    params = _params(content_type, semicolon) if semicolon >= 0 else None
    charset = params.get("charset") if params else None
    return _decode(content, _unquote(charset) if charset else "utf-8")


def _decode(content: bytes, charset: str) -> str:
    try:
        return content.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):
        # Unknown, not a text encoding, or one refusing "replace" (idna).
        return content.decode("utf-8", "replace")


def parse_json(body: bytes) -> Any:
    """Parse a JSON body (RFC 8259: UTF-8; a leading byte order mark is ignored).

    Raises:
        RequestError: 400 when the body is not UTF-8 or not JSON, or nests too deep.
    """
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"invalid JSON body: {exc}") from None
