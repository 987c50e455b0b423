"""Polling, daemon mode, ``start --reload`` with no code change, and the warnings."""

from __future__ import annotations

from collections.abc import Callable

from ._harness import App, wait_until

PLAIN = """
Worker.run_all()
"""


def test_polling_mode_reloads_on_a_save(make_app: Callable[..., App]) -> None:
    app = make_app("FileMonitor(paths=[CODE], polling=True, poll_interval=0.1)\nWorker.run_all()\n")
    app.start_foreground()
    (old,) = app.web_pids()
    assert "polling every 0.1s" in app.log()
    app.save("v2")
    assert app.wait_version("v2") != old
    app.save("v3")  # the same size, most likely within the same second: still seen
    app.wait_version("v3")
    app.settle()
    assert app.master_reloads() == 2


def test_the_monitor_is_off_under_start_d_and_says_so(make_app: Callable[..., App]) -> None:
    app = make_app("FileMonitor(paths=[CODE])\nWorker.run_all()\n")
    app.start(watching=False)
    wait_until(lambda: "file monitor is off in daemon mode" in app.log(), what="the notice")
    assert "file monitor watching" not in app.log()


def test_in_daemon_true_watches_under_start_d(make_app: Callable[..., App]) -> None:
    app = make_app("FileMonitor(paths=[CODE], in_daemon=True)\nWorker.run_all()\n")
    app.start()
    (old,) = app.web_pids()
    app.save("v2")
    assert app.wait_version("v2") != old
    status = app.command("status")
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if "file_monitor:" in line)
    assert "mode=notify" in line
    assert "watched_files=1" in line
    assert "reloads=1" in line


def test_start_reload_with_no_monitor_in_the_code_watches_the_start_files_folder(
    make_app: Callable[..., App],
) -> None:
    app = make_app(PLAIN)
    app.start_foreground("--reload")
    assert f"in {app.dir} (notifications)" in app.log()
    (old,) = app.web_pids()
    app.save("v2")
    assert app.wait_version("v2") != old


def test_start_d_reload_turns_on_the_monitor_the_code_made(make_app: Callable[..., App]) -> None:
    app = make_app("FileMonitor(paths=[CODE])\nWorker.run_all()\n")
    app.start("--reload")
    assert app.log().count("file monitor watching") == 1  # that one, not a second
    (old,) = app.web_pids()
    app.save("v2")
    assert app.wait_version("v2") != old


def test_more_files_than_max_files_is_warned_once(make_app: Callable[..., App]) -> None:
    app = make_app("FileMonitor(paths=[CODE], max_files=3)\nWorker.run_all()\n")
    for index in range(4):
        (app.code / f"mod{index}.py").write_text("x = 1\n")
    app.start_foreground()
    assert "watching 5 files, more than max_files=3" in app.log()
    app.save("v2")
    app.wait_version("v2")
    assert app.log().count("more than max_files") == 1
