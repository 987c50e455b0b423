"""HTTP and SOCKS5 proxies (small ones started by the tests), for http and https origins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workerman.http_client import ConnectError, HttpClient, ProxyError

from .proxies import HttpProxy, Socks5Proxy

pytestmark = pytest.mark.anyio


@pytest.fixture
def http_proxy() -> Iterator[HttpProxy]:
    proxy = HttpProxy(("user", "p@ss"))
    yield proxy
    proxy.close()


@pytest.fixture
def socks_proxy() -> Iterator[Socks5Proxy]:
    proxy = Socks5Proxy(("user", "secret"))
    yield proxy
    proxy.close()


async def test_http_proxy_for_http_uses_absolute_form_with_credentials(
    uvicorn_url: str, http_proxy: HttpProxy
) -> None:
    async with HttpClient(proxy=http_proxy.url) as http:
        response = await http.get(f"{uvicorn_url}/echo", params={"x": "1"})
        assert response.parse_json()["query"] == "x=1"
        assert (await http.get(f"{uvicorn_url}/hello")).content == b"Hello World"
    assert http_proxy.seen[0] == f"GET {uvicorn_url}/echo?x=1 HTTP/1.1"


async def test_http_proxy_tunnels_https_with_connect(
    https_url: str, tls_ca: tuple[str, str, str], http_proxy: HttpProxy
) -> None:
    async with HttpClient(proxy=http_proxy.url, verify=tls_ca[0]) as http:
        for _ in range(3):  # one tunnel, kept alive
            assert (await http.get(f"{https_url}/hello")).content == b"Hello World"
        big = await http.get(f"{https_url}/big", params={"size": 3_000_000})
        assert len(big.content) == 3_000_000
        data = (await http.post(f"{https_url}/echo", content=b"x" * 200_000)).parse_json()
        assert data["size"] == 200_000
    assert http_proxy.seen == [f"CONNECT localhost:{https_url.rsplit(':', 1)[1]} HTTP/1.1"]


async def test_certificates_are_verified_inside_the_tunnel(
    https_url: str, http_proxy: HttpProxy
) -> None:
    async with HttpClient(proxy=http_proxy.url) as http:
        with pytest.raises(ConnectError, match=r"(?i)certificate"):
            await http.get(f"{https_url}/hello")


async def test_a_proxy_refusing_credentials_is_a_proxy_error(
    uvicorn_url: str, https_url: str, http_proxy: HttpProxy
) -> None:
    port = http_proxy.port
    async with HttpClient(proxy=f"http://user:wrong@127.0.0.1:{port}") as http:
        with pytest.raises(ProxyError, match="407"):
            await http.get(f"{https_url}/hello")
        response = await http.get(f"{uvicorn_url}/hello")  # absolute form: the 407 is the answer
        assert response.status_code == 407


async def test_socks5_for_http_and_https(
    uvicorn_url: str, https_url: str, tls_ca: tuple[str, str, str], socks_proxy: Socks5Proxy
) -> None:
    async with HttpClient(proxy=socks_proxy.url, verify=tls_ca[0]) as http:
        assert (await http.get(f"{uvicorn_url}/hello")).content == b"Hello World"
        assert (await http.get(f"{https_url}/hello")).content == b"Hello World"
        assert (await http.get(f"{https_url}/echo")).parse_json()["path"] == "/echo"
    port = https_url.rsplit(":", 1)[1]
    assert socks_proxy.seen == [uvicorn_url.removeprefix("http://"), f"localhost:{port}"]


async def test_socks5_wrong_password_and_unreachable_target(
    socks_proxy: Socks5Proxy, free_port: int
) -> None:
    async with HttpClient(proxy=f"socks5://user:bad@127.0.0.1:{socks_proxy.port}") as http:
        with pytest.raises(ProxyError, match="user name or password"):
            await http.get("http://127.0.0.1:1/")
    async with HttpClient(proxy=socks_proxy.url) as http:
        with pytest.raises(ProxyError, match="connection refused"):
            await http.get(f"http://127.0.0.1:{free_port}/")


async def test_proxies_from_the_environment(
    uvicorn_url: str, http_proxy: HttpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost")
    async with HttpClient(trust_env=True) as http:
        await http.get(f"{uvicorn_url}/hello")
        await http.get(uvicorn_url.replace("127.0.0.1", "localhost") + "/hello")  # bypassed
    async with HttpClient() as http:  # trust_env off: no proxy
        await http.get(f"{uvicorn_url}/hello")
    assert http_proxy.seen == [f"GET {uvicorn_url}/hello HTTP/1.1"]
