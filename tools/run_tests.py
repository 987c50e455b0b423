"""Run the test suite as two pytest processes side by side, one per core.

Each package's tests stay in one process, because they share an outside resource (a Redis
database, a broker's topics); the core's larger folders are groups of their own. Groups
are dealt to the shards by their usual running time, longest first, so both finish at
about the same time. Each shard's output is printed when it ends; the run fails when
either shard fails, and a shard that collected no tests (pytest's exit code 5) fails too.

    python tools/run_tests.py [--shards N] [pytest arguments...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SPLIT = ("core",)  # packages whose sub-folders are groups of their own
# seconds on this machine, one process; a group not listed counts as DEFAULT
SECONDS = {
    "core": 85,
    "core/http": 50,
    "core/websocket": 35,
    "redis": 32,
    "examples": 30,
    "gateway": 45,
    "file_monitor": 40,
    "queue": 40,
    "http_client": 25,
    "mqtt": 20,
    "asgi": 25,
    "docs": 20,
}
DEFAULT = 40


def groups() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for folder in sorted(p for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"):
        if not any(folder.rglob("test_*.py")):
            continue
        if folder.name in SPLIT:
            subs = [p for p in sorted(folder.iterdir()) if p.is_dir() and any(p.rglob("test_*.py"))]
            for sub in subs:
                found[f"{folder.name}/{sub.name}"] = [sub]
            found[folder.name] = sorted(folder.glob("test_*.py"))
        else:
            found[folder.name] = [folder]
    return found


def deal(found: dict[str, list[Path]], shards: int) -> list[list[str]]:
    loads = [0.0] * shards
    dealt: list[list[str]] = [[] for _ in range(shards)]
    for name in sorted(found, key=lambda n: -SECONDS.get(n, DEFAULT)):
        lightest = loads.index(min(loads))
        dealt[lightest].append(name)
        loads[lightest] += SECONDS.get(name, DEFAULT)
    return [shard for shard in dealt if shard]


def main(argv: list[str]) -> int:
    shards = 2
    if argv[:1] == ["--shards"]:
        shards, argv = int(argv[1]), argv[2:]
    found = groups()
    plan = deal(found, shards)
    started = time.monotonic()
    running = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, names in enumerate(plan):
            paths = [str(path.relative_to(ROOT)) for name in names for path in found[name]]
            out = Path(tmp) / f"shard{index}.txt"
            print(f"shard {index}: {', '.join(names)}", flush=True)
            handle = out.open("w")
            env = dict(os.environ, WORKERMAN_TEST_SHARD=str(index))
            command = [sys.executable, "-m", "pytest", *paths, *argv]
            process = subprocess.Popen(
                command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env
            )
            running.append((index, process, out, handle))
        failed = False
        for index, process, out, handle in running:
            code = process.wait()
            handle.close()
            print(f"\n===== shard {index} (exit {code}) =====", flush=True)
            sys.stdout.write(out.read_text())
            failed |= code != 0
    took = time.monotonic() - started
    print(f"\n{len(plan)} shards in {took:.0f} s: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
