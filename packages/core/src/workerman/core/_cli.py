"""The command line of ``python app.py <command>``: parsing and the startup banner."""

from __future__ import annotations

import getpass
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._worker import Worker

COMMANDS = ("start",)

USAGE = """\
usage: python {prog} <command>

commands:
  start    run every worker in the foreground; Ctrl+C (SIGINT) or SIGTERM stops them
"""


def _usage_error(message: str) -> SystemExit:
    prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "app.py"
    print(f"{prog}: {message}\n" + USAGE.format(prog=prog), file=sys.stderr, end="")
    return SystemExit(2)


def parse_command(argv: Sequence[str]) -> str:
    """Return the command; an unknown command or flag exits with status 2 and the usage."""
    if not argv:
        raise _usage_error("a command is required")
    command, *rest = argv
    if command not in COMMANDS:
        raise _usage_error(f"unknown command {command!r}")
    if rest:
        raise _usage_error(f"unexpected argument {rest[0]!r} for {command!r}")
    return command


def package_version() -> str:
    try:
        return version("workerman-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def print_startup(workers: Sequence[Worker], loop_name: str) -> None:
    user = getpass.getuser()
    rows = [("transport", "user", "worker", "listen", "processes")]
    rows += [(w.transport, user, w.name, w.socket_name or "none", str(w.count)) for w in workers]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(
        f"workerman {package_version()}  Python {platform.python_version()}  event loop {loop_name}"
    )
    for row in rows:
        print(line.format(*row).rstrip())
    print("press Ctrl+C to stop.", flush=True)
