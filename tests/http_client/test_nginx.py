"""The client against nginx (Debian's package), started by the tests on free ports with a
temporary config: static files, gzip, redirects, keep-alive limits and idle closes,
responses proxied from uvicorn, Expect: 100-continue, HTTPS with the trustme CA."""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from workerman.http_client import HttpClient, Timeout

from .._missing import missing

pytestmark = pytest.mark.anyio

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
BIG = 20 * 1024 * 1024 + 3

CONFIG = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    types {{ text/plain txt; application/json json; }}
    keepalive_requests 3;
    keepalive_timeout 1s;
    gzip on;
    gzip_types text/plain application/json;
    gzip_min_length 10;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        root {dir}/www;
        location = /redirect {{ return 301 /files/small.txt; }}
        location /upload {{
            client_max_body_size 64k;
            proxy_pass {upstream}/echo;
            proxy_http_version 1.1;
        }}
        location /proxied/ {{
            proxy_pass {upstream}/;
            proxy_http_version 1.1;
            proxy_buffering off;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def nginx(
    tmp_path_factory: pytest.TempPathFactory, uvicorn_url: str, tls_ca: tuple[str, str, str]
) -> Iterator[tuple[str, str]]:
    """(http URL, https URL) of an nginx of our own."""
    if NGINX is None:
        missing("nginx is not installed (apt-get install nginx-light)")
    folder = tmp_path_factory.mktemp("nginx")
    files = folder / "www" / "files"
    files.mkdir(parents=True)
    (files / "small.txt").write_text("small file\n")
    (files / "text.txt").write_text("gzip me " * 4000)
    (files / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256) + b"end")
    port, tls_port = _free_port(), _free_port()
    _ca, chain, key = tls_ca
    config = folder / "nginx.conf"
    config.write_text(
        CONFIG.format(
            dir=folder, port=port, tls_port=tls_port, chain=chain, key=key, upstream=uvicorn_url
        )
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", tls_port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", f"https://localhost:{tls_port}"
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


async def test_static_files_keep_alive_and_head(nginx: tuple[str, str]) -> None:
    url, _ = nginx
    async with HttpClient() as http:
        small = await http.get(f"{url}/files/small.txt")
        assert small.content == b"small file\n" and small.headers["server"].startswith("nginx")
        big = await http.get(f"{url}/files/big.bin")
        assert len(big.content) == BIG and big.content.endswith(b"end")
        head = await http.head(f"{url}/files/big.bin")
        assert head.headers["content-length"] == str(BIG) and head.content == b""
        missing_file = await http.get(f"{url}/files/nope")
        assert missing_file.status_code == 404


async def test_gzip_is_decoded(nginx: tuple[str, str]) -> None:
    url, _ = nginx
    async with HttpClient() as http:
        response = await http.get(f"{url}/files/text.txt")
        assert response.headers["content-encoding"] == "gzip"
        assert response.content == b"gzip me " * 4000
        async with http.stream("GET", f"{url}/files/text.txt") as streamed:
            raw = b"".join([chunk async for chunk in streamed.iter_raw()])
        assert gzip.decompress(raw) == b"gzip me " * 4000


async def test_redirect(nginx: tuple[str, str]) -> None:
    url, _ = nginx
    async with HttpClient() as http:
        response = await http.get(f"{url}/redirect")
        assert response.content == b"small file\n"
        assert [r.status_code for r in response.history] == [301]


async def test_keepalive_requests_limit_and_idle_close(nginx: tuple[str, str]) -> None:
    url, _ = nginx
    async with HttpClient() as http:
        for _ in range(7):  # nginx closes every connection after its third response
            assert (await http.get(f"{url}/files/small.txt")).status_code == 200
        (counts,) = http.stats().values()
        assert counts == {"idle": 1, "in_use": 0, "waiting": 0}
        with anyio.fail_after(10):  # nginx closes the idle connection after 1 s
            while http.stats():
                await anyio.sleep(0.05)
        assert (await http.get(f"{url}/files/small.txt")).status_code == 200


async def test_chunked_responses_through_nginx(nginx: tuple[str, str]) -> None:
    url, _ = nginx
    async with HttpClient() as http:
        response = await http.get(f"{url}/proxied/chunked", params={"n": 20})
        assert response.content == b"".join(b"part%d;" % i for i in range(20))
        async with http.stream("GET", f"{url}/proxied/sse", params={"n": 3}) as stream:
            events = [event async for event in stream.iter_sse()]
        assert [e.id for e in events] == ["0", "1", "2"]


async def test_expect_continue_with_nginx(nginx: tuple[str, str]) -> None:
    url, _ = nginx
    async with HttpClient(expect_continue=1024, timeout=Timeout(read=5)) as http:
        accepted = await http.post(f"{url}/upload", content=b"a" * 10_000)
        assert accepted.parse_json()["size"] == 10_000
        refused = await http.post(f"{url}/upload", content=b"b" * 1_000_000)
        assert refused.status_code == 413  # answered before the body left
        assert (await http.get(f"{url}/files/small.txt")).status_code == 200


async def test_https_with_nginx(nginx: tuple[str, str], tls_ca: tuple[str, str, str]) -> None:
    _, tls_url = nginx
    async with HttpClient(verify=tls_ca[0]) as http:
        assert (await http.get(f"{tls_url}/files/small.txt")).content == b"small file\n"
        assert len((await http.get(f"{tls_url}/files/big.bin")).content) == BIG
