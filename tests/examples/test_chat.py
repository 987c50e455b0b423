"""The chat example (examples/chat/app.py) as its users meet it: the app runs as its own
process (``app.py start``), two headless Chromium pages chat through it, and the
websockets library checks the protocol and the server's input checks.

Both tests use synchronous client APIs (Playwright's sync API, websockets.sync), so they
are plain test functions and need no async backend.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from .._missing import missing

APP = Path(__file__).resolve().parents[2] / "examples" / "chat" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY = re.compile(r"chat: open (http://\S+) in two browser tabs")


class ChatServer:
    """``python examples/chat/app.py start`` in its own session, on a port the kernel
    picks (CHAT_PORT=0), with its pid and lock files in a private TMPDIR so it
    never meets a chat someone is running with ``make run``."""

    def __init__(self, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "CHAT_HOST": "127.0.0.1",
            "CHAT_PORT": "0",
            "TMPDIR": str(tmp_path),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(APP), "start"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,  # a group of its own: the master and its worker
        )
        self.lines: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(15) or not self.url:
            self.kill()
            pytest.fail(f"the chat app did not print its URL; it said:\n{self.output}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = READY.search(line)
            if found and not self.url:
                self.url = found.group(1)
                self._ready.set()
        self._ready.set()  # the process ended

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "ws"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        """Ctrl+C, as a user stops it; the exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the chat app did not stop on SIGINT; it said:\n{self.output}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[ChatServer]:
    server = ChatServer(tmp_path)
    try:
        yield server
    finally:
        server.kill()  # a test that failed before stopping it
        print(f"--- the chat app said:\n{server.output}")  # shown when the test fails


def assert_stopped_cleanly(server: ChatServer) -> None:
    code = server.stop()
    output = server.output
    assert code == 0, output
    assert "Traceback" not in output and " ERROR " not in output, output
    assert "stopped" in output, output


# -- two browsers --------------------------------------------------------------------------


def require_chromium() -> str:
    """Debian's Chromium; without it the test fails under CI (it must run there) and is
    skipped elsewhere. Called in the test body, so CI reports a failure, not an error."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    missing(f"{CHROMIUM} is missing; the browser test needs it: apt-get install chromium")


def open_chat(browser: Browser, url: str, name: str, errors: list[str]) -> Page:
    page = browser.new_context().new_page()  # a context each: two separate visitors
    page.on("pageerror", lambda exc: errors.append(f"{name}: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"{name}: {msg.text}") if msg.type == "error" else None,
    )
    page.goto(url)
    page.fill("#name", name)
    page.click("#join-form button")
    expect(page.locator("#status")).to_have_text(f"connected as {name}")
    return page


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send-form button")


def test_two_browser_pages_chat_through_the_app(chat_server: ChatServer) -> None:
    chromium = require_chromium()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            alice = open_chat(browser, chat_server.url, "alice", errors)
            bob = open_chat(browser, chat_server.url, "bob", errors)

            # join notices and who is online, on both pages
            expect(alice.locator("#messages .notice")).to_have_text(["alice joined", "bob joined"])
            expect(bob.locator("#messages .notice")).to_have_text(["bob joined"])
            for page in (alice, bob):
                expect(page.locator("#count")).to_have_text("2")
                expect(page.locator("#users li")).to_have_text(["alice", "bob"])

            # a message each way, with the sender's name
            say(alice, "hello bob")
            expect(bob.locator("#messages .message .text")).to_have_text(["hello bob"])
            expect(bob.locator("#messages .message .name")).to_have_text(["alice"])
            say(bob, "hi alice")
            expect(alice.locator("#messages .message .text")).to_have_text(
                ["hello bob", "hi alice"]
            )
            expect(alice.locator("#messages .message .name")).to_have_text(["alice", "bob"])

            # markup in a message is shown as text, on the sender's page and the other's
            payload = '<img src=x onerror="window.pwned = 1"><script>window.pwned = 2</script><b>x'
            say(alice, payload)
            for page in (alice, bob):
                expect(page.locator("#messages .message .text").last).to_have_text(payload)
                assert page.locator("#messages img, #messages script, #messages b").count() == 0
                assert page.evaluate("window.pwned") is None

            # closing a page is a leave, seen by the other
            bob.context.close()
            expect(alice.locator("#messages .notice").last).to_have_text("bob left")
            expect(alice.locator("#count")).to_have_text("1")
            expect(alice.locator("#users li")).to_have_text(["alice"])

            # stopping the server closes the socket with 1001 "going away"
            assert_stopped_cleanly(chat_server)
            expect(alice.locator("#status")).to_contain_text("disconnected (1001")
        finally:
            browser.close()
    assert errors == []


# -- the websockets library --------------------------------------------------------------


def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=5))
    assert isinstance(message, dict)
    return message


def test_websocket_clients_join_talk_and_get_their_bad_input_refused(
    chat_server: ChatServer,
) -> None:
    with connect(chat_server.ws_url + "?name=carol") as carol, connect(chat_server.ws_url) as dave:
        # ?name= joins at once
        assert receive(carol) == {"type": "welcome", "name": "carol"}
        assert receive(carol) == {"type": "join", "name": "carol"}
        assert receive(carol) == {"type": "users", "users": ["carol"], "count": 1}

        # bad input gets an error to the sender only, and the connection stays open
        dave.send("{not json")
        assert receive(dave) == {"type": "error", "error": "not valid JSON"}
        dave.send(json.dumps(["a", "list"]))
        assert receive(dave)["type"] == "error"
        dave.send(json.dumps({"type": "message", "text": "before joining"}))
        assert receive(dave) == {"type": "error", "error": "join first"}
        dave.send(json.dumps({"type": "join", "name": "d" * 33}))
        assert receive(dave) == {"type": "error", "error": "name must be 1-32 characters"}
        dave.send(json.dumps({"type": "join", "name": "CAROL"}))
        assert "taken" in receive(dave)["error"]

        # a join by first message; the name is trimmed
        dave.send(json.dumps({"type": "join", "name": "  dave "}))
        assert receive(dave) == {"type": "welcome", "name": "dave"}
        assert receive(dave) == {"type": "join", "name": "dave"}
        assert receive(dave) == {"type": "users", "users": ["carol", "dave"], "count": 2}
        assert receive(carol) == {"type": "join", "name": "dave"}
        assert receive(carol) == {"type": "users", "users": ["carol", "dave"], "count": 2}

        # a message round trip reaches everyone, the sender too
        dave.send(json.dumps({"type": "message", "text": "hello carol"}))
        for ws in (dave, carol):
            message = receive(ws)
            assert isinstance(message.pop("time"), int)
            assert message == {"type": "message", "name": "dave", "text": "hello carol"}

        # 2000 characters pass; 2001 and blank ones are refused and reach no one
        dave.send(json.dumps({"type": "message", "text": "x" * 2001}))
        assert receive(dave) == {"type": "error", "error": "message must be 1-2000 characters"}
        dave.send(json.dumps({"type": "message", "text": "   "}))
        assert receive(dave) == {"type": "error", "error": "message must not be empty"}
        dave.send(json.dumps({"type": "message", "text": "é" * 2000}))
        assert receive(carol)["text"] == "é" * 2000  # the first carol hears since "hello carol"
        assert receive(dave)["text"] == "é" * 2000

        # a frame far above any valid message closes the socket (1009: too big)
        dave.send(json.dumps({"type": "message", "text": "y" * 100_000}))
        with pytest.raises(ConnectionClosed) as closed:
            dave.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert receive(carol) == {"type": "leave", "name": "dave"}
        assert receive(carol) == {"type": "users", "users": ["carol"], "count": 1}

    assert_stopped_cleanly(chat_server)


def test_a_websocket_from_another_origin_is_refused(chat_server: ChatServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(chat_server.ws_url, origin=Origin("http://evil.example"))
    assert refused.value.response.status_code == 403
    with connect(chat_server.ws_url, origin=Origin(chat_server.url.rstrip("/"))) as ws:
        ws.send(json.dumps({"type": "join", "name": "erin"}))
        assert receive(ws)["type"] == "welcome"
    assert_stopped_cleanly(chat_server)
