import pytest

from workerman.http_client import HttpClient

pytestmark = pytest.mark.anyio


async def test_get_hello(http: HttpClient, uvicorn_url: str) -> None:
    response = await http.get(f"{uvicorn_url}/hello")
    assert response.status_code == 200
    assert response.content == b"Hello World"
    response = await http.get(f"{uvicorn_url}/echo", params={"q": "x"})
    data = response.parse_json()
    assert data["query"] == "q=x"
    assert http.stats()
