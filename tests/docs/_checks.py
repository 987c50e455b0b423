"""What the named examples of the READMEs and guides do, checked with real clients.

``CHECKS[name](program, stdout)`` runs while a server example runs (``stdout`` is empty
then: read ``program.output``), or after a program that ends by itself. ``REPLACE[name]``
is what to change in a program before it runs here (a broker elsewhere, say).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from ..core._supervisor_harness import free_port, wait_until
from ._programs import Program, rewrite
from ._snippets import snippets

RUFF = Path(sys.executable).parent / "ruff"


def ruff(code: str, select: str) -> str:
    """What ruff's rules ``select`` find in ``code`` (empty when nothing)."""
    done = subprocess.run(
        [
            str(RUFF),
            "check",
            "--isolated",
            "--select",
            select,
            "--output-format",
            "concise",
            "--stdin-filename",
            "snippet.py",
            "-",
        ],
        input=code,
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def run_client(program: Program, name: str) -> str:
    """Run the page's ``<!-- client: NAME -->`` block against the running ``program``
    (its ports as the program's); what it printed."""
    (client,) = [s for s in snippets(program.page) if s.kind == "client" and s.name == name]
    path = program.folder / "client.py"
    code = rewrite(client.code, REPLACE.get(name), program.port_map)
    for old, new in program.port_map.items():  # a port given as a number, not in a URL
        code = re.sub(rf"\b{old}\b", str(new), code)
    path.write_text(code)
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


CHECKS: dict[str, Callable[[Program, str], None]] = {}
TOPICS = f"docs-{uuid.uuid4().hex[:12]}"  # MQTT topics of this run alone: the broker is shared
REPLACE: dict[str, dict[str, str]] = {}


def curl(port: int, path: str = "/", *options: str) -> tuple[int, str]:
    """A request with curl, a client we did not write: its status and body."""
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            *options,
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def check_file_monitor(program: Program, _: str) -> None:
    status, body = curl(program.ports[0])
    assert status == 200 and body.startswith("hello from process "), body


def check_mqtt_bridge(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    from ._clients import Mqtt, publish_until_heard

    with Mqtt() as mqtt, connect(f"ws://127.0.0.1:{program.ports[0]}/") as ws:
        telemetry = f"{TOPICS}/devices/7/telemetry"
        assert publish_until_heard(mqtt, ws, telemetry, b"21.5") == "21.5"
        mqtt.subscribe(f"{TOPICS}/devices/all/cmd")
        ws.send("lights off")  # a WebSocket user's command reaches MQTT
        assert mqtt.next_message() == (f"{TOPICS}/devices/all/cmd", b"lights off")


def check_iot_bridge(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    from ._clients import Mqtt, publish_until_heard

    with Mqtt() as mqtt, connect(f"ws://127.0.0.1:{program.ports[0]}/") as ws:
        heard = publish_until_heard(mqtt, ws, f"{TOPICS}/7/telemetry", b"21.5")
        assert json.loads(heard) == {"device": "7", "telemetry": "21.5"}
        mqtt.subscribe(f"{TOPICS}/+/cmd")
        ws.send(json.dumps({"device": "7", "set": {"on": True}}))
        assert mqtt.next_message() == (f"{TOPICS}/7/cmd", b'{"on": true}')
        ws.send("not json")
        assert "error" in json.loads(ws.recv(timeout=10))


def check_queue_first(program: Program, _: str) -> None:
    program.wait_for("mail to d@e.f attempt 1")


CHECKS.update(
    {
        "file-monitor": check_file_monitor,
        "mqtt-bridge": check_mqtt_bridge,
        "queue-first": check_queue_first,
        "iot-bridge": check_iot_bridge,
    }
)
REPLACE.update(
    {
        "mqtt-bridge": {
            "mqtts://user:pw@broker:8883": "mqtt://127.0.0.1:1883",
            "devices/": f"{TOPICS}/devices/",
            '"gw-1"': f'"{TOPICS}-gw"',
        },
        "iot-bridge": {'"site-1"': f'"{TOPICS}"'},
        "queue-first": {'"email"': f'"{TOPICS}-email"'},  # the run's own queue on db 12
    }
)


def read_until(sock: socket.socket, end: bytes, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def check_first_tcp(program: Program, _: str) -> None:
    with socket.create_connection(("127.0.0.1", program.ports[0])) as sock:
        assert read_until(sock, b"\n").startswith(b"hello 127.0.0.1")
        sock.sendall(b"ping\r\npong\n")
        assert read_until(sock, b"PONG\n") == b"PING\nPONG\n"


def check_first_http(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    port = program.ports[0]
    assert curl(port, "/hello?name=you") == (200, "hello you\n")
    status, page = curl(port, "/")
    assert status == 200 and "new WebSocket" in page
    assert curl(port, "/nothing")[0] == 404
    with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "you said: hello"
    in_a_browser(f"http://127.0.0.1:{port}/", "#out", "you said: hello")


def in_a_browser(url: str, selector: str, text: str) -> None:
    """Open ``url`` in headless Chromium and wait until ``selector`` shows ``text``."""
    from playwright.sync_api import expect, sync_playwright

    from ..examples.test_chat import CHROMIUM_ARGS, require_chromium

    chromium = require_chromium()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            expect(page.locator(selector)).to_have_text(text)
        finally:
            browser.close()
    assert not errors, errors


CHECKS.update({"first-tcp": check_first_tcp, "first-http": check_first_http})


def check_chat_room(program: Program, _: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{program.ports[0]}/"
    with connect(url + "?name=alice") as alice:
        assert alice.recv(timeout=10) == "* alice joined"
        with connect(url + "?name=bob") as bob:
            assert alice.recv(timeout=10) == "* bob joined"
            assert bob.recv(timeout=10) == "* bob joined"
            alice.send("hi bob")
            assert bob.recv(timeout=10) == "alice: hi bob"
            assert alice.recv(timeout=10) == "alice: hi bob"
        assert alice.recv(timeout=10) == "* bob left"
    try:
        connect(url + "?name=").close()
    except InvalidStatus as refused:
        assert refused.response.status_code == 400
    else:
        raise AssertionError("a connection with no name was let in")


CHECKS["chat-room"] = check_chat_room


def check_web_push(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    port = program.ports[0]
    push = ["-H", "Authorization: Bearer change-me"]
    with (
        connect(f"ws://127.0.0.1:{port}/ws?uid=alice") as alice,
        connect(f"ws://127.0.0.1:{port}/ws?uid=bob") as bob,
    ):
        assert curl(port, "/push?uid=alice&text=hello", *push) == (200, '{"sent": 1}')
        assert alice.recv(timeout=10) == "hello"
        assert curl(port, "/push?text=everyone", *push) == (200, '{"sent": 2}')
        assert alice.recv(timeout=10) == bob.recv(timeout=10) == "everyone"
        assert curl(port, "/push?uid=alice&text=x")[0] == 401
    # once the server has seen alice's close, she has no socket left to push to
    gone = (200, '{"sent": 0}')
    wait_until(lambda: curl(port, "/push?uid=alice&text=gone", *push) == gone, 10, "0 sent")


CHECKS["web-push"] = check_web_push


def check_tcp_proxy(program: Program, _: str) -> None:
    port = program.ports[0]
    with socket.create_connection(("127.0.0.1", port)) as sock:  # what nc does
        sock.sendall(b"hello\nworld\n")
        assert read_until(sock, b"WORLD\n") == b"HELLO\nWORLD\n"
    big = b"x" * 3_000_000 + b"\n"  # more than a send buffer: backpressure both ways
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sender = threading.Thread(target=sock.sendall, args=(big,))
        sender.start()
        assert read_until(sock, b"\n", timeout=30) == big.upper()
        sender.join()


CHECKS["tcp-proxy"] = check_tcp_proxy


def check_json_rpc(program: Program, _: str) -> None:
    assert run_client(program, "json-rpc").splitlines() == [
        "{'jsonrpc': '2.0', 'id': 1, 'result': 5}",
        "{'jsonrpc': '2.0', 'id': 2, 'result': 'hi bob'}",
        "{'jsonrpc': '2.0', 'id': 3, 'error': {'code': -32601, 'message': 'Method not found'}}",
    ]
    with socket.create_connection(("127.0.0.1", program.ports[0])) as sock:
        for body in (b"{not json", b'{"jsonrpc": "2.0", "method": "add", "params": [1]}'):
            sock.sendall(struct.pack(">I", 4 + len(body)) + body)  # the second: a notification
        body = b'{"jsonrpc": "2.0", "id": 9, "method": "add", "params": [1]}'
        sock.sendall(struct.pack(">I", 4 + len(body)) + body)
        replies = [json.loads(read_frame(sock)) for _ in range(2)]
    assert [reply["error"]["code"] for reply in replies] == [-32700, -32602]
    assert replies[1]["id"] == 9


def read_frame(sock: socket.socket) -> bytes:
    head = read_exactly(sock, 4)
    return read_exactly(sock, struct.unpack(">I", head)[0] - 4)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    sock.settimeout(10)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


CHECKS["json-rpc"] = check_json_rpc


def check_custom_protocol(program: Program, _: str) -> None:
    frame = b"\xa5\x5a\x01\x00\x0521.5C" + b"\xa5\x5a\x02\x00\x04fire"
    with socket.create_connection(("127.0.0.1", program.ports[0])) as sock:
        for piece in (frame[:3], frame[3:12], frame[12:]):  # frames split across reads
            sock.sendall(piece)
        acks = read_exactly(sock, 10 + 9)
    assert acks == b"\xa5\x5a\x03\x00\x0521.5C" + b"\xa5\x5a\x03\x00\x04fire"
    program.wait_for(": alarm fire")
    assert ": reading 21.5C" in program.output
    with socket.create_connection(("127.0.0.1", program.ports[0])) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(100) == b""  # garbage: closed
    program.wait_for("not a sensor frame: 474554202f")
    assert "WARNING" in program.output


CHECKS["custom-protocol"] = check_custom_protocol


def command(program: Program, *args: str) -> str:
    """``python prog.py ARGS`` beside the running program: its output (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(program.path), *args],
        cwd=program.folder,
        env=program.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def check_deploying(program: Program, _: str) -> None:
    port = program.ports[0]
    status, body = curl(port)
    assert status == 200 and body.startswith("v1 from process"), body
    status_table = command(program, "status")
    assert "web" in status_table and "http://0.0.0.0:" in status_table, status_table
    handlers = program.folder / "handlers.py"
    handlers.write_text(handlers.read_text().replace('"v1"', '"v2 (new)"'))
    command(program, "reload", "-g")
    wait_until(lambda: curl(port)[1].startswith("v2 (new) from"), 15, "the new code answering")
    log = (program.folder / "workerman.log").read_text()
    assert "reload" in log.lower(), log


CHECKS["deploying"] = check_deploying


def check_scaling_out(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    (snippet,) = [
        s for s in snippets(program.page) if s.name == "scaling-out" and s.kind == "program"
    ]
    port = free_port()
    other = Program(snippet, program.folder / "node-b", REPLACE["scaling-out"], {"PORT": str(port)})
    try:
        other.start()
        a, b = program.ports[0], other.ports[0]
        with (
            connect(f"ws://127.0.0.1:{a}/?user=alice&room=42") as alice,
            connect(f"ws://127.0.0.1:{b}/?user=bob&room=42") as bob,
        ):
            alice.send("hi")
            assert bob.recv(timeout=10) == alice.recv(timeout=10) == "alice: hi"
            bob.send("@alice psst")
            assert alice.recv(timeout=10) == "bob (private): psst"
            bob.send("@carol hello?")
            assert bob.recv(timeout=10) == "* carol is not online"
            said = run_client(program, "scaling-out")
            assert said.splitlines()[0] == "alice online: True", said
            assert alice.recv(timeout=10) == bob.recv(timeout=10) == "server: maintenance at noon"
        other.stop()
    finally:
        other.kill()


ENV: dict[str, Callable[[], dict[str, str]]] = {"scaling-out": lambda: {"PORT": str(free_port())}}
CHECKS["scaling-out"] = check_scaling_out
REPLACE["scaling-out"] = {'prefix="rooms:"': f'prefix="{TOPICS}:"'}


def check_readme_tcp(program: Program, _: str) -> None:
    with socket.create_connection(("127.0.0.1", program.ports[0])) as sock:
        sock.sendall(b"hello\n")
        assert read_until(sock, b"\n") == b"HELLO\n"


def check_readme_http(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    port = program.ports[0]
    assert curl(port, "/?name=you") == (200, "hello you\n")
    assert curl(port, "/elsewhere") == (404, "not found\n")
    with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        ws.send("echo?")
        assert ws.recv(timeout=10) == "echo?"


CHECKS.update({"readme-tcp": check_readme_tcp, "readme-http": check_readme_http})
