"""The test app: each line (or WebSocket text message) a client sends is a command for the
gateway, answered with ``ok <result>`` or ``err <ErrorType>``; what the gateway delivers
arrives as sent (the tests send payloads starting with ``msg:``)."""

from __future__ import annotations

import json
from typing import Any

from workerman.core import TcpConnection
from workerman.gateway import Gateway, GatewayError


def command_handler(gateway: Gateway) -> Any:
    async def on_message(connection: TcpConnection, line: str) -> None:
        op, _, rest = line.partition(" ")
        client = gateway.client(connection)
        try:
            result = await run(gateway, client, op, rest)
        except GatewayError as exc:
            connection.send(f"err {type(exc).__name__}")
            return
        connection.send(f"ok {result}")

    return on_message


async def run(gateway: Gateway, client: Any, op: str, rest: str) -> Any:
    arg, _, text = rest.partition(" ")
    if op == "id":
        return client.id
    if op == "bind":
        return await client.bind_uid(arg)
    if op == "unbind":
        return await client.unbind_uid()
    if op == "join":
        return await client.join_group(arg)
    if op == "leave":
        return await client.leave_group(arg)
    if op == "touid":
        return await gateway.send_to_uid(arg, text)
    if op == "togroup":
        return await gateway.send_to_group(arg, text)
    if op == "togroupx":  # everyone in the group but me
        return await gateway.send_to_group(arg, text, exclude=[client.id])
    if op == "togroupx1":  # the same, the one id given as a str
        return await gateway.send_to_group(arg, text, exclude=client.id)
    if op == "toclient":
        return await gateway.send_to_client(arg, text)
    if op == "toall":
        return await gateway.send_to_all(rest)
    if op == "online":
        return await gateway.is_uid_online(arg)
    if op == "count":
        return f"{await gateway.client_count()} {await gateway.uid_count()}"
    if op == "gcount":
        return await gateway.group_member_count(arg)
    if op == "setsess":
        return json.dumps(await client.update_session(json.loads(rest)), sort_keys=True)
    if op == "getsess":
        return json.dumps(await gateway.get_session(arg), sort_keys=True)
    if op == "uidof":
        return await gateway.uid_of(arg)
    if op == "close":
        return await gateway.close_client(arg, "msg:bye")
    return f"unknown {op}"
