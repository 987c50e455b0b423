"""The queue example (examples/queue/app.py) as its users run it: ``app.py start -d``,
HTTP requests that queue jobs, consumer processes that do them, ``status`` and the
failed-jobs command line, then ``stop``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from .conftest import delete_prefix

APP = Path(__file__).resolve().parents[2] / "examples" / "queue" / "app.py"


def wait_for(predicate, timeout: float = 15.0, what: str = ""):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def example(
    tmp_path: Path, queue_url: str, prefix: str, free_port: int
) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "QUEUE_URL": queue_url,
        "QUEUE_PREFIX": prefix,
        "PORT": str(free_port),
        "DONE_FILE": str(tmp_path / "done"),
        "TMPDIR": str(tmp_path),  # the pid and status files go there (the log beside the app)
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(APP), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=tmp_path,
        )

    started = run("start", "-d")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield env
    finally:
        stopped = run("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        anyio.run(delete_prefix, queue_url, prefix)


def http(port: str, method: str, path: str) -> tuple[int, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def up(port: str) -> bool:
    try:
        http(port, "GET", "/sizes")
    except OSError:
        return False
    return True


def test_jobs_queued_over_http_are_done_by_the_consumer_processes(example: dict[str, str]) -> None:
    port = example["PORT"]
    wait_for(lambda: up(port), what="the web worker")
    ids = set()
    for i in range(20):
        status, body = http(port, "POST", f"/thumbnail?image=img{i}.png")
        assert status == 202
        ids.add(body["job"])  # type: ignore[index]
    done_file = Path(example["DONE_FILE"])
    wait_for(
        lambda: done_file.exists() and len(done_file.read_text().splitlines()) == 20,
        what="20 thumbnails",
    )
    assert {line.split()[0] for line in done_file.read_text().splitlines()} == ids

    status, body = http(port, "POST", "/thumbnail?image=")
    bad = body["job"]  # type: ignore[index]
    wait_for(lambda: http(port, "GET", "/sizes")[1]["failed"] == 1, what="the failed job")  # type: ignore[index]
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "workerman.queue",
            "failed",
            "show",
            "thumbnails",
            bad,
            "--url",
            example["QUEUE_URL"],
            "--prefix",
            example["QUEUE_PREFIX"],
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "ValueError('no image given')" in listed.stdout and "attempts:  2" in listed.stdout
    status_out = subprocess.run(
        [sys.executable, str(APP), "status"],
        env=example,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    assert status_out.count("queue thumbnails:") == 2, status_out
