"""Query strings, urlencoded and multipart forms, uploaded files and JSON bodies."""

from __future__ import annotations

import errno
import io
import os
import re
import socket
import stat
import threading
from collections.abc import Iterator
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import HTTP
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from workerman.core.http._errors import RequestError
from workerman.core.http._form import (
    UploadedFile,
    boundary_of,
    parse_json,
    parse_multipart,
    parse_query,
)

# -- query strings -------------------------------------------------------------------------

QUERY_TEXT = st.text(alphabet=st.sampled_from("ab=&+%2Fc3EeF8z;é€ \x00\t?#"), max_size=40)


@settings(max_examples=500)
@given(QUERY_TEXT)
def test_parse_query_agrees_with_parse_qs_keeping_blank_values(query: str) -> None:
    assert parse_query(query) == parse_qs(query, keep_blank_values=True)


@settings(max_examples=300)
@given(QUERY_TEXT)
def test_parse_query_of_utf8_bytes_equals_parse_query_of_the_text(query: str) -> None:
    assert parse_query(query.encode()) == parse_query(query)


def test_parse_query_maps_keys_without_equals_to_empty_and_skips_blank_pairs() -> None:
    assert parse_query("a&b=&&c=1&") == {"a": [""], "b": [""], "c": ["1"]}
    assert parse_query("") == {}
    assert parse_query(b"") == {}
    assert parse_query("&&&") == {}


def test_parse_query_keeps_key_order_and_repeated_values_in_order() -> None:
    query = parse_query("z=1&a=2&z=3&m=&a=4")
    assert list(query) == ["z", "a", "m"]
    assert query == {"z": ["1", "3"], "a": ["2", "4"], "m": [""]}


def test_parse_query_decodes_plus_and_percent_escapes_as_utf8() -> None:
    assert parse_query("q=hello+world%21&%E2%82%AC=%2B1&x=a=b") == {
        "q": ["hello world!"],
        "€": ["+1"],
        "x": ["a=b"],
    }


def test_parse_query_replaces_invalid_utf8_and_keeps_broken_escapes() -> None:
    assert parse_query("a=%FF%C3&b=%ZZ&c=%4") == {"a": ["\ufffd\ufffd"], "b": ["%ZZ"], "c": ["%4"]}


def test_parse_query_splits_on_ampersand_only_not_semicolon() -> None:
    assert parse_query("a=1;b=2") == {"a": ["1;b=2"]}


def test_parse_query_of_bytes_decodes_raw_utf8_and_escapes_together() -> None:
    assert parse_query("name=Jos%C3%A9&city=Zürich".encode()) == {
        "name": ["José"],
        "city": ["Zürich"],
    }
    assert parse_query(b"a=\xff") == {"a": ["\ufffd"]}


def test_parse_query_over_max_fields_is_413_and_blank_pairs_do_not_count() -> None:
    assert parse_query("a=1&&&b=2&&", max_fields=2) == {"a": ["1"], "b": ["2"]}
    assert parse_query(b"\xc3\xa9=1&&b=2&", max_fields=2) == {"é": ["1"], "b": ["2"]}
    for data in ("a=1&b=2&c=3", b"a=1&b=2&\xc3\xa9=3"):
        with pytest.raises(RequestError) as caught:
            parse_query(data, max_fields=2)
        assert caught.value.status == 413


# -- boundary_of ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        (
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "----WebKitFormBoundary7MA4YWxkTrZu0gW",
        ),
        ('multipart/form-data; boundary="===============1234=="', "===============1234=="),
        ('multipart/form-data; charset=utf-8; BOUNDARY="a b:c"', "a b:c"),
        ("multipart/form-data;boundary=abc ; charset=utf-8", "abc"),
        ("multipart/form-data; boundary=abc;", "abc"),
        ('multipart/form-data; boundary="a\\"b"', 'a"b'),
        ("multipart/form-data; boundary=" + "x" * 70, "x" * 70),
        ("multipart/form-data; boundary=" + "x" * 71, None),
        ("multipart/form-data; boundary=", None),
        ('multipart/form-data; boundary=""', None),
        ('multipart/form-data; boundary="abc "', None),
        ("multipart/form-data; boundary=a b", None),
        ("multipart/form-data; boundary=abcé", None),
        ('multipart/form-data; boundary="abc', None),
        ("multipart/form-data; boundary", None),
        ("multipart/form-data", None),
        ("multipart/form-data; charset=utf-8", None),
    ],
)
def test_boundary_of_reads_the_parameter_quoted_or_not(
    content_type: str, boundary: str | None
) -> None:
    assert boundary_of(content_type) == boundary


# -- multipart: the format -------------------------------------------------------------------

CHROME_BODY = (
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="title"\r\n'
    b"\r\n"
    b"Caf\xc3\xa9 menu\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="notes"\r\n'
    b"\r\n"
    b"line one\r\nline two\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="photos[]"; filename="sun.png"\r\n'
    b"Content-Type: image/png\r\n"
    b"\r\n"
    b"\x89PNG\r\n\x1a\n\x00\x00\r\n--"
    b"\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="photos[]"; filename="my %22best%22 shot.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n"
    b"\r\n"
    b"\xff\xd8\xff\xe0"
    b"\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="attachment"; filename=""\r\n'
    b"Content-Type: application/octet-stream\r\n"
    b"\r\n"
    b"\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L--\r\n"
)
CHROME_BOUNDARY = "----WebKitFormBoundaryePkpFF7tjBAqx29L"


@pytest.fixture
def tmp_dir(tmp_path: Path) -> str:
    return str(tmp_path)


def parse(
    body: bytes, max_field_size: int = 1024 * 1024
) -> tuple[dict[str, list[str]], dict[str, list[UploadedFile]]]:
    """Parse a body of fields only, with the boundary the helpers below use."""
    return parse_multipart(body, "XyZ", max_field_size=max_field_size)


def multipart(*parts: bytes, boundary: bytes = b"XyZ") -> bytes:
    """A body whose parts are given as raw header block + CRLF CRLF + content."""
    delimiter = b"--" + boundary
    return b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"


def field(name: str, value: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value


def test_a_chrome_body_gives_fields_files_and_skips_the_empty_file_input(tmp_dir: str) -> None:
    fields, files = parse_multipart(CHROME_BODY, CHROME_BOUNDARY, tmp_dir=tmp_dir)
    assert fields == {"title": ["Café menu"], "notes": ["line one\r\nline two"]}
    assert list(files) == ["photos[]"]
    sun, shot = files["photos[]"]
    assert (sun.field, sun.filename, sun.content_type) == ("photos[]", "sun.png", "image/png")
    assert sun.read() == b"\x89PNG\r\n\x1a\n\x00\x00\r\n--"
    assert sun.size == 14
    assert shot.filename == "my %22best%22 shot.jpg"  # as the browser escaped it
    assert shot.read() == b"\xff\xd8\xff\xe0"
    assert sorted(os.listdir(tmp_dir)) == sorted(os.path.basename(f.path) for f in (sun, shot))
    assert all(name.startswith("workerman-upload-") for name in os.listdir(tmp_dir))


def test_preamble_epilogue_and_transport_padding_are_ignored() -> None:
    body = (
        b"This is the preamble.\r\n--XyZ \t\r\n"
        + field("a", b"1")
        + b"\r\n--XyZ\r\n"
        + field("b", b"2")
        + b"\r\n--XyZ--  \r\nThe epilogue, with --XyZ in it.\r\n"
    )
    assert parse(body) == ({"a": ["1"], "b": ["2"]}, {})


def test_an_empty_preamble_may_still_end_with_crlf() -> None:
    assert parse(b"\r\n--XyZ\r\n" + field("a", b"1") + b"\r\n--XyZ--") == ({"a": ["1"]}, {})


def test_the_close_delimiter_may_end_the_body_without_crlf() -> None:
    assert parse(b"--XyZ\r\n" + field("a", b"") + b"\r\n--XyZ--") == ({"a": [""]}, {})


def test_a_preamble_may_start_with_a_boundary_lookalike() -> None:
    body = b"--XyZX is not a delimiter\r\n--XyZ\r\n" + field("a", b"1") + b"\r\n--XyZ--"
    assert parse(body) == ({"a": ["1"]}, {})


def test_a_body_with_only_the_close_delimiter_has_no_parts() -> None:
    assert parse(b"--XyZ--\r\n") == ({}, {})


def test_boundary_lookalikes_inside_content_are_content() -> None:
    value = b"--XyZ at line start\r\n--XyZX\r\n--XyZ-\r\n--Xy\r\n-XyZ\r\n\r\n--XyZ\tno"
    assert parse(multipart(field("a", value))) == ({"a": [value.decode()]}, {})


def test_part_headers_are_case_insensitive_and_folded_lines_unfold() -> None:
    body = multipart(
        b'CONTENT-DISPOSITION: FORM-DATA; NAME="a"\r\ncontent-TYPE: text/plain;\r\n'
        b"  charset=iso-8859-1\r\n\r\n\xe9t\xe9"
    )
    assert parse(body) == ({"a": ["été"]}, {})


def test_a_field_without_charset_is_utf8_with_invalid_bytes_replaced() -> None:
    body = multipart(
        field("a", b"\xff ok"),
        b'Content-Disposition: form-data; name="b"\r\nContent-Type: text/plain; charset=x-nope'
        b"\r\n\r\n\xc3\xa9",
        b'Content-Disposition: form-data; name="c"\r\nContent-Type: text/plain; charset=idna'
        b"\r\n\r\n\xff",
    )
    assert parse(body) == ({"a": ["\ufffd ok"], "b": ["é"], "c": ["\ufffd"]}, {})


def test_quoted_parameters_unescape_quotes_and_keep_windows_paths(tmp_dir: str) -> None:
    body = multipart(
        b'Content-Disposition: form-data; name="say \\"hi\\"; now"; '
        b'filename="C:\\Users\\ann\\report.pdf"\r\n\r\n%PDF'
    )
    _, files = parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    upload = files['say "hi"; now'][0]
    assert upload.filename == "C:\\Users\\ann\\report.pdf"
    assert upload.safe_name == "report.pdf"
    assert upload.content_type == "application/octet-stream"


def test_unquoted_parameters_are_accepted() -> None:
    body = multipart(b"Content-Disposition: form-data; name=plain ; \r\n\r\nv")
    assert parse(body) == ({"plain": ["v"]}, {})


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (b"filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt", "€ rates.txt"),
        (b"filename*=utf-8'en'%E2%82%AC%20rates.txt; filename=\"fallback.txt\"", "€ rates.txt"),
        (b"filename*=iso-8859-1''caf%E9.txt", "café.txt"),
        (b"filename*=\"UTF-8''quoted%20anyway.txt\"", "quoted anyway.txt"),
        (b"filename*=x-unknown''%C3%A9.txt", "é.txt"),
        (b"filename*=UTF-8''%FF.txt", "\ufffd.txt"),
    ],
)
def test_filename_star_rfc5987_wins_over_filename(
    disposition: bytes, filename: str, tmp_dir: str
) -> None:
    body = multipart(b'Content-Disposition: form-data; name="f"; ' + disposition + b"\r\n\r\nx")
    _, files = parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    assert files["f"][0].filename == filename


def test_name_star_rfc5987_names_a_field() -> None:
    body = multipart(b"Content-Disposition: form-data; name*=UTF-8''pr%C3%A9nom\r\n\r\nAnn")
    assert parse(body) == ({"prénom": ["Ann"]}, {})


def test_a_file_part_with_a_name_but_no_bytes_is_an_empty_file(tmp_dir: str) -> None:
    body = multipart(b'Content-Disposition: form-data; name="f"; filename="empty.txt"\r\n\r\n')
    _, files = parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    assert files["f"][0].size == 0
    assert files["f"][0].read() == b""


def test_a_file_part_with_bytes_but_no_filename_is_kept(tmp_dir: str) -> None:
    body = multipart(b'Content-Disposition: form-data; name="f"; filename=""\r\n\r\nblob')
    _, files = parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    assert (files["f"][0].filename, files["f"][0].read()) == ("", b"blob")


# -- multipart: against encoders we did not write ---------------------------------------------

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1)
CONTENT = st.lists(
    st.one_of(
        st.binary(max_size=20),
        st.sampled_from([b"\r\n", b"\r", b"\n", b"--", b"\r\n--", b"\r\n--b0und", b"--b0undary"]),
    ),
    max_size=8,
).map(b"".join)
BOUNDARY = "b0undary-Q"


def email_form(
    fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]
) -> tuple[str, bytes]:
    """A multipart/form-data body as Python's email package generates it."""
    message = EmailMessage(policy=HTTP)
    message.make_mixed()
    message.set_type("multipart/form-data")
    message.set_boundary(BOUNDARY)
    for name, value in fields:
        part = EmailMessage(policy=HTTP)
        part.set_content(value.encode(), "text", "plain", cte="binary", disposition="form-data")
        del part["Content-Type"], part["Content-Transfer-Encoding"]
        part.set_param("name", name, header="Content-Disposition")
        message.attach(part)
    for name, filename, data in files:
        part = EmailMessage(policy=HTTP)
        part.set_content(
            data, "application", "x-test", cte="binary", disposition="form-data", filename=filename
        )
        part.set_param("name", name, header="Content-Disposition")
        message.attach(part)
    out = io.BytesIO()
    BytesGenerator(out, policy=HTTP).flatten(message)
    return str(message["Content-Type"]), out.getvalue().partition(b"\r\n\r\n")[2]


def crlf(data: bytes) -> bytes:
    """The bytes as the email generator writes them: every line break as CRLF."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


@settings(max_examples=150, deadline=None)
@given(
    fields=st.lists(st.tuples(NAMES, st.text(st.characters(codec="utf-8"))), max_size=4),
    files=st.lists(st.tuples(NAMES, NAMES, CONTENT), max_size=4),
)
def test_bodies_from_the_email_package_parse_back_to_what_was_encoded(
    fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]
) -> None:
    assume(fields or files)  # with no parts, email writes a body no browser would
    for content in [crlf(value.encode()) for _, value in fields] + [crlf(d) for *_, d in files]:
        assume(b"--" + BOUNDARY.encode() not in content)
    content_type, body = email_form(fields, files)
    boundary = boundary_of(content_type)
    assert boundary == BOUNDARY
    parsed_fields, parsed_files = parse_multipart(body, boundary)
    try:
        expected: dict[str, list[str]] = {}
        for name, value in fields:
            expected.setdefault(name, []).append(crlf(value.encode()).decode())
        assert parsed_fields == expected
        got = [(f.field, f.filename, f.content_type, f.read()) for f in _all(parsed_files)]
        want = [(n, fn, "application/x-test", crlf(d)) for n, fn, d in files]
        assert sorted(got) == sorted(want)
    finally:
        for upload in _all(parsed_files):
            upload.cleanup()


def _all(files: dict[str, list[UploadedFile]]) -> Iterator[UploadedFile]:
    for uploads in files.values():
        yield from uploads


def test_a_body_from_playwright_parses_back(tmp_dir: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    request = _capture_one_request()
    data = b"\x00\xff\r\n--\r\n----WebKitFormBoundary\r\n" * 50
    with sync_api.sync_playwright() as playwright:
        context = playwright.request.new_context()
        response = context.post(
            request.url,
            multipart={
                "comment": "multi\r\nline é",
                "upload": {"name": "data.bin", "mimeType": "application/x-raw", "buffer": data},
            },
        )
        assert response.status == 200
        context.dispose()
    request.thread.join(5)
    boundary = boundary_of(request.headers["content-type"])
    assert boundary is not None and boundary.startswith("----WebKitFormBoundary")
    fields, files = parse_multipart(request.body, boundary, tmp_dir=tmp_dir)
    assert fields == {"comment": ["multi\r\nline é"]}
    upload = files["upload"][0]
    assert (upload.filename, upload.content_type, upload.read()) == (
        "data.bin",
        "application/x-raw",
        data,
    )


class _CapturedRequest:
    def __init__(self) -> None:
        self.url = ""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.thread = threading.Thread()


def _capture_one_request() -> _CapturedRequest:
    """A one-shot HTTP server on a thread that keeps the request it receives."""
    captured = _CapturedRequest()
    server = socket.create_server(("127.0.0.1", 0))
    captured.url = f"http://127.0.0.1:{server.getsockname()[1]}/upload"

    def serve() -> None:
        with server, server.accept()[0] as conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                captured.headers[name.strip().lower()] = value.strip()
            while len(body) < int(captured.headers["content-length"]):
                body += conn.recv(65536)
            captured.body = body
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    captured.thread = threading.Thread(target=serve, daemon=True)
    captured.thread.start()
    return captured


# -- multipart: errors and limits -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty body"),
        pytest.param(b"no delimiter at all", id="no delimiter"),
        pytest.param(b"--XyZ\r\n" + field("a", b"1") + b"\r\n", id="no closing delimiter"),
        pytest.param(b"--XyZ\r\n" + field("a", b"1") + b"\r\n--XyZX", id="close lookalike"),
        pytest.param(multipart(b"Content-Type: text/plain\r\n\r\nx"), id="no disposition"),
        pytest.param(multipart(b"\r\nx"), id="no headers"),
        pytest.param(
            multipart(b'Content-Disposition: attachment; name="a"\r\n\r\nx'), id="not form-data"
        ),
        pytest.param(multipart(b"Content-Disposition: form-data\r\n\r\nx"), id="no name"),
        pytest.param(
            multipart(b'Content-Disposition: form-data; filename="a"\r\n\r\nx'), id="only filename"
        ),
        pytest.param(
            multipart(b'Content-Disposition: form-data; name="a" junk\r\n\r\nx'), id="junk param"
        ),
        pytest.param(
            multipart(b'Content-Disposition: form-data; name="a\r\n\r\nx'), id="unterminated quote"
        ),
        pytest.param(multipart(b"Content-Disposition: form-data; name\r\n\r\nx"), id="bare param"),
        pytest.param(multipart(b"not a header\r\n" + field("a", b"x")), id="header without colon"),
        pytest.param(
            multipart(b'Content-Disposition : form-data; name="a"\r\n\r\nx'), id="space in name"
        ),
        pytest.param(
            multipart(b'Content-Disposition: form-data; name="a\nb"\r\n\r\nx'), id="bare LF"
        ),
        pytest.param(multipart(b'Content-Disposition: form-data; name="a\x00"\r\n\r\nx'), id="NUL"),
        pytest.param(
            multipart(b' Content-Disposition: form-data; name="a"\r\n\r\nx'), id="leading fold"
        ),
        pytest.param(
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n--XyZ--\r\n',
            id="headers without blank line",
        ),
        pytest.param(
            multipart(b"X-Pad: " + b"p" * 20_000 + b"\r\n" + field("a", b"x")), id="huge headers"
        ),
    ],
)
def test_a_malformed_body_is_400(body: bytes, tmp_dir: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    assert caught.value.status == 400
    assert os.listdir(tmp_dir) == []


def test_a_boundary_that_is_not_ascii_is_400() -> None:
    with pytest.raises(RequestError) as caught:
        parse_multipart(b"--\xc3\xa9--", "é")
    assert caught.value.status == 400


def file_part(name: str, filename: str, data: bytes) -> bytes:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n\r\n'.encode()
        + data
    )


def test_temporary_files_already_written_are_deleted_when_a_later_part_is_bad(
    tmp_dir: str,
) -> None:
    body = multipart(
        file_part("a", "a.txt", b"A"),
        file_part("b", "b.txt", b"B"),
        b"Content-Disposition: form-data\r\n\r\nno name",
    )
    with pytest.raises(RequestError) as caught:
        parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    assert caught.value.status == 400
    assert os.listdir(tmp_dir) == []


def test_more_fields_than_max_fields_is_413(tmp_dir: str) -> None:
    body = multipart(file_part("f", "f.txt", b"F"), *(field(f"k{i}", b"v") for i in range(4)))
    assert len(parse_multipart(body, "XyZ", max_fields=4, tmp_dir=tmp_dir)[0]) == 4
    for path in os.listdir(tmp_dir):
        os.unlink(os.path.join(tmp_dir, path))
    with pytest.raises(RequestError) as caught:
        parse_multipart(body, "XyZ", max_fields=3, tmp_dir=tmp_dir)
    assert caught.value.status == 413
    assert os.listdir(tmp_dir) == []


def test_a_field_over_max_field_size_is_413() -> None:
    body = multipart(field("a", b"12345"))
    assert parse(body, max_field_size=5) == ({"a": ["12345"]}, {})
    with pytest.raises(RequestError) as caught:
        parse(body, max_field_size=4)
    assert caught.value.status == 413


def test_more_files_than_max_files_is_413_and_no_file_is_left(tmp_dir: str) -> None:
    body = multipart(*(file_part("f", f"{i}.txt", b"x") for i in range(3)), file_part("g", "", b""))
    _, files = parse_multipart(body, "XyZ", max_files=3, tmp_dir=tmp_dir)
    assert [f.filename for f in files["f"]] == ["0.txt", "1.txt", "2.txt"]  # the empty one is free
    for upload in files["f"]:
        upload.cleanup()
    with pytest.raises(RequestError) as caught:
        parse_multipart(body, "XyZ", max_files=2, tmp_dir=tmp_dir)
    assert caught.value.status == 413
    assert os.listdir(tmp_dir) == []


def test_empty_file_parts_are_free_until_the_parts_outnumber_both_limits() -> None:
    empty = file_part("g", "", b"")
    assert parse_multipart(
        multipart(field("a", b"1"), *[empty] * 4), "XyZ", max_fields=2, max_files=3
    ) == ({"a": ["1"]}, {})
    with pytest.raises(RequestError) as caught:
        parse_multipart(multipart(field("a", b"1"), *[empty] * 5), "XyZ", max_fields=2, max_files=3)
    assert caught.value.status == 413


def test_a_five_mib_file_full_of_boundary_lookalikes_parses(tmp_dir: str) -> None:
    data = (b"\r\n--XyZ!" + bytes(range(256)) + b"\r\n--X\r\n") * 20_000
    assert len(data) > 5 * 1024 * 1024
    body = multipart(field("a", b"1"), file_part("big", "big.bin", data))
    fields, files = parse_multipart(body, "XyZ", tmp_dir=tmp_dir)
    assert fields == {"a": ["1"]}
    assert files["big"][0].size == len(data)
    assert files["big"][0].read() == data


# -- uploaded files ------------------------------------------------------------------------------


def upload_in(tmp_dir: str, data: bytes = b"payload") -> UploadedFile:
    _, files = parse_multipart(
        multipart(file_part("doc", "../../etc/passwd", data)), "XyZ", tmp_dir=tmp_dir
    )
    return files["doc"][0]


@pytest.mark.parametrize(
    ("filename", "safe"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\cv.pdf", "cv.pdf"),
        ("dir/", ""),
        ("..", ""),
        (".", ""),
        ("", ""),
        ("a\x00b\r\n.txt", "ab.txt"),
        (" spaced name.txt ", "spaced name.txt"),
    ],
)
def test_safe_name_drops_directories_and_control_characters(filename: str, safe: str) -> None:
    assert UploadedFile("f", filename, "text/plain", 0, "/nonexistent").safe_name == safe


def test_read_and_open_give_the_bytes(tmp_dir: str) -> None:
    upload = upload_in(tmp_dir)
    assert upload.read() == b"payload"
    with upload.open() as f:
        assert f.read(3) == b"pay"
    assert "doc" in repr(upload) and "size=7" in repr(upload)


def test_cleanup_deletes_the_temporary_file_and_is_idempotent(tmp_dir: str) -> None:
    upload = upload_in(tmp_dir)
    assert os.path.exists(upload.path)
    upload.cleanup()
    assert not os.path.exists(upload.path)
    upload.cleanup()


def test_cleanup_of_a_file_already_gone_is_quiet(tmp_dir: str) -> None:
    upload = upload_in(tmp_dir)
    os.unlink(upload.path)
    upload.cleanup()


def test_save_moves_the_file_and_cleanup_then_leaves_it(tmp_dir: str, tmp_path: Path) -> None:
    upload = upload_in(tmp_dir)
    temporary = upload.path
    dest = tmp_path / "kept" / upload.safe_name
    dest.parent.mkdir()
    assert upload.save(dest) == str(dest)
    assert not os.path.exists(temporary)
    assert upload.path == str(dest)
    upload.cleanup()
    assert dest.read_bytes() == b"payload"
    assert upload.read() == b"payload"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644


def test_save_with_mode_none_keeps_the_private_mode(tmp_dir: str, tmp_path: Path) -> None:
    upload = upload_in(tmp_dir)
    upload.save(str(tmp_path / "private"), mode=None)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_save_across_filesystems_copies_then_deletes(
    tmp_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = upload_in(tmp_dir)
    temporary = upload.path

    def cross_device(src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", cross_device)
    dest = tmp_path / "copied.bin"
    assert upload.save(dest) == str(dest)
    assert dest.read_bytes() == b"payload"
    assert not os.path.exists(temporary)
    upload.cleanup()
    assert dest.exists()


def test_save_to_a_missing_directory_raises_and_keeps_the_upload(
    tmp_dir: str, tmp_path: Path
) -> None:
    upload = upload_in(tmp_dir)
    with pytest.raises(FileNotFoundError):
        upload.save(tmp_path / "missing" / "x")
    assert upload.read() == b"payload"
    upload.cleanup()
    assert os.listdir(tmp_dir) == []


# -- JSON ------------------------------------------------------------------------------------------


def test_parse_json_gives_the_value() -> None:
    assert parse_json(b'{"name": "Jos\xc3\xa9", "tags": [1, 2.5, null]}') == {
        "name": "José",
        "tags": [1, 2.5, None],
    }
    assert parse_json(b"[]") == []
    assert parse_json(b'\xef\xbb\xbf{"bom": true}') == {"bom": True}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{'single': 1}", id="not JSON"),
        pytest.param(b'{"a": 1', id="truncated"),
        pytest.param(b'"\xff"', id="not UTF-8"),
        pytest.param('{"a": 1}'.encode("utf-16"), id="UTF-16"),
        pytest.param(b"[" * 200_000 + b"]" * 200_000, id="nested too deep"),
        pytest.param(b"1" * 5000, id="integer too long"),
    ],
)
def test_invalid_json_is_400(body: bytes) -> None:
    with pytest.raises(RequestError) as caught:
        parse_json(body)
    assert caught.value.status == 400
