"""``python -m workerman.core <command> [flag] <start file> [--pid-file FILE]``: stop,
reload, status and connections of a running server without importing its start file,
so a server whose code no longer imports (a syntax error in app.py) is still managed.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._cli import FLAGS, Command, Timeouts, control, parse_command
from ._extensions import describe
from ._runtime import default_paths, package_version, read_master_pid
from ._worker import Worker

CONTROL = ("stop", "reload", "status", "connections")

USAGE = """\
usage: python -m workerman.core <command> [flag] <start file> [--pid-file FILE]
       python -m workerman.core --version   (and whether the core runs compiled or pure)

Talks to the server started from <start file> through its pid file, without importing it.
--pid-file: the server's pid file, when its app sets Worker.pid_file.

commands:
  stop           stop; -g: gracefully, letting open connections finish
  reload         restart the worker processes one at a time and wait until the new ones
                 serve (exit 0) or one fails to start (exit 1); -g: gracefully
  status         show the status of every process; -d: refresh every second
  connections    list the connections of every process
"""


def _usage(message: str = "") -> NoReturn:
    if not message:
        print(USAGE, end="")
        raise SystemExit(0)
    print(f"python -m workerman.core: {message}\n{USAGE}", file=sys.stderr, end="")
    raise SystemExit(2)


def split_arguments(argv: Sequence[str]) -> tuple[Command, str, str]:
    """The command, the start file and the pid file (empty: the default) of ``argv``."""
    args = list(argv)
    pid_file = ""
    for index, arg in enumerate(args):
        if arg == "--pid-file" or arg.startswith("--pid-file="):
            if "=" in arg:
                pid_file = arg.partition("=")[2]
                del args[index]
            elif index + 1 < len(args):
                pid_file = args[index + 1]
                del args[index : index + 2]
            else:
                _usage("--pid-file needs a file")
            break
    if not args or args[0] in ("-h", "--help", "help"):
        _usage("" if args else "a command is required")
    if args[0] not in CONTROL:
        _usage(f"unknown command {args[0]!r} (start and restart need the app: python app.py)")
    positional = [arg for arg in args[1:] if not arg.startswith("-")]
    if len(positional) != 1:
        _usage("one start file is required")
    (start,) = positional
    verb, *flags = [arg for arg in args if arg != start]
    for flag in flags:
        if flag not in FLAGS[verb]:
            _usage(f"unexpected argument {flag!r} for {verb!r}")
    return parse_command([verb, *flags]), start, pid_file


def main(argv: Sequence[str]) -> NoReturn:
    if list(argv) in (["--version"], ["-V"]):
        build = describe()  # compiled (mypyc, N modules) or pure (why)
        print(f"workerman-core {package_version()}  Python {platform.python_version()}  {build}")
        raise SystemExit(0)
    command, start, pid_file = split_arguments(argv)
    paths = default_paths(start, pid_file)
    control(command, paths, read_master_pid(paths), Timeouts.of(paths, Worker))


if __name__ == "__main__":
    main(sys.argv[1:])
