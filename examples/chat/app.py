"""A chat room on one port: the page at GET /, the room at GET /ws (a WebSocket).

    python examples/chat/app.py start      # then open http://127.0.0.1:8080/ in two tabs

Settings come from the environment: CHAT_HOST (default 0.0.0.0) and CHAT_PORT
(default 8080; 0 picks a free port, and the URL printed at start says which).

Every WebSocket message is a JSON object with a "type".

Client to server:
    {"type": "join", "name": "alice"}       first, unless the socket was opened as /ws?name=alice
    {"type": "message", "text": "hello"}

Server to client:
    {"type": "welcome", "name": "alice"}    to the one who joined: you are in, as this name
    {"type": "join", "name": "alice"}       to everyone in the room, the newcomer included
    {"type": "leave", "name": "alice"}
    {"type": "users", "users": ["alice", "bob"], "count": 2}   after every join and leave
    {"type": "message", "name": "alice", "text": "hello", "time": 1700000000000}
    {"type": "error", "error": "..."}       to the sender only; the connection stays open

The server checks everything a client sends (a name of 1-32 characters, not in use; a
message of 1-2000 characters) and the page shows every text with textContent, never as
HTML, so a message cannot inject markup.

By default the room lives in this process's memory: one node (`make run`). With CHAT_REDIS
set, the room is a group of workerman.gateway on that Redis, so any number of nodes (on
this machine or others) share one room, with no change to the code:

    CHAT_REDIS=redis://127.0.0.1:6379/0 CHAT_PORT=8080 python examples/chat/app.py start
    CHAT_REDIS=redis://127.0.0.1:6379/0 CHAT_PORT=8081 python examples/chat/app.py start

CHAT_PREFIX (default "chat:") is the namespace of the room in that Redis. A name is unique
in the room (the same name on another node is refused, checked through Redis; two joins of
one name at the same instant on two nodes can both pass).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workerman.core import TcpConnection, Worker, current_loop
from workerman.core.http import Request, Response
from workerman.core.websocket import WebSocket, upgrade

HOST = os.environ.get("CHAT_HOST", "0.0.0.0")
PORT = int(os.environ.get("CHAT_PORT", "8080"))
REDIS = os.environ.get("CHAT_REDIS", "")
PREFIX = os.environ.get("CHAT_PREFIX", "chat:")
GROUP = "room"

MAX_NAME = 32
MAX_TEXT = 2000
# A frame larger than this closes the socket (code 1009) before it is even decoded: room
# for the longest valid message, JSON-escaped, with plenty to spare.
MAX_FRAME = 64 * 1024
# the room's sockets: ping quiet clients (and drop the ones that never answer); no
# compression, so a message to the room is framed once for everyone
ChatSocket = WebSocket.configure(heartbeat=30, compression=False)

STATIC = Path(__file__).resolve().parent
PAGES = {"/": STATIC / "index.html", "/chat.js": STATIC / "chat.js"}
# The page loads nothing but its own script and talks only to its own origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class ChatError(Exception):
    """Bad input from a client: the message goes back to that client only."""


class Room:
    """Who is in the room, by connection, and sending to all of them (this process only)."""

    def __init__(self) -> None:
        self.members: dict[int, tuple[TcpConnection, str]] = {}

    def names(self) -> list[str]:
        return sorted((name for _, name in self.members.values()), key=str.casefold)

    def name_of(self, connection: TcpConnection) -> str | None:
        member = self.members.get(connection.id)
        return None if member is None else member[1]

    async def name_taken(self, name: str) -> bool:
        wanted = name.casefold()
        return any(other.casefold() == wanted for _, other in self.members.values())

    async def broadcast(self, **fields: Any) -> None:
        # Encode once: the same str goes to every member (and the WebSocket codec
        # reuses the frame it built for the previous connection).
        text = json.dumps(fields, ensure_ascii=False)
        for connection, _ in list(self.members.values()):
            connection.send(text)

    async def users(self) -> list[str]:
        return self.names()

    async def join(self, connection: TcpConnection, name: str) -> None:
        self.members[connection.id] = (connection, name)
        await self.joined(connection, name)

    async def joined(self, connection: TcpConnection, name: str) -> None:
        send(connection, type="welcome", name=name)
        await self.broadcast(type="join", name=name)
        users = await self.users()
        await self.broadcast(type="users", users=users, count=len(users))

    async def leave(self, connection: TcpConnection) -> None:
        member = self.members.pop(connection.id, None)
        if member is not None:
            await self.broadcast(type="leave", name=member[1])
            users = await self.users()
            await self.broadcast(type="users", users=users, count=len(users))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class ClusterRoom(Room):
    """The room as a group of workerman.gateway: members on every node that shares the
    Redis; each name is a uid, so the list of users is the uids online."""

    def __init__(self, url: str, prefix: str) -> None:
        from workerman.gateway import Gateway

        super().__init__()
        self.gateway = Gateway(url, prefix=prefix)

    async def name_taken(self, name: str) -> bool:
        return await super().name_taken(name) or await self.gateway.is_uid_online(name)

    async def broadcast(self, **fields: Any) -> None:
        await self.gateway.send_to_group(GROUP, json.dumps(fields, ensure_ascii=False))

    async def users(self) -> list[str]:
        return sorted(await self.gateway.uids(), key=str.casefold)

    async def join(self, connection: TcpConnection, name: str) -> None:
        client = self.gateway.client(connection)
        await client.bind_uid(name)
        await client.join_group(GROUP)
        self.members[connection.id] = (connection, name)
        await self.joined(connection, name)

    async def start(self) -> None:
        await self.gateway.start()

    async def stop(self) -> None:
        await self.gateway.stop()


room = ClusterRoom(REDIS, PREFIX) if REDIS else Room()


def send(connection: TcpConnection, **fields: Any) -> None:
    connection.send(json.dumps(fields, ensure_ascii=False))


async def check_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ChatError("name must be a string")
    name = " ".join(value.split())  # trimmed, inner runs of whitespace made single spaces
    if not 1 <= len(name) <= MAX_NAME:
        raise ChatError(f"name must be 1-{MAX_NAME} characters")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise ChatError("name must not contain control or invisible characters")
    if await room.name_taken(name):
        raise ChatError(f"the name {name!r} is taken")
    return name


def check_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ChatError("text must be a string")
    if not value.strip():
        raise ChatError("message must not be empty")
    if len(value) > MAX_TEXT:
        raise ChatError(f"message must be 1-{MAX_TEXT} characters")
    return value


# -- the WebSocket side -----------------------------------------------------------------


async def on_chat_message(connection: TcpConnection, message: str | bytes) -> None:
    """One WebSocket message from a client: a join, or a line for the room. (Async, so
    the core handles one connection's messages in order, each after the last is done.)"""
    try:
        await handle(connection, message)
    except ChatError as exc:
        send(connection, type="error", error=str(exc))
    except Exception as exc:  # the room's Redis is out of reach (GatewayError), say
        send(connection, type="error", error=f"the room is unavailable: {exc}")


async def handle(connection: TcpConnection, message: str | bytes) -> None:
    if not isinstance(message, str):
        raise ChatError("send JSON in text frames")
    try:
        data = json.loads(message)
    except ValueError:
        raise ChatError("not valid JSON") from None
    if not isinstance(data, dict):
        raise ChatError("send a JSON object with a type")
    kind = data.get("type")
    name = room.name_of(connection)
    if kind == "join":
        if name is not None:
            raise ChatError(f"already joined as {name!r}")
        await room.join(connection, await check_name(data.get("name")))
    elif kind == "message":
        if name is None:
            raise ChatError("join first")
        text = check_text(data.get("text"))
        await room.broadcast(type="message", name=name, text=text, time=int(time.time() * 1000))
    else:
        raise ChatError(f"unknown message type {kind!r}")


def on_chat_close(connection: TcpConnection) -> None:
    # As a task: it runs once this close is done (the gateway has dropped the client), so
    # the users list it sends no longer has this one.
    current_loop().spawn(room.leave, connection)


# -- the HTTP side ----------------------------------------------------------------------


def same_origin(request: Request) -> bool:
    """A browser sends Origin with a WebSocket handshake; one from another site must not
    open a socket here with its visitor's browser (cross-site WebSocket hijacking).
    Clients that are not browsers send no Origin and are let in."""
    origin = request.header("origin")
    return origin is None or urlsplit(origin).netloc.lower() == request.host.lower()


def on_request(connection: TcpConnection, request: Request) -> None:
    path = request.path
    if path == "/ws":
        if not same_origin(request):
            connection.send(Response(403, body="cross-origin WebSocket refused"))
            return
        connection.max_package_size = MAX_FRAME  # before upgrade(), which applies it
        connection.on_close = on_chat_close
        # No permessage-deflate: chat lines are short, and every one goes to everyone;
        # uncompressed, a broadcast is framed once instead of deflated per recipient.
        if upgrade(connection, request, protocol=ChatSocket, on_message=on_chat_message):
            name = request.get("name")
            if name is not None:  # /ws?name=alice joins at once
                current_loop().spawn(
                    on_chat_message, connection, json.dumps({"type": "join", "name": name})
                )
        return
    page = PAGES.get(path)
    if page is None:
        connection.send(Response(404, body="Not Found"))
    elif request.method not in ("GET", "HEAD"):
        connection.send(Response(405, {"Allow": "GET, HEAD"}, "Method Not Allowed"))
    else:
        connection.send(Response(headers=SECURITY_HEADERS).with_file(page))


async def on_worker_start(worker: Worker) -> None:
    await room.start()
    host, port = worker.listening[:2]
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening on every interface: this machine is one of them
    shown = f"[{host}]" if ":" in host else host
    print(f"chat: open http://{shown}:{port}/ in two browser tabs", flush=True)
    if REDIS:
        print(f"chat: one node of the room in {REDIS} ({PREFIX!r})", flush=True)


async def on_worker_stop(worker: Worker) -> None:
    # Close every socket with "going away" (1001), which the page shows; the room is
    # emptied first so the closes do not broadcast a leave for everyone to everyone.
    members = list(room.members.values())
    room.members.clear()
    for connection, _ in members:
        connection.websocket.close(1001, "server shutting down")
    await room.stop()


chat = Worker(f"http://{HOST}:{PORT}", name="chat", count=1)
chat.on_message = on_request
chat.on_worker_start = on_worker_start
chat.on_worker_stop = on_worker_stop

if REDIS:  # several nodes may start from this file: keep their pid files apart
    _files = Path(tempfile.gettempdir()) / f"workerman.chat-{PORT}"
    Worker.pid_file = f"{_files}.pid"
    Worker.status_file = f"{_files}.status"
    Worker.log_file = f"{_files}.log"

if __name__ == "__main__":
    Worker.run_all()
