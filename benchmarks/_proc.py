"""Start, watch and stop server processes; CPU pinning, CPU time and the open-file limit;
the scaffolding every runner shares (progress log, signals, result files)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import psutil  # type: ignore[import-untyped,unused-ignore]

PORTS = range(19100, 19900)
ROOT = Path(__file__).resolve().parent.parent  # where ``python -m benchmarks._servers`` runs
RESULTS_DIR = Path(__file__).resolve().parent / "results"
_used_ports: set[int] = set()
T = TypeVar("T")

#: a server kind with this suffix runs that server with WORKERMAN_NO_EXTENSIONS=1: the core
#: as pure Python, beside its compiled build in the same run (the kind without it)
PURE = "-pure"


def log(message: str) -> None:
    """Progress, to stderr: stdout is kept for the table."""
    print(message, file=sys.stderr, flush=True)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every server is stopped on the way out


def handle_signals(sigint: bool = False, sighup: bool = False) -> None:
    """SIGTERM (and with ``sighup`` a closed terminal, unless under nohup) becomes SystemExit,
    so that every server is stopped on the way out; with ``sigint``, Ctrl-C stops the run
    even when started in the background, where SIGINT comes ignored."""
    if sigint:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    if sighup and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _terminate)


def run_main(main: Callable[[list[str]], None]) -> None:
    """``main(sys.argv[1:])``; Ctrl-C ends it with status 130 once every server is stopped."""
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        log("interrupted; every server stopped")
        raise SystemExit(130) from None


def runner_parser(
    prog: str, doc: str | None, quick: str, cases: Sequence[str], kinds: Sequence[str]
) -> argparse.ArgumentParser:
    """The options every runner has: --quick (``quick`` tells how long), --only CASES and
    --servers KINDS (comma-separated; all by default)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--quick", action="store_true", help=f"short run ({quick})")
    parser.add_argument("--only", default=",".join(cases), help="comma-separated cases")
    parser.add_argument("--servers", default=",".join(kinds), help="comma-separated servers")
    return parser


def parse_choices(
    parser: argparse.ArgumentParser, argv: list[str], choices: dict[str, Sequence[str]]
) -> argparse.Namespace:
    """Parse ``argv``; each option named in ``choices`` (comma-separated) becomes a list,
    checked against the names it allows."""
    args = parser.parse_args(argv)
    for option, allowed in choices.items():
        chosen = [x for x in getattr(args, option).split(",") if x]
        if bad := [x for x in chosen if x not in allowed]:
            parser.error(f"--{option}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
        setattr(args, option, chosen)
    return args


def save_results(name: str, data: dict[str, Any]) -> None:
    """Write ``data`` to results/NAME-<date>-<time>.json."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / time.strftime(f"{name}-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(data, indent=1))
    log(f"saved {path}")


def own_cpu() -> float:
    """User plus system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    """User plus system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pick_cores() -> tuple[int | None, int | None]:
    """(server core, load generator core): the first two cores we may run on."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return cores[0], cores[1]


def pin_load_generator() -> tuple[int | None, int | None]:
    """Pin this process to the second core; (server core, load generator core)."""
    cores = pick_cores()
    if cores[1] is None:
        log("warning: fewer than two cores available; running unpinned")
    else:
        os.sched_setaffinity(0, {cores[1]})
    return cores


def limit_idle(idle: int, nofile: int) -> int:
    """Raise the open-file limit towards ``nofile``; how many idle connections fit under it."""
    limit = raise_nofile(nofile)
    if idle > limit - 500:
        log(f"note: open-file limit {limit}; holding {limit - 500} idle connections")
        return limit - 500
    return idle


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit towards ``want``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    for port in PORTS:
        if port in _used_ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class Server:
    """One server under test, running in its own process pinned to ``cpu``:
    ``python -m MODULE KIND PORT *ARGS``, its output in LOG_DIR/NAME-PORT.log."""

    module = "benchmarks._servers"

    def __init__(
        self,
        kind: str,
        cpu: int | None,
        log_dir: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = log_dir / f"{name or kind}-{self.port}.log"
        env = dict(os.environ, **(env or {}), PYTHONUNBUFFERED="1")
        env["BENCH_CPU"] = "" if cpu is None else str(cpu)
        env["BENCH_RUNNER"] = str(os.getpid())
        env.pop("WORKERMAN_NO_EXTENSIONS", None)
        if kind.endswith(PURE):  # the same server on the pure-Python build of the core
            env["WORKERMAN_NO_EXTENSIONS"] = "1"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, kind.removesuffix(PURE), str(self.port), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_bytes().splitlines():
                if line.startswith(b"READY"):
                    # the serving process: a workerman master forks it, a baseline is it
                    self.pid = int(line.split()[1])
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server so far (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait()
        _used_ports.discard(self.port)


class GroupServer(Server):
    """A server in its own process group (a workerman master and its worker), measured with
    psutil; stopping it kills what is left of the group and removes ``run_dir``."""

    run_dir = ""  # where a workerman server keeps its pid, status and log files

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._process: psutil.Process | None = None

    def _ps(self) -> psutil.Process:
        if self._process is None or self._process.pid != self.pid:
            self._process = psutil.Process(self.pid)
        return self._process

    def cpu_times(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the serving process so far."""
        times = self._ps().cpu_times()
        return times.user, times.system

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the serving process so far."""
        return float(sum(self.cpu_times()))

    def rss_bytes(self) -> int:
        return int(self._ps().memory_info().rss)

    def open_fds(self) -> int:
        return int(self._ps().num_fds())

    def stop(self, timeout: float = 5.0) -> None:
        try:
            super().stop(timeout)
        finally:  # whatever is left of the group (a worker whose master died first)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            if self.run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)


S = TypeVar("S", bound=Server)


class ServerGroup(ABC, Generic[S]):
    """Context manager: start servers (``start`` fills ``running``), wait until each is ready
    (then ``check`` it); stop every one of them on the way out, whatever happens (an error,
    Ctrl-C, SIGTERM turned into SystemExit)."""

    prefix = "wm-bench-"
    ready_timeout = 15.0

    def __init__(self) -> None:
        self.running: dict[str, S] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix=self.prefix)
        self.log_dir = Path(self._tmp.name)

    @abstractmethod
    def start(self) -> None:
        """Start this runner's servers (each added to ``running``)."""

    def check(self, server: S) -> None:
        """Called once ``server`` is ready: a runner's check that it answers right."""

    def __enter__(self) -> dict[str, S]:
        try:
            self.start()
            for server in self.running.values():
                server.wait_ready(self.ready_timeout)
                self.check(server)
        except BaseException:
            self.__exit__()
            raise
        return self.running

    def __exit__(self, *exc: object) -> None:
        try:
            for server in self.running.values():
                with contextlib.suppress(Exception):  # and go on to stop the others
                    server.stop()
        finally:
            self._tmp.cleanup()


class Servers(ServerGroup[Server]):
    """The line-echo servers of ``benchmarks._servers`` of the given kinds."""

    def __init__(self, kinds: list[str], cpu: int | None) -> None:
        super().__init__()
        self.kinds = kinds
        self.cpu = cpu

    def start(self) -> None:
        for kind in self.kinds:
            self.running[kind] = Server(kind, self.cpu, self.log_dir)


def attempt(
    what: str,
    server: Server,
    fn: Callable[[], T],
    count: Callable[[T], int] | None = None,
    nothing: str = "no operation completed",
) -> T:
    """``fn()``; with ``count``, a result that counts nothing fails too. A failure fails the
    benchmark: ``what``, the error and the end of the server's log."""
    try:
        result = fn()
        if count is not None and not count(result):
            raise RuntimeError(nothing)
    except Exception as exc:
        raise RuntimeError(f"{what}: {exc}\n{server.log_tail()}") from exc
    return result
