"""What the docs' programs leave in Redis (their database, under this run's names) goes
when the session ends: a queue's delayed jobs, for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from ._checks import TOPICS
from ._programs import REDIS_DB


@pytest.fixture(scope="session", autouse=True)
def _clean_redis() -> Iterator[None]:
    yield
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        names = list(client.scan_iter(match=f"*{TOPICS}*", count=1000))
        if names:
            client.delete(*names)
    except redis.ConnectionError:
        pass  # no Redis: the tests that needed it have said so
    finally:
        client.close()
