"""The chat example on two nodes sharing one Redis, with no change to its code: each node
is ``app.py start`` with CHAT_REDIS set, on a port of its own; one headless Chromium page
per node, and websockets clients for the name check across nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from websockets.sync.client import connect

from ..examples.test_chat import (
    CHROMIUM_ARGS,
    ChatServer,
    assert_stopped_cleanly,
    open_chat,
    require_chromium,
    say,
)


@pytest.fixture
def two_nodes(
    tmp_path: Path, gw_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ChatServer, ChatServer]]:
    monkeypatch.setenv("CHAT_REDIS", gw_url)
    monkeypatch.setenv("CHAT_PREFIX", prefix)
    servers = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(ChatServer(tmp_path / name))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.kill()
            print(f"--- a node said:\n{server.output}")


def test_two_browser_pages_on_two_nodes_share_one_room(
    two_nodes: tuple[ChatServer, ChatServer],
) -> None:
    chromium = require_chromium()
    a, b = two_nodes
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            alice = open_chat(browser, a.url, "alice", errors)
            bob = open_chat(browser, b.url, "bob", errors)
            for page in (alice, bob):
                expect(page.locator("#users li")).to_have_text(["alice", "bob"])
            expect(alice.locator("#messages .notice")).to_have_text(["alice joined", "bob joined"])
            say(alice, "hello from node a")
            expect(bob.locator("#messages .message .text")).to_have_text(["hello from node a"])
            say(bob, "hi from node b")
            expect(alice.locator("#messages .message .text")).to_have_text(
                ["hello from node a", "hi from node b"]
            )
            bob.close()
            expect(alice.locator("#messages .notice").last).to_have_text("bob left")
            expect(alice.locator("#users li")).to_have_text(["alice"])
        finally:
            browser.close()
    assert errors == []
    assert_stopped_cleanly(b)
    assert_stopped_cleanly(a)


def test_a_name_in_use_on_one_node_is_refused_on_the_other(
    two_nodes: tuple[ChatServer, ChatServer],
) -> None:
    a, b = two_nodes
    with connect(a.ws_url + "?name=carol") as carol, connect(b.ws_url) as other:
        assert json.loads(carol.recv(timeout=10))["type"] == "welcome"
        other.send(json.dumps({"type": "join", "name": "carol"}))
        reply = json.loads(other.recv(timeout=10))
        assert reply["type"] == "error" and "taken" in reply["error"]
        other.send(json.dumps({"type": "join", "name": "dave"}))
        assert json.loads(other.recv(timeout=10)) == {"type": "welcome", "name": "dave"}
