"""HTTPS against uvicorn with a trustme CA, and Python's http.server (HTTP/1.0 and 1.1)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workerman.http_client import ConnectError, HttpClient

pytestmark = pytest.mark.anyio


async def test_https_verified_against_the_given_ca(
    loop: None, https_url: str, tls_ca: tuple[str, str, str]
) -> None:
    async with HttpClient(verify=tls_ca[0]) as http:
        response = await http.get(f"{https_url}/hello")
        assert response.content == b"Hello World"
        assert (await http.get(f"{https_url}/echo")).parse_json()["headers"]  # reused
        (counts,) = http.stats().values()
        assert counts["idle"] == 1


async def test_an_unknown_ca_is_refused_by_default(http: HttpClient, https_url: str) -> None:
    with pytest.raises(ConnectError, match=r"(?i)certificate"):
        await http.get(f"{https_url}/hello")


async def test_a_name_the_certificate_does_not_cover_is_refused(
    loop: None, https_url: str, tls_ca: tuple[str, str, str]
) -> None:
    port = https_url.rsplit(":", 1)[1]
    context = ssl.create_default_context(cafile=tls_ca[0])
    async with HttpClient(verify=context) as http:
        with pytest.raises(ConnectError):
            await http.get(f"https://127.0.0.2:{port}/hello")


async def test_verify_false_connects_and_warns_once(
    loop: None, https_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from workerman.http_client import _tls

    _tls._warned = False
    async with HttpClient(verify=False) as http:
        assert (await http.get(f"{https_url}/hello")).status_code == 200
    async with HttpClient(verify=False) as http:
        assert (await http.get(f"{https_url}/hello")).status_code == 200
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 1


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.request_version} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if self.path != "/no-length":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/no-length":
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def _serve(version: str) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"protocol_version": version})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def stdlib_10() -> Iterator[str]:
    yield from _serve("HTTP/1.0")


@pytest.fixture
def stdlib_11() -> Iterator[str]:
    yield from _serve("HTTP/1.1")


async def test_http_server_speaking_http_10(http: HttpClient, stdlib_10: str) -> None:
    for _ in range(3):
        response = await http.get(f"{stdlib_10}/path?x=1")
        assert response.http_version == "HTTP/1.0"
        assert response.content == b"HTTP/1.1 /path?x=1"
    assert http.stats() == {}  # HTTP/1.0 without keep-alive: closed after each


async def test_http_server_speaking_http_11(http: HttpClient, stdlib_11: str) -> None:
    for _ in range(3):
        assert (await http.get(f"{stdlib_11}/a")).content == b"HTTP/1.1 /a"
    (counts,) = http.stats().values()
    assert counts["idle"] == 1
    assert (await http.get(f"{stdlib_11}/no-length")).content == b"HTTP/1.1 /no-length"
