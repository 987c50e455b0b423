"""Real clients against the server: curl, wrk, urllib, http.client and h11, plain and TLS."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import Any, ClassVar

import anyio
import h11
import pytest
import trustme

from workerman.core import TcpConnection, Worker, statistics
from workerman.core.http import Http, Request, Response

from ..conftest import port_of, serving
from ._raw import need_tool

pytestmark = pytest.mark.anyio


def describe(connection: TcpConnection, req: Request) -> None:
    """Answers with JSON describing what arrived, uploads by md5."""
    files = {
        name: [
            {"filename": f.filename, "type": f.content_type, "size": f.size, "md5": md5(f.read())}
            for f in items
        ]
        for name, items in req.file().items()
    }
    connection.send(
        Response(
            200,
            {"Content-Type": "application/json"},
            json.dumps(
                {
                    "method": req.method,
                    "path": req.path,
                    "get": req.get(),
                    "post": req.post(),
                    "files": files,
                    "expect": req.header("expect"),
                    "connection": connection.id,
                    "version": req.protocol_version,
                }
            ),
        )
    )


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def describe_worker(**kwargs: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0", name="describe", **kwargs)
    worker.on_message = describe
    return worker


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    path = tmp_path / "upload.bin"
    path.write_bytes(os.urandom(300_000) + b"\r\n--boundary-like\r\n" + os.urandom(1000))
    return path


# -- curl ------------------------------------------------------------------------------


async def curl(*args: str) -> bytes:
    result = await anyio.run_process([need_tool("curl"), "-sS", "--max-time", "10", *args])
    return result.stdout


async def test_curl_get_and_post_forms(anyio_backend: str) -> None:
    worker = describe_worker()
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}"
        got = json.loads(await curl(f"{url}/a%20b?x=1&y=two"))
        posted = json.loads(await curl("-d", "name=J%C3%B6rg&n=2", f"{url}/form"))
        as_json = json.loads(
            await curl("-H", "Content-Type: application/json", "-d", '{"k": [1, "v"]}', url)
        )
    assert (got["method"], got["path"], got["get"]) == ("GET", "/a b", {"x": "1", "y": "two"})
    assert (posted["method"], posted["post"]) == ("POST", {"name": "Jörg", "n": "2"})
    assert as_json["post"] == {"k": [1, "v"]}


async def test_curl_uploads_a_multipart_file(anyio_backend: str, upload: Path) -> None:
    worker = describe_worker()
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}/up"
        answer = json.loads(
            await curl(
                "-F",
                f"doc=@{upload};type=application/x-test",
                "-F",
                "note=hello",
                "-F",
                f"more=@{upload};filename=second.bin",
                url,
            )
        )
    content = upload.read_bytes()
    assert answer["post"] == {"note": "hello"}
    assert answer["files"] == {
        "doc": [
            {
                "filename": "upload.bin",
                "type": "application/x-test",
                "size": len(content),
                "md5": md5(content),
            }
        ],
        "more": [
            {
                "filename": "second.bin",
                "type": "application/octet-stream",
                "size": len(content),
                "md5": md5(content),
            }
        ],
    }


async def test_uploads_are_removed_after_the_response(
    anyio_backend: str, upload: Path, tmp_path: Path
) -> None:
    paths: list[str] = []
    kept = tmp_path / "kept.bin"

    def handler(connection: TcpConnection, req: Request) -> None:
        first, second = req.file("doc"), req.file("keep")
        paths.extend([first.path, second.path])
        assert os.path.exists(first.path)
        second.save(kept)
        connection.send("ok")

    worker = Worker("http://127.0.0.1:0")
    worker.on_message = handler
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}/"
        await curl("-F", f"doc=@{upload}", "-F", f"keep=@{upload}", url)
    assert not os.path.exists(paths[0])
    assert kept.read_bytes() == upload.read_bytes()


async def test_curl_waits_for_100_continue_before_a_big_upload(
    anyio_backend: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    worker = describe_worker()
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}/put"
        result = await anyio.run_process(
            [
                need_tool("curl"),
                "-sS",
                "-v",
                "--max-time",
                "10",
                "--expect100-timeout",
                "8",
                "-H",
                "Expect: 100-continue",
                "-F",
                f"big=@{big}",
                url,
            ]
        )
    answer = json.loads(result.stdout)
    assert answer["expect"] == "100-continue"
    assert answer["files"]["big"][0]["md5"] == md5(big.read_bytes())
    assert b"< HTTP/1.1 100 Continue" in result.stderr


async def test_curl_http_1_0_and_head(anyio_backend: str) -> None:
    worker = describe_worker()
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}/x"
        old = json.loads(await curl("--http1.0", url))
        head = await curl("-I", url)
    assert old["version"] == "1.0"
    status, _, rest = head.partition(b"\r\n")
    assert status == b"HTTP/1.1 200 OK"
    assert re.search(rb"\r\nContent-Length: [1-9][0-9]*\r\n", b"\r\n" + rest)
    assert head.endswith(b"\r\n\r\n")


async def test_curl_reuses_one_connection_for_several_urls(anyio_backend: str) -> None:
    worker = describe_worker()
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}"
        out = await curl(f"{url}/1", f"{url}/2", f"{url}/3")
    answers = [json.loads(part) for part in out.replace(b"}{", b"}\n{").splitlines()]
    assert [a["path"] for a in answers] == ["/1", "/2", "/3"]
    assert len({a["connection"] for a in answers}) == 1


# -- wrk -------------------------------------------------------------------------------


async def test_wrk_for_two_seconds_gets_only_2xx(anyio_backend: str) -> None:
    wrk = need_tool("wrk")
    worker = Worker("http://127.0.0.1:0", name="hello")
    worker.on_message = lambda connection, req: connection.send("Hello World")
    async with serving(anyio_backend, worker):
        result = await anyio.run_process(
            [wrk, "-t", "2", "-c", "20", "-d", "2s", f"http://127.0.0.1:{port_of(worker)}/"]
        )
    out = result.stdout.decode()
    done = re.search(r"(\d+) requests in", out)
    assert done is not None, out
    assert int(done.group(1)) > 1000, out
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    assert statistics.protocol_errors == 0


# -- urllib and http.client ------------------------------------------------------------


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    for name, (filename, data) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def urllib_calls(port: int, upload: bytes) -> list[Any]:
    url = f"http://127.0.0.1:{port}"
    results = []
    with urllib.request.urlopen(f"{url}/get?q=%E2%9C%93", timeout=5) as response:
        results.append((response.status, json.loads(response.read())))
    content_type, body = multipart({"title": "pic"}, {"image": ("p.png", upload)})
    posted = urllib.request.Request(
        f"{url}/upload", data=body, headers={"Content-Type": content_type}, method="POST"
    )
    with urllib.request.urlopen(posted, timeout=5) as response:
        results.append((response.status, json.loads(response.read())))
    try:
        urllib.request.urlopen(f"{url}/missing", timeout=5)
    except urllib.error.HTTPError as exc:
        results.append((exc.code, exc.read()))
    return results


async def test_urllib_gets_posts_and_uploads(anyio_backend: str) -> None:
    data = os.urandom(50_000)

    def handler(connection: TcpConnection, req: Request) -> None:
        if req.path == "/missing":
            connection.send(Response(404, body="no such page"))
        else:
            describe(connection, req)

    worker = Worker("http://127.0.0.1:0")
    worker.on_message = handler
    async with serving(anyio_backend, worker):
        (get, upload, missing) = await anyio.to_thread.run_sync(urllib_calls, port_of(worker), data)
    assert get[0] == 200 and get[1]["get"] == {"q": "✓"}
    assert upload[0] == 200
    assert upload[1]["post"] == {"title": "pic"}
    assert upload[1]["files"]["image"] == [
        {"filename": "p.png", "type": "image/png", "size": len(data), "md5": md5(data)}
    ]
    assert missing == (404, b"no such page")


def http_client_calls(port: int, upload: bytes) -> list[Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    results = []
    try:
        for i in range(3):
            conn.request("GET", f"/n/{i}")
            response = conn.getresponse()
            results.append(json.loads(response.read()))
        content_type, body = multipart({}, {"blob": ("b.bin", upload)})
        conn.request("POST", "/up", body=body, headers={"Content-Type": content_type})
        results.append(json.loads(conn.getresponse().read()))
        conn.request("HEAD", "/head")
        response = conn.getresponse()
        results.append((response.status, response.getheader("content-length"), response.read()))
        conn.request(
            "POST",
            "/chunked",
            body=iter([b"a=1", b"&b=2"]),
            encode_chunked=True,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        results.append(json.loads(conn.getresponse().read()))
    finally:
        conn.close()
    return results


async def test_http_client_keeps_one_connection_for_many_requests(anyio_backend: str) -> None:
    data = os.urandom(100_000)
    connects: list[int] = []
    worker = describe_worker()
    worker.on_connect = lambda connection: connects.append(connection.id)
    async with serving(anyio_backend, worker):
        results = await anyio.to_thread.run_sync(http_client_calls, port_of(worker), data)
    gets, upload, head, chunked = results[:3], results[3], results[4], results[5]
    assert [g["path"] for g in gets] == ["/n/0", "/n/1", "/n/2"]
    assert upload["files"]["blob"][0]["md5"] == md5(data)
    assert head[0] == 200 and int(head[1]) > 0 and head[2] == b""
    assert chunked["post"] == {"a": "1", "b": "2"}
    assert len(connects) == 1
    assert len({r["connection"] for r in [*gets, upload, chunked]}) == 1


# -- h11 as a client -------------------------------------------------------------------


def h11_calls(port: int) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    client = h11.Connection(our_role=h11.CLIENT)
    results = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:

        def send(*events: Any) -> None:
            for event in events:
                data = client.send(event)
                if data:
                    sock.sendall(data)

        def receive() -> tuple[int, dict[bytes, bytes], bytes]:
            status, headers, body = 0, {}, b""
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(sock.recv(65536))
                elif isinstance(event, h11.Response):
                    status, headers = event.status_code, dict(event.headers)
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return status, headers, body

        host = ("Host", f"127.0.0.1:{port}")
        send(h11.Request(method="GET", target="/h11?a=b", headers=[host]), h11.EndOfMessage())
        results.append(receive())
        client.start_next_cycle()
        # no Content-Length: h11 sends the body chunked
        send(
            h11.Request(
                method="POST",
                target="/chunked",
                headers=[
                    host,
                    ("Transfer-Encoding", "chunked"),
                    ("Content-Type", "application/json"),
                ],
            ),
            h11.Data(data=b'{"parts": '),
            h11.Data(data=b"[1, 2]}"),
            h11.EndOfMessage(),
        )
        results.append(receive())
        client.start_next_cycle()
        send(h11.Request(method="GET", target="/last", headers=[host]), h11.EndOfMessage())
        results.append(receive())
        assert client.our_state is h11.DONE and client.their_state is h11.DONE
    return results


async def test_h11_client_gets_and_posts_chunked_on_one_connection(anyio_backend: str) -> None:
    worker = describe_worker()
    async with serving(anyio_backend, worker):
        results = await anyio.to_thread.run_sync(h11_calls, port_of(worker))
    answers = [json.loads(body) for _, _, body in results]
    assert [status for status, _, _ in results] == [200, 200, 200]
    assert results[0][1][b"content-type"] == b"application/json"
    assert answers[0]["get"] == {"a": "b"}
    assert answers[1]["post"] == {"parts": [1, 2]}
    assert answers[2]["path"] == "/last"
    assert len({a["connection"] for a in answers}) == 1


# -- HTTPS -----------------------------------------------------------------------------


def https_calls(port: int, context: ssl.SSLContext) -> list[tuple[int, bytes]]:
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=5)
    try:
        results = []
        for body in (b"", b"x=1"):
            conn.request(
                "POST" if body else "GET",
                "/tls",
                body=body or None,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = conn.getresponse()
            results.append((response.status, response.read()))
        return results
    finally:
        conn.close()


async def test_https_with_an_ssl_context(anyio_backend: str) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    transports: list[str] = []

    def handler(connection: TcpConnection, req: Request) -> None:
        transports.append(connection.transport)
        connection.send(f"{req.method} {req.post('x')} {connection.id}")

    worker = Worker("http://127.0.0.1:0", ssl=server_context)
    worker.on_message = handler
    async with serving(anyio_backend, worker):
        results = await anyio.to_thread.run_sync(https_calls, port_of(worker), client_context)
    (get_status, get_body), (post_status, post_body) = results
    assert (get_status, post_status) == (200, 200)
    assert get_body.split()[:2] == [b"GET", b"None"]
    assert post_body.split()[:2] == [b"POST", b"1"]
    assert get_body.split()[2] == post_body.split()[2]  # one TLS connection for both
    assert transports == ["ssl", "ssl"]


def https_download(port: int, context: ssl.SSLContext, upload: bytes) -> list[tuple[int, bytes]]:
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
    try:
        results = []
        conn.request("GET", "/file")
        response = conn.getresponse()
        results.append((response.status, response.read()))
        conn.request("POST", "/echo", body=upload)
        response = conn.getresponse()
        results.append((response.status, response.read()))
        return results
    finally:
        conn.close()


async def test_https_streams_a_file_and_takes_a_large_body(
    anyio_backend: str, tmp_path: Path
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    content = os.urandom(3 * 1024 * 1024)
    path = tmp_path / "tls.bin"
    path.write_bytes(content)
    upload = os.urandom(2 * 1024 * 1024)

    def handler(connection: TcpConnection, req: Request) -> None:
        if req.path == "/file":
            connection.send(Response().with_file(path))
        else:
            connection.send(md5(req.raw_body))

    worker = Worker("http://127.0.0.1:0", ssl=server_context)
    worker.on_message = handler
    worker.on_connect = lambda connection: setattr(connection, "max_send_buffer_size", 65536)
    async with serving(anyio_backend, worker):
        results = await anyio.to_thread.run_sync(
            https_download, port_of(worker), client_context, upload
        )
    (file_status, body), (echo_status, digest) = results
    assert (file_status, md5(body)) == (200, md5(content))
    assert (echo_status, digest.decode()) == (200, md5(upload))


async def test_upload_count_and_place_come_from_the_workers_http_settings(
    anyio_backend: str, upload: Path, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()

    class Uploads(Http):
        max_file_uploads: ClassVar[int] = 2
        upload_tmp_dir: ClassVar[str] = str(spool)

    places: list[str] = []

    def handler(connection: TcpConnection, req: Request) -> None:
        places.extend(os.path.dirname(f.path) for items in req.file().values() for f in items)
        connection.send(str(len(places)))

    worker = Worker("http://127.0.0.1:0", protocol=Uploads)
    worker.on_message = handler
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}/"
        two = await curl("-i", "-F", f"a=@{upload}", "-F", f"b=@{upload}", url)
        three = await curl(
            "-i", "-F", f"a=@{upload}", "-F", f"b=@{upload}", "-F", f"c=@{upload}", url
        )
    assert two.startswith(b"HTTP/1.1 200 OK\r\n") and two.endswith(b"\r\n\r\n2")
    assert three.startswith(b"HTTP/1.1 413 ")
    assert places == [str(spool), str(spool)]
    assert os.listdir(spool) == []  # spooled files are gone after the response, even on a 413
