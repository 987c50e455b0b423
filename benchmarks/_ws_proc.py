"""Server processes of ``benchmarks._ws_servers``: start, measure (psutil), stop."""

from __future__ import annotations

from pathlib import Path

from ._proc import GroupServer, ServerGroup
from ._ws_servers import RUN_DIR


class WsServer(GroupServer):
    """One server in its own process group, pinned to ``cpu``; ``mode`` echo or fanout."""

    module = "benchmarks._ws_servers"

    def __init__(
        self, kind: str, mode: str, cpu: int | None, log_dir: Path, env: dict[str, str]
    ) -> None:
        self.mode = mode
        super().__init__(kind, cpu, log_dir, [mode], env, name=f"{kind}-{mode}")
        self.run_dir = f"{RUN_DIR}-{self.port}"


class WsServers(ServerGroup[WsServer]):
    """Start servers of (kind, mode); stop every one of them on the way out, whatever
    happens (an error, Ctrl-C, SIGTERM turned into SystemExit)."""

    prefix = "wm-bench-ws-"
    ready_timeout = 30.0

    def __init__(
        self, wanted: list[tuple[str, str]], cpu: int | None, env: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        self.wanted = wanted
        self.cpu = cpu
        self.env = env or {}

    def start(self) -> None:
        for kind, mode in self.wanted:
            self.running[kind] = WsServer(kind, mode, self.cpu, self.log_dir, self.env)
