"""``python -m benchmarks.file_monitor [--quick] [--saves N]``: how soon a saved file's new
code answers, beside ``uvicorn --reload`` on the same app shape, and what the watcher
costs while nothing changes.

Both apps serve ``GET /`` from ``code/handlers.py`` (its ``VERSION``) and hold a
WebSocket echo endpoint. Ours: an HTTP worker (count 1) that imports the handler in
``on_worker_start``, a WebSocket gateway worker with ``reloadable=False`` and a
``FileMonitor`` on ``code/``, started with the core's command line. Uvicorn's: one ASGI
app, ``uvicorn app:app --reload --reload-dir code``, which restarts the whole server.

Latency is from the write of the new file to the first response carrying the new
version (a fresh connection every 5 ms until then), over N saves, one at a time. One
WebSocket connection is opened before the first save; the table says whether it was
still open (answering an echo) after the last. Idle CPU is the watcher process's CPU
time over a quiet spell with 5,000 files in 50 folders under watch: our monitor process
with notifications and with polling, and uvicorn's reloader (supervisor) process.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped,unused-ignore]
from websockets.sync.client import ClientConnection, connect

from ._proc import free_port, handle_signals, log, run_main, save_results
from ._report import markdown_table

HANDLERS = 'VERSION = "{version}"\n\n\ndef answer():\n    return VERSION\n'

OURS = """\
import sys
from pathlib import Path

from workerman.core import Worker
from workerman.file_monitor import FileMonitor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "code"))
Worker.pid_file = str(HERE / "ours.pid")
Worker.log_file = str(HERE / "ours.log")


def serve_code(worker):
    import handlers

    worker.on_message = lambda connection, request: connection.send(handlers.answer())


web = Worker("http://127.0.0.1:{port}", name="web")
web.on_worker_start = serve_code
gateway = Worker("websocket://127.0.0.1:{ws_port}", name="gateway")
gateway.reloadable = False
gateway.on_message = lambda connection, message: connection.send(message)
FileMonitor(paths=[HERE / "{watch}"], max_files=100_000, polling={polling})
Worker.run_all()
"""

UVICORN = """\
import handlers


async def app(scope, receive, send):
    if scope["type"] == "http":
        await receive()
        body = handlers.answer().encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": event.get("text")})
"""


def get(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        return conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_answer(port: int, want: str | None = None, timeout: float = 20) -> float:
    """Seconds until ``GET /`` answers (``want``, when given)."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        body = get(port)
        if body is not None and (want is None or body == want):
            return time.perf_counter() - start
        time.sleep(0.005)
    raise RuntimeError(f"port {port} never answered {want!r}")


class App:
    """One app (ours or uvicorn's) in its own process group, in a folder of its own."""

    made = 0

    def __init__(self, root: Path, kind: str, *, watch: str = "code", polling: bool = False):
        self.kind = kind
        App.made += 1
        self.dir = root / f"{kind}-{App.made}"
        (self.dir / "code").mkdir(parents=True)
        (self.dir / "code" / "handlers.py").write_text(HANDLERS.format(version="v0"))
        self.port, self.ws_port = free_port(), free_port()
        if watch != "code":
            shutil.copytree(root / watch, self.dir / watch)
        if kind == "ours":
            (self.dir / "app.py").write_text(
                OURS.format(port=self.port, ws_port=self.ws_port, watch=watch, polling=polling)
            )
            command = [sys.executable, "app.py", "start"]
        else:
            (self.dir / "code" / "app.py").write_text(UVICORN)
            self.ws_port = self.port
            command = [
                *(sys.executable, "-m", "uvicorn", "app:app", "--app-dir", "code"),
                *("--port", str(self.port), "--reload", "--reload-dir", watch),
                *("--log-level", "warning"),
            ]
        self.out = open(self.dir / "out.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=self.dir, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.host_ws = f"127.0.0.1:{self.ws_port}"
        wait_answer(self.port)

    def save(self, version: str) -> None:
        (self.dir / "code" / "handlers.py").write_text(HANDLERS.format(version=version))

    def watcher(self) -> psutil.Process:
        """Our monitor process, or uvicorn's reloader (the process we started)."""
        top = psutil.Process(self.process.pid)
        if self.kind != "ours":
            return top
        for child in top.children():
            if "FileMonitor" in " ".join(child.cmdline()):
                return child
        raise RuntimeError("no FileMonitor process (is setproctitle installed?)")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(self.process.pid, signal.SIGKILL)
        self.out.close()


@contextlib.contextmanager
def running(root: Path, kind: str, **settings: object) -> Iterator[App]:
    app = App(root, kind, **settings)  # type: ignore[arg-type]
    try:
        yield app
    finally:
        app.stop()


def still_open(ws: ClientConnection) -> bool:
    try:
        ws.send("ping")
        return ws.recv(timeout=2) == "ping"
    except Exception:  # closed, reset, timed out: it did not survive
        return False


def latency(root: Path, kind: str, saves: int) -> dict[str, object]:
    with running(root, kind) as app, connect(f"ws://{app.host_ws}/", open_timeout=10) as ws:
        assert still_open(ws)
        times = []
        for number in range(1, saves + 1):
            time.sleep(0.3)  # saves one at a time, as a person makes them
            version = f"v{number}"
            app.save(version)
            times.append(wait_answer(app.port, version))
            log(f"  {kind} save {number}: {times[-1] * 1000:.0f} ms")
        survived = still_open(ws)
    ordered = sorted(times)
    return {
        "kind": kind,
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
        "survived": survived,
        "samples": times,
    }


def make_tree(root: Path, files: int) -> str:
    tree = root / "tree"
    for index in range(files):
        folder = tree / f"pkg{index // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{index:04d}.py").write_text(f"X = {index}\n")
    return "tree"


def idle_cpu(root: Path, kind: str, watch: str, seconds: float, polling: bool) -> float:
    with running(root, kind, watch=watch, polling=polling) as app:
        time.sleep(3)  # past the start-up scan
        watcher = app.watcher()
        before, start = sum(watcher.cpu_times()[:2]), time.perf_counter()
        time.sleep(seconds)
        used = sum(watcher.cpu_times()[:2]) - before
        return used / (time.perf_counter() - start) * 100


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.file_monitor", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 saves, 3 s idle spells")
    parser.add_argument("--saves", type=int, default=0, help="saves per app (default 20)")
    parser.add_argument("--files", type=int, default=5000, help="files watched when idle")
    args = parser.parse_args(argv)
    saves = args.saves or (5 if args.quick else 20)
    spell = 3.0 if args.quick else 10.0
    handle_signals(sigint=True)
    root = Path(tempfile.mkdtemp(prefix="wm-file-monitor-bench-"))
    try:
        rows = []
        results: dict[str, object] = {"saves": saves, "files": args.files, "idle_s": spell}
        for kind in ("ours", "uvicorn"):
            log(f"latency: {kind}, {saves} saves")
            results[kind] = found = latency(root, kind, saves)
            rows.append(found)
        watch = make_tree(root, args.files)
        idle = {}
        for label, kind, polling in (
            ("workerman FileMonitor (inotify)", "ours", False),
            ("workerman FileMonitor (polling every 1 s)", "ours", True),
            ("uvicorn --reload (watchfiles)", "uvicorn", False),
        ):
            log(f"idle CPU: {label}, {args.files} files, {spell:g} s")
            idle[label] = idle_cpu(root, kind, watch, spell, polling)
        results["idle_cpu_percent"] = idle
        save_results("file_monitor", results)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours, theirs = rows
    names = {"ours": "workerman FileMonitor", "uvicorn": "uvicorn --reload"}
    table = [
        [
            names[str(row["kind"])],
            f"{float(row['median']) * 1000:.0f} ms",  # type: ignore[arg-type]
            f"{float(row['p95']) * 1000:.0f} ms",  # type: ignore[arg-type]
            f"{float(theirs['median']) / float(row['median']):.2f}x",  # type: ignore[arg-type]
            "yes" if row["survived"] else "no",
        ]
        for row in (ours, theirs)
    ]
    header = ["save to new code answering", "median", "p95", "speed vs uvicorn", "WebSocket kept"]
    print(markdown_table(header, table))
    print()
    print(
        markdown_table(
            [f"idle watcher, {args.files} files", "CPU (% of one core)"],
            [[label, f"{value:.2f}"] for label, value in idle.items()],
        )
    )
    print(f"\n{saves} saves each; idle spells of {spell:g} s; a busy 2-core machine: noisy.")


if __name__ == "__main__":
    run_main(main)
