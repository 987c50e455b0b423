"""``python -m workerman.queue``: look at and act on a queue from a shell.

::

    python -m workerman.queue sizes QUEUE [--url URL]
    python -m workerman.queue failed list QUEUE [--limit N] [--offset N]
    python -m workerman.queue failed show QUEUE JOB_ID
    python -m workerman.queue failed retry QUEUE (JOB_ID ... | --all)
    python -m workerman.queue failed purge QUEUE (JOB_ID ... | --all)

``--url`` defaults to ``$WORKERMAN_QUEUE_URL``, else ``redis://127.0.0.1:6379/0``;
``--prefix`` must match the prefix the application's Queue uses. Exit status: 0 done,
1 a job not found or the broker unreachable, 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import anyio

from workerman.core import create_loop

from ._exceptions import QueueError
from ._job import FailedJob
from ._queue import Queue

__all__ = ["main"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("WORKERMAN_QUEUE_URL", DEFAULT_URL),
        help="the broker (default: $WORKERMAN_QUEUE_URL or %(default)s)",
    )
    common.add_argument("--prefix", default="workerman:queue", help="key/name prefix")
    parser = argparse.ArgumentParser(
        prog="python -m workerman.queue", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sizes = commands.add_parser("sizes", parents=[common], help="jobs in each state")
    sizes.add_argument("queue")
    failed = commands.add_parser("failed", help="the failed store")
    actions = failed.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common], help="failed jobs, newest first")
    listing.add_argument("queue")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    show = actions.add_parser("show", parents=[common], help="one failed job in full")
    show.add_argument("queue")
    show.add_argument("job_id")
    for name, what in (("retry", "send failed jobs again"), ("purge", "delete failed jobs")):
        act = actions.add_parser(name, parents=[common], help=what)
        act.add_argument("queue")
        act.add_argument("job_ids", nargs="*", metavar="JOB_ID")
        act.add_argument("--all", action="store_true", help="every failed job of the queue")
    return parser


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds")


def _data(job: FailedJob) -> str:
    if isinstance(job.data, bytes):
        return repr(job.data)
    try:
        return json.dumps(job.data, ensure_ascii=False, indent=2)
    except (TypeError, ValueError):
        return repr(job.data)


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    loop = create_loop("asyncio")
    async with loop.open():
        queue = Queue.from_url(args.url, prefix=args.prefix)
        try:
            return await _act(queue, args, out)
        finally:
            await queue.aclose()


async def _act(queue: Queue, args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "sizes":
        sizes = await queue.sizes(args.queue)
        for field in ("waiting", "delayed", "in_flight", "failed"):
            print(f"{field:<10} {getattr(sizes, field)}", file=out)
        return 0
    if args.action == "list":
        jobs = await queue.failed(args.queue, offset=args.offset, limit=args.limit)
        total = (await queue.sizes(args.queue)).failed
        print(f"{'job id':<34} {'attempts':>8}  {'failed at':<25} error", file=out)
        for job in jobs:
            error = job.error if len(job.error) <= 60 else job.error[:57] + "..."
            print(f"{job.id:<34} {job.attempts:>8}  {_when(job.failed_at):<25} {error}", file=out)
        print(f"{len(jobs)} shown of {total} failed in {args.queue!r}", file=out)
        return 0
    if args.action == "show":
        found = await queue.failed_job(args.queue, args.job_id)
        if found is None:
            print(f"no failed job {args.job_id!r} in {args.queue!r}", file=sys.stderr)
            return 1
        print(f"id:        {found.id}", file=out)
        print(f"queue:     {found.queue}", file=out)
        print(f"attempts:  {found.attempts}", file=out)
        print(f"failed at: {_when(found.failed_at)}", file=out)
        print(f"error:     {found.error}", file=out)
        print(f"data:      {_data(found)}", file=out)
        print("traceback:", file=out)
        print(found.traceback.rstrip("\n"), file=out)
        return 0
    ids: list[str] | None = None if args.all else list(args.job_ids)
    if args.action == "retry":
        count = await queue.retry_failed(args.queue, ids)
        print(f"{count} job(s) sent again to {args.queue!r}", file=out)
    else:
        count = await queue.purge_failed(args.queue, ids)
        print(f"{count} failed job(s) deleted from {args.queue!r}", file=out)
    return 0 if count or ids is None else 1


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "action", None) in ("retry", "purge") and bool(args.all) == bool(args.job_ids):
        parser.error(f"failed {args.action}: give job ids or --all (not both)")
    stream: Any = out if out is not None else sys.stdout
    try:
        return anyio.run(_run, args, stream)
    except (QueueError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
