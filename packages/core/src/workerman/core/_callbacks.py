"""Reporting what user callbacks raise (logged, counted, survived), and accept() failures."""

from __future__ import annotations

import logging
import time

from ._statistics import statistics

logger = logging.getLogger("workerman.core")


def report(where: str, exc: BaseException) -> None:
    """Log an exception a user callback raised, count it, and carry on."""
    statistics.throw_exception += 1
    logger.error("%s raised %s: %s", where, type(exc).__name__, exc, exc_info=exc)


_accept_log = {"last": 0.0, "quiet": 0}


def accept_failed(exc: OSError) -> None:
    """Count an accept() failure (EMFILE and kin); log it at most once a second."""
    statistics.accept_errors += 1
    now = time.monotonic()
    if now - _accept_log["last"] < 1.0:
        _accept_log["quiet"] += 1
        return
    quiet = int(_accept_log["quiet"])
    _accept_log["last"], _accept_log["quiet"] = now, 0
    more = f" ({quiet} more since the last report)" if quiet else ""
    logger.warning("accept() failed: %s; backing off before accepting again%s", exc, more)
