"""The ASGI servers of ``benchmarks.asgi``, each serving one app of ``_asgi_apps`` with one
process on 127.0.0.1:PORT: ``python -m benchmarks._asgi_servers KIND PORT APP``.

workerman: AsgiWorker (uvloop), count=1, no access log.
uvicorn: httptools and uvloop, no access log.
granian: ASGI interface, one worker, one runtime thread, uvloop, no access log.

The process pins itself to BENCH_CPU (granian's worker process inherits it) and prints
``READY <pid>``; the runner measures the CPU of that process and its children.
"""

from __future__ import annotations

import sys

from ._servers import prepare_process, ready

KINDS = ("workerman", "uvicorn", "granian")
APPS = ("bare", "fastapi")
TARGETS = {"bare": "benchmarks._asgi_apps:bare", "fastapi": "benchmarks._asgi_apps:api"}


def run_dir_of(port: int) -> str:
    return f"/tmp/workerman-bench-asgi-{port}"


def run_workerman(port: int, app: str) -> None:
    from workerman.asgi import AsgiWorker
    from workerman.core import Worker

    Worker.event_loop = "uvloop"
    worker = AsgiWorker(TARGETS[app], f"http://127.0.0.1:{port}", name="bench-asgi")
    started = worker.on_worker_start
    assert started is not None

    async def start(worker: object) -> None:
        await started(worker)  # the app is loaded and its lifespan has run
        ready()

    worker.on_worker_start = start
    run_dir = run_dir_of(port)
    Worker.pid_file = f"{run_dir}/master.pid"
    Worker.status_file = f"{run_dir}/status"
    Worker.log_file = f"{run_dir}/log"
    Worker.run_all(["start"])


def run_uvicorn(port: int, app: str) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: object = None) -> None:
            await super().startup(sockets)  # type: ignore[arg-type]
            ready()

    config = uvicorn.Config(
        TARGETS[app],
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )
    Server(config).run()


def run_granian(port: int, app: str) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    ready()  # the launcher: its worker process is a child, measured with it
    Granian(
        TARGETS[app],
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        runtime_threads=1,
        loop=Loops.uvloop,
        log_access=False,
        log_level="warning",
    ).serve()


def main(argv: list[str]) -> None:
    kind, port, app = argv[0], int(argv[1]), argv[2]
    if kind not in KINDS or app not in APPS:
        raise SystemExit(f"usage: KIND PORT APP with KIND in {KINDS} and APP in {APPS}")
    prepare_process()
    {"workerman": run_workerman, "uvicorn": run_uvicorn, "granian": run_granian}[kind](port, app)


if __name__ == "__main__":
    main(sys.argv[1:])
