"""Saving code reloads the business workers through the master, after the new code is
checked; real files, real processes, a real HTTP client and a real WebSocket client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from websockets.sync.client import connect

from ._harness import App, wait_until
from .conftest import DRIVERS

MONITOR = """
FileMonitor(paths=[CODE])
Worker.run_all()
"""


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_saved_file_replaces_the_web_processes_and_the_new_code_answers(
    make_app: Callable[..., App], driver: str
) -> None:
    app = make_app(MONITOR, driver, count=2)
    app.start_foreground()
    old = app.web_pids()
    assert len(old) == 2
    assert app.get()[0] == "v1"
    app.save("v2")
    pid = app.wait_version("v2")
    assert pid not in old
    app.settle()
    new = app.web_pids()
    assert len(new) == 2
    assert not set(new) & set(old)
    assert app.master_reloads() == 1
    assert "file monitor: reloading the workers" in app.log()


def test_a_syntax_error_is_logged_with_its_line_and_holds_the_reload_until_fixed(
    make_app: Callable[..., App],
) -> None:
    app = make_app(MONITOR)
    app.start_foreground()
    (old,) = app.web_pids()
    broken = app.save("v2", "import os\n\n\ndef on_message(connection, request)\n    pass\n")
    wait_until(lambda: "not reloading until it compiles" in app.log(), what="the error")
    assert f"{broken}:4:" in app.log()
    assert "SyntaxError" in app.log()
    assert app.get() == ("v1", old)  # the old code goes on answering
    app.save("v1b", "x = 1\n", name="other.py")  # another save while broken: held too
    wait_until(lambda: "other.py (added)" in app.log(), what="the second save")
    assert app.get() == ("v1", old)
    app.save("v3")  # the fix
    pid = app.wait_version("v3")
    assert pid != old
    app.settle()
    assert app.master_reloads() == 1  # only the fixed save reloaded
    assert f"{broken} compiles again" in app.log()


def test_a_change_to_the_start_file_is_logged_as_needing_a_restart(
    make_app: Callable[..., App],
) -> None:
    app = make_app("FileMonitor(paths=[HERE])\nWorker.run_all()\n")
    app.start_foreground()
    (old,) = app.web_pids()
    with app.app.open("a") as file:
        file.write("# edited\n")
    wait_until(lambda: "restart the application" in app.log(), what="the restart warning")
    assert f"{app.app} was loaded by the master" in app.log()
    app.save("v2")  # a reloadable change still reloads, once
    assert app.wait_version("v2") != old
    app.settle()
    assert app.master_reloads() == 1


def test_a_save_during_a_rolling_reload_still_ends_on_the_newest_code(
    make_app: Callable[..., App],
) -> None:
    app = make_app(
        """
        import time

        web.on_worker_stop = lambda worker: time.sleep(0.4)  # a slow rolling reload
        FileMonitor(paths=[CODE])
        Worker.run_all()
        """,
        count=2,
    )
    app.start_foreground()
    app.save("v2")
    app.wait_version("v2")  # one process restarted on v2; the other is still stopping
    app.save("v3")  # so the first reload cannot carry v3 to the process it already made
    app.settle()
    wait_until(lambda: app.log().count("reload done") == 2, what="the second reload")
    app.settle()
    pids = app.web_pids()
    assert len(pids) == 2
    answers = {app.get() for _ in range(20)}
    assert {version for version, _ in answers} == {"v3"}  # no process left on v2


def test_many_files_saved_at_once_make_one_reload(make_app: Callable[..., App]) -> None:
    app = make_app("FileMonitor(paths=[CODE], debounce=0.5)\nWorker.run_all()\n")
    app.start_foreground()
    (old,) = app.web_pids()
    for index in range(30):  # a checkout of another branch, written in place
        (app.code / f"module{index}.py").write_text(f"X = {index}\n")
    app.save("v2")
    assert app.wait_version("v2") != old
    app.settle()
    assert app.master_reloads() == 1
    assert "and 28 more" in app.log()  # the 31 changes of one batch


WEBSOCKET_GATEWAY = """
gateway = Worker(f"websocket://127.0.0.1:{PORT2}", name="gateway")
gateway.reloadable = False
gateway.on_message = lambda connection, message: connection.send(f"{message} {os.getpid()}")
FileMonitor(paths=[CODE])
Worker.run_all()
"""


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_websocket_on_a_worker_that_is_not_reloadable_stays_open_across_ten_reloads(
    make_app: Callable[..., App], driver: str
) -> None:
    app = make_app(WEBSOCKET_GATEWAY, driver)
    app.start_foreground()
    with connect(f"ws://127.0.0.1:{app.port2}/", open_timeout=10) as ws:
        ws.send("hello")
        gateway_pid = ws.recv(timeout=10)
        web = set(app.web_pids())
        for round_ in range(10):
            app.save(f"v{round_ + 2}")
            web.add(app.wait_version(f"v{round_ + 2}"))
            ws.send("hello")
            assert ws.recv(timeout=10) == gateway_pid
        app.settle()
    assert len(web) == 11  # a new web process for every save
    assert app.master_reloads() == 10


def test_on_change_gets_each_batch_and_returning_false_skips_the_reload(
    make_app: Callable[..., App],
) -> None:
    app = make_app(
        """
        def on_change(changes):
            for change in changes:
                note(f"{change.kind} {os.path.basename(change.path)}")
            return not any(c.path.endswith(".html") for c in changes)


        FileMonitor(paths=[CODE], on_change=on_change)
        Worker.run_all()
        """
    )
    app.start_foreground()
    (old,) = app.web_pids()
    (app.code / "page.html").write_text("<p>assets</p>")
    wait_until(lambda: any("page.html" in line for line in app.notes()), what="the hook")
    app.save("v2")
    assert app.wait_version("v2") != old
    app.settle()
    assert app.master_reloads() == 1  # the html batch was the hook's alone
    assert "added page.html" in app.notes()
    assert any(line.endswith(" handlers.py") for line in app.notes())


RESTARTING = """
MARK = "one"
note(f"master {os.getpid()} {MARK}")
FileMonitor(paths=[HERE], restart=True)
Worker.run_all()
"""


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
def test_restart_true_restarts_the_app_in_place_when_the_start_file_changes(
    make_app: Callable[..., App], daemon: bool
) -> None:
    app = make_app(RESTARTING.replace("restart=True", "restart=True, in_daemon=True"))
    if daemon:
        app.start()
    else:
        app.start_foreground()
    master = app.master()
    (old,) = app.web_pids()
    assert [n.split()[-1] for n in app.notes()] == ["one"]
    app.app.write_text(app.app.read_text().replace('MARK = "one"', 'MARK = "two"'))
    wait_until(lambda: any(n.endswith(" two") for n in app.notes()), what="the new master")
    app.wait_ready(watching=True)
    again = app.master()
    if daemon:
        assert again != master  # a fresh daemon
    else:
        assert again == master  # the same process, executed anew: Ctrl+C still reaches it
        assert app.foreground is not None and app.foreground.poll() is None
        assert app.notes()[-1] == f"master {again} two"  # (a daemon forks after this line)
    (new,) = app.web_pids()
    assert new != old
    assert "restarting the application" in app.log()
