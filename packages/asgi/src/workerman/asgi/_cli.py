"""``python -m workerman.asgi main:app [command] [flags] [options]``: the app's workers
under the core's command line (start, stop, restart, reload, status, connections)."""

from __future__ import annotations

import argparse
import os
import platform
import ssl
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, NoReturn

from workerman.core import Worker
from workerman.core.compiled import chosen

from ._app import check_import_string
from ._exceptions import AsgiError
from ._worker import AsgiWorker

__all__ = ["main"]

_COMMANDS = ("start", "stop", "restart", "reload", "status", "connections")


def version_line() -> str:
    """``workerman-asgi 0.1.0  Python 3.11.7  workerman.core compiled (mypyc, 20 modules)
    workerman.asgi compiled (mypyc, 6 modules)``: each package's build, compiled or pure."""
    builds = "  ".join(f"{name} {build.describe()}" for name, build in chosen().items())
    python = platform.python_version()
    return f"workerman-asgi {version('workerman-asgi')}  Python {python}  {builds}"


class _Version(argparse.Action):
    """``--version``: before the app is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help=kwargs.get("help"))

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        print(version_line())
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workerman.asgi",
        description="Run an ASGI app on workerman: start, stop, restart, reload, status, "
        "connections, with Workerman's flags (-d, -g).",
    )
    parser.add_argument(
        "-V",
        "--version",
        action=_Version,
        help="the versions, and whether workerman-core and workerman-asgi run compiled or pure",
    )
    parser.add_argument("app", help='the app as "module:attribute", e.g. main:app')
    parser.add_argument("command", nargs="?", default="start", choices=_COMMANDS)
    parser.add_argument("-d", action="store_true", help="start: as a daemon; status: refresh")
    parser.add_argument("-g", action="store_true", help="stop, restart, reload: gracefully")
    parser.add_argument("--reload", action="store_true", help="reload when the code changes")
    parser.add_argument(
        "--listen",
        action="append",
        metavar="URL",
        help="http://host:port, https://host:port or unix:///path (repeatable; "
        "default http://127.0.0.1:8000)",
    )
    parser.add_argument("--count", type=int, default=1, help="worker processes per address")
    parser.add_argument("--name", default="asgi", help="the worker name status shows")
    parser.add_argument("--root-path", default="", help="the ASGI root_path")
    parser.add_argument("--lifespan", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--access-log", action="store_true", help="one log line per request")
    parser.add_argument(
        "--no-proxy-headers", action="store_true", help="ignore X-Forwarded-For/Proto"
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="proxies trusted for X-Forwarded-* (comma-separated; * for any)",
    )
    parser.add_argument("--ssl-certfile", help="certificate chain (PEM) for https://")
    parser.add_argument("--ssl-keyfile", help="private key (PEM) for https://")
    parser.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT per process")
    parser.add_argument("--event-loop", choices=("asyncio", "uvloop", "trio"), default=None)
    parser.add_argument("--app-dir", default=".", help="put this directory on sys.path")
    return parser


def _files_for(app: str, app_dir: str) -> None:
    """Each app (per directory) gets its own pid, status and log files: the start file is
    this module for every app run with ``-m``. The pid and status files go with the server
    (temp dir); the log stays, beside the app (``main_app.workerman.log`` for ``main:app``),
    or in the temp dir when that directory is not writable."""
    tag = f"{os.getcwd()}/{app}".strip("/").replace("/", "_").replace(":", "_")
    base = tempfile.gettempdir()
    Worker.pid_file = Worker.pid_file or os.path.join(base, f"workerman.asgi.{tag}.pid")
    Worker.status_file = Worker.status_file or os.path.join(base, f"workerman.asgi.{tag}.status")
    if not Worker.log_file:
        folder = os.path.abspath(app_dir)
        name = app.replace(":", "_").replace("/", "_")
        Worker.log_file = (
            os.path.join(folder, f"{name}.workerman.log")
            if os.access(folder, os.W_OK)
            else os.path.join(base, f"workerman.asgi.{tag}.log")
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, make the workers and hand over to ``Worker.run_all``."""
    parser = _parser()
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, os.path.abspath(args.app_dir))
    try:
        check_import_string(args.app)
    except AsgiError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    context = None
    if args.ssl_certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.ssl_certfile, args.ssl_keyfile)
    if args.event_loop:
        Worker.event_loop = args.event_loop
    _files_for(args.app, args.app_dir)
    for address in args.listen or ["http://127.0.0.1:8000"]:
        try:
            AsgiWorker(
                args.app,
                address,
                name=args.name,
                count=args.count,
                ssl=context,
                reuse_port=args.reuse_port,
                root_path=args.root_path,
                lifespan=args.lifespan,
                access_log=args.access_log,
                proxy_headers=not args.no_proxy_headers,
                forwarded_allow_ips=args.forwarded_allow_ips,
            )
        except AsgiError as exc:
            parser.exit(2, f"{parser.prog}: {exc}\n")
    flags = [flag for flag, on in (("-d", args.d), ("-g", args.g), ("--reload", args.reload)) if on]
    Worker.run_all([args.command, *flags])
