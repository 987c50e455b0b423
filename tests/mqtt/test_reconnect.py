"""Broker outages: Mosquitto stopped and started again mid-stream on its own port. The
clients reconnect with backoff, resubscribe (or find their session), and every QoS 1/2
message published before, during and after the outage arrives; QoS 2 exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from workerman.mqtt import MqttClient, MqttConnectionLostError

from .conftest import Broker, wait_for

pytestmark = pytest.mark.anyio


def _fast(url: str, **options: object) -> MqttClient:
    return MqttClient(url, reconnect_delay=(0.02, 0.2), connect_timeout=2, **options)  # type: ignore[arg-type]


async def test_nothing_is_lost_when_the_broker_restarts_mid_stream(
    loop: None, broker_factory: Callable[..., Broker], prefix: str
) -> None:
    broker = broker_factory()
    session = {"clean_start": False, "session_expiry": 300}
    sub = _fast(broker.url, client_id=f"sub-{prefix[-12:]}", **session)
    pub = _fast(broker.url, client_id=f"pub-{prefix[-12:]}", **session)
    received: Counter[tuple[int, bytes]] = Counter()
    sub.on_message = lambda m: received.update([(m.qos, m.payload)])
    losses: list[BaseException] = []
    pub.on_disconnect = losses.append
    await sub.connect()
    await sub.subscribe(f"{prefix}/stream", qos=2)
    await pub.connect()
    failures: list[BaseException] = []
    acked = 0

    def done(_result: object, error: BaseException | None) -> None:
        nonlocal acked
        if error is not None:
            failures.append(error)
        acked += 1

    def publish_batch(start: int) -> None:
        for index in range(start, start + 50):
            qos = 1 + index % 2
            pub.publish(f"{prefix}/stream", str(index), qos=qos, callback=done)

    publish_batch(0)  # before: some still in flight when the broker goes
    broker.stop()
    await wait_for(lambda: losses and not sub.connected)
    publish_batch(50)  # during: into the backlog
    assert pub.status()["backlog"] >= 50
    broker.start()
    await wait_for(lambda: pub.connected and sub.connected)
    publish_batch(100)  # after
    await wait_for(lambda: acked == 150)
    assert failures == []
    expected = {(1 + i % 2, str(i).encode()) for i in range(150)}
    await wait_for(lambda: set(received) >= expected)
    assert set(received) == expected
    assert all(count == 1 for (qos, _), count in received.items() if qos == 2)
    assert pub.status()["reconnects"] >= 1
    assert sub.status()["resubscribed"] == 0  # the broker kept the session
    await pub.disconnect()
    await sub.disconnect()


async def test_subscriptions_are_restored_when_the_broker_kept_no_session(
    loop: None, broker_factory: Callable[..., Broker], prefix: str
) -> None:
    broker = broker_factory()
    async with _fast(broker.url) as client, _fast(broker.url) as other:
        await client.subscribe([(f"{prefix}/a", 1), (f"{prefix}/b/+", 0)])
        stream = client.messages()
        broker.stop()
        broker.directory.joinpath("mosquitto.db").unlink(missing_ok=True)  # no session left
        await wait_for(lambda: not client.connected)
        broker.start()
        await wait_for(lambda: client.connected and other.connected)
        await wait_for(lambda: client.status()["resubscribed"] == 2)
        # resubscribed once the SUBACK is back: a publish then is routed to us
        await client.subscribe(f"{prefix}/sync", qos=1)
        await other.publish(f"{prefix}/a", b"to a", qos=1)
        await other.publish(f"{prefix}/b/x", b"to b", qos=1)
        assert [(await anext(stream)).payload for _ in range(2)] == [b"to a", b"to b"]


async def test_without_reconnect_a_loss_ends_streams_with_an_error(
    loop: None, broker_factory: Callable[..., Broker], prefix: str
) -> None:
    broker = broker_factory()
    client = _fast(broker.url, reconnect=False)
    await client.connect()
    await client.subscribe(f"{prefix}/x")
    stream = client.messages()
    broker.stop()
    with pytest.raises(MqttConnectionLostError):
        await anext(stream)
    assert client.status()["state"] == "idle"
    # publishes wait for the next connect() the application makes
    queued = client.publish(f"{prefix}/x", b"y", qos=1)
    broker.start()
    await client.connect()
    await queued
    await client.disconnect()


async def test_keepalive_notices_a_broker_that_stopped_answering(
    loop: None, broker_factory: Callable[..., Broker], prefix: str
) -> None:
    import signal

    broker = broker_factory()
    client = _fast(broker.url, keepalive=1)
    losses: list[BaseException] = []
    client.on_disconnect = losses.append
    await client.connect()
    assert broker.process is not None
    broker.process.send_signal(signal.SIGSTOP)  # the socket stays open, nothing answers
    try:
        await wait_for(lambda: losses, timeout=15)  # PINGREQ unanswered within keepalive
    finally:
        broker.process.send_signal(signal.SIGCONT)
    await wait_for(lambda: client.connected, timeout=15)
    assert client.status()["connection_losses"] == 1
    await client.disconnect()


async def test_an_unacknowledged_qos1_publish_is_sent_again_with_dup_after_a_reconnect(
    loop: None,
) -> None:
    import anyio

    # a broker (MQTT 3.1.1) that drops the first connection on the first PUBLISH, unanswered,
    # and acknowledges on the second
    publishes: list[bytes] = []
    connections = 0

    async def serve(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        connections += 1
        data = b""
        async for chunk in stream:
            data += chunk
            while len(data) >= 2 and len(data) >= 2 + data[1]:
                packet, data = data[: 2 + data[1]], data[2 + data[1] :]
                kind = packet[0] >> 4
                if kind == 1:
                    await stream.send(b"\x20\x02\x00\x00")
                elif kind == 3:
                    publishes.append(packet)
                    if connections == 1:
                        await stream.aclose()
                        return
                    await stream.send(b"\x40\x02" + packet[7:9])  # PUBACK: topic "a/b"

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        client = _fast(f"mqtt://127.0.0.1:{port}", protocol=4)
        await client.connect()
        await client.publish("a/b", b"x", qos=1)  # returns on the second connection's PUBACK
        assert connections == 2
        first, again = publishes
        assert first[0] == 0x32 and again[0] == 0x3A  # QoS 1, then QoS 1 with DUP
        assert first[1:] == again[1:]  # the same packet id and message
        await client.disconnect()
        group.cancel_scope.cancel()
