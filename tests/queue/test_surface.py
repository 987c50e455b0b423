"""The public surface, the layering rule (only public names of the core and of
workerman-redis), and properties of the pure parts: the JSON serializer and the AMQP
backend's delay hops."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import workerman.queue
from workerman.queue import JsonSerializer, Queue
from workerman.queue._amqp_backend import BUCKETS, MAX_DELAY, _bucket_for, _bucket_seconds

from .conftest import delete_prefix

SOURCE = Path(workerman.queue.__file__).parent


def test_every_public_name_is_in_all_and_every_name_in_all_exists() -> None:
    public = {
        name
        for name, value in vars(workerman.queue).items()
        if not name.startswith("_") and not isinstance(value, type(math))
    }
    assert public == set(workerman.queue.__all__)


def test_the_package_uses_only_public_names_of_the_core_and_of_workerman_redis() -> None:
    for path in SOURCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if parts[0] == "workerman":
                    assert not any(p.startswith("_") for p in parts), (path.name, node.module)
                    assert all(not alias.name.startswith("_") for alias in node.names), path.name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(json_values)
def test_json_payloads_come_back_equal(value: object) -> None:
    serializer = JsonSerializer()
    assert serializer.loads(serializer.dumps(value)) == value


@given(st.floats(min_value=0.0, max_value=MAX_DELAY))
def test_a_delay_is_reached_in_few_hops_never_early_and_at_most_a_sixteenth_late(
    delay: float,
) -> None:
    # what the consumers do with a delayed job: send it to the delay queue that fits what
    # is left, until less than the tolerance (30 ms) is left
    waited, hops = 0.0, 0
    while delay - waited > 0.030:
        waited += _bucket_seconds(_bucket_for(delay - waited))
        hops += 1
    assert hops <= BUCKETS + 1
    assert waited >= delay - 0.030
    assert waited - delay < 1 / 16 + 1e-9


@pytest.mark.parametrize("driver", ["asyncio", "trio"])
def test_a_queue_made_at_module_level_sends_from_a_plain_program(
    queue_url: str, prefix: str, driver: str
) -> None:
    # no worker and no workerman loop opened by hand: the core binds to the running loop
    queue = Queue.from_url(queue_url, prefix=prefix)

    async def main() -> tuple[str | None, int]:
        try:
            job_id = await queue.send("plain", {"n": 1})
            return job_id, (await queue.sizes("plain")).waiting
        finally:
            await delete_prefix(queue_url, prefix)
            await queue.aclose()

    job_id, waiting = anyio.run(main, backend=driver)
    assert job_id is not None and waiting == 1
