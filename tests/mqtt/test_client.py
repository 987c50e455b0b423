"""Publish, subscribe, routing, flow control and errors against the running Mosquitto."""

from __future__ import annotations

import anyio
import pytest

from workerman.mqtt import (
    ConnectResult,
    Message,
    MqttClient,
    MqttClosedError,
    MqttConnectError,
    MqttConnectionError,
    MqttError,
    MqttNotAuthorizedError,
    MqttQueueFullError,
    MqttSubscribeError,
    MqttTimeoutError,
    topic_matches,
)

from .conftest import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[5, 4], ids=["mqtt5", "mqtt311"])
def protocol(request: pytest.FixtureRequest) -> int:
    return int(request.param)


async def test_publish_is_acknowledged_and_received_at_each_qos(
    loop: None, mqtt_url: str, prefix: str, protocol: int
) -> None:
    async with (
        MqttClient(mqtt_url, protocol=protocol) as sub,
        MqttClient(mqtt_url, protocol=protocol) as pub,
    ):
        assert await sub.subscribe(f"{prefix}/#", qos=2) == [2]
        stream = sub.messages()
        for qos in (0, 1, 2):
            await pub.publish(f"{prefix}/q{qos}", f"payload {qos}", qos=qos)
        got = [await anext(stream) for _ in range(3)]
        assert [(m.topic, m.payload, m.qos) for m in got] == [
            (f"{prefix}/q0", b"payload 0", 0),
            (f"{prefix}/q1", b"payload 1", 1),
            (f"{prefix}/q2", b"payload 2", 2),
        ]
        assert pub.status()["acknowledged"] == 2
        assert pub.status()["in_flight"] == 0


async def test_callback_style_reports_results_and_errors(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    client = MqttClient(mqtt_url)
    results: list[tuple[object, BaseException | None]] = []

    def record(result: object, error: BaseException | None) -> None:
        results.append((result, error))

    client.connect(callback=record)
    await wait_for(lambda: len(results) == 1)
    assert isinstance(results[0][0], ConnectResult) and results[0][1] is None
    received: list[Message] = []
    client.on_message = received.append
    client.subscribe(f"{prefix}/cb", qos=1, callback=record)
    await wait_for(lambda: len(results) == 2)
    assert results[1] == ([1], None)
    assert client.publish(f"{prefix}/cb", b"one", qos=1, callback=record) is None
    await wait_for(lambda: len(results) == 3 and len(received) == 1)
    assert results[2] == (None, None)
    assert received[0].payload == b"one"
    client.disconnect(callback=record)
    await wait_for(lambda: len(results) == 4)
    client.publish(f"{prefix}/cb", b"late", qos=1, callback=record)
    assert isinstance(results[4][1], MqttClosedError)


async def test_messages_are_routed_to_the_filters_they_match(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    async with MqttClient(mqtt_url) as client:
        await client.subscribe([(f"{prefix}/#", 1)])
        temps = client.messages(f"{prefix}/+/temp")
        everything = client.messages()
        handled: list[str] = []
        remove = client.add_handler(f"{prefix}/dev1/#", lambda m: handled.append(m.topic))
        for topic in ("dev1/temp", "dev2/temp", "dev1/humidity", "dev2/temp/raw"):
            await client.publish(f"{prefix}/{topic}", b"x", qos=1)
        seen = [(await anext(everything)).topic for _ in range(4)]
        assert seen == [
            f"{prefix}/{t}" for t in ("dev1/temp", "dev2/temp", "dev1/humidity", "dev2/temp/raw")
        ]
        assert [(await anext(temps)).topic for _ in range(2)] == [
            f"{prefix}/dev1/temp",
            f"{prefix}/dev2/temp",
        ]
        assert temps.get_nowait() is None
        assert handled == [f"{prefix}/dev1/temp", f"{prefix}/dev1/humidity"]
        remove()
        await client.publish(f"{prefix}/dev1/temp", b"y", qos=1)
        assert (await anext(everything)).payload == b"y"
        assert len(handled) == 2


def test_topic_matching_follows_the_specification() -> None:
    assert topic_matches("a/+/c", "a/b/c")
    assert not topic_matches("a/+/c", "a/b/d/c")
    assert topic_matches("a/#", "a")
    assert topic_matches("a/#", "a/b/c")
    assert topic_matches("+/+", "/x")
    assert not topic_matches("#", "$SYS/broker")
    assert not topic_matches("+/broker", "$SYS/broker")
    assert topic_matches("$SYS/#", "$SYS/broker")
    assert topic_matches("$share/group/a/+", "a/b")
    assert not topic_matches("a/b", "a/b/c")


async def test_bad_input_is_refused_before_anything_is_sent(loop: None, mqtt_url: str) -> None:
    client = MqttClient(mqtt_url)
    with pytest.raises(MqttError, match="wildcards"):
        client.publish("a/+/b", b"x")
    with pytest.raises(MqttError, match="qos"):
        client.publish("a/b", b"x", qos=3)
    with pytest.raises(MqttError, match="cannot publish a dict"):
        client.publish("a/b", {"no": "json"})  # type: ignore[arg-type]
    with pytest.raises(MqttError, match="'#' must be"):
        client.subscribe("a/#/b")
    with pytest.raises(MqttError, match="'\\+' must be"):
        client.subscribe("a/b+")
    with pytest.raises(MqttError, match="scheme"):
        MqttClient("http://127.0.0.1")
    with pytest.raises(MqttError, match="protocol"):
        MqttClient(mqtt_url, protocol=3)
    assert client.status()["published"] == 0


async def test_publishes_before_connect_wait_in_a_bounded_backlog(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    async with MqttClient(mqtt_url) as sub:
        await sub.subscribe(f"{prefix}/early", qos=1)
        stream = sub.messages()
        pub = MqttClient(mqtt_url, max_queued_messages=2)
        first = pub.publish(f"{prefix}/early", b"1", qos=1)
        second = pub.publish(f"{prefix}/early", b"2", qos=0)
        with pytest.raises(MqttQueueFullError):
            await pub.publish(f"{prefix}/early", b"3", qos=1)
        assert pub.status()["backlog"] == 2
        await pub.connect()
        await first
        await second
        assert [(await anext(stream)).payload for _ in range(2)] == [b"1", b"2"]
        await pub.disconnect()


async def test_a_slow_consumer_pauses_reading_and_loses_nothing(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    async with MqttClient(mqtt_url) as sub, MqttClient(mqtt_url) as pub:
        await sub.subscribe(f"{prefix}/slow", qos=1)
        stream = sub.messages(maxsize=4)
        for index in range(40):
            pub.publish(f"{prefix}/slow", str(index), qos=1, callback=lambda r, e: None)
        await wait_for(lambda: sub.status()["reading_paused"])
        assert len(stream) <= 5
        got = [int((await anext(stream)).payload) for _ in range(40)]
        assert got == list(range(40))
        assert not sub.status()["reading_paused"]


async def test_in_flight_publishes_are_bounded_by_the_window(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    async with MqttClient(mqtt_url, max_inflight=3) as pub:
        peak = 0
        done = 0

        def finished(_result: object, error: BaseException | None) -> None:
            nonlocal done
            assert error is None
            done += 1

        for index in range(30):
            pub.publish(f"{prefix}/window", str(index), qos=1, callback=finished)
            peak = max(peak, int(pub.status()["in_flight"]))  # type: ignore[call-overload]
        assert peak == 3
        assert pub.status()["backlog"] == 27
        await wait_for(lambda: done == 30)


async def test_connecting_to_a_closed_port_fails_with_a_connection_error(
    loop: None, free_port: int
) -> None:
    with pytest.raises(MqttConnectionError, match="cannot connect"):
        await MqttClient(f"mqtt://127.0.0.1:{free_port}", connect_timeout=2).connect()


async def test_a_server_that_never_answers_connect_times_out(loop: None) -> None:
    accepted: list[object] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: object) -> None:
        accepted.append(stream)
        await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, hold)
        client = MqttClient(f"mqtt://127.0.0.1:{port}", connect_timeout=0.3)
        # the handshake's deadline or the connect call's, whichever a loaded machine
        # gets to first (they are the same 0.3 s)
        with pytest.raises(MqttTimeoutError, match=r"CONNACK|not connected within 0\.3s"):
            await client.connect()
        assert accepted
        group.cancel_scope.cancel()


async def _scripted_broker(
    answers: dict[int, bytes], seen: list[bytes] | None = None
) -> tuple[int, object]:
    """A TCP server that answers each MQTT packet type (first byte >> 4) with bytes
    (``{mid}`` in them is the request's packet id): a broker that says no, or that
    misbehaves on purpose. Every packet it gets is appended to ``seen``."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def serve(stream: anyio.abc.SocketStream) -> None:
        data = b""
        async for chunk in stream:
            data += chunk
            while len(data) >= 2 and len(data) >= 2 + data[1]:
                packet, data = data[: 2 + data[1]], data[2 + data[1] :]
                if seen is not None:
                    seen.append(packet)
                answer = answers.get(packet[0] >> 4)
                if answer is not None:
                    await stream.send(answer.replace(b"{mid}", packet[2:4]))

    return listener.extra(anyio.abc.SocketAttribute.local_port), (listener, serve)


async def test_a_refused_subscription_raises_with_the_reason_code_and_is_not_kept(
    loop: None,
) -> None:
    # MQTT 3.1.1: CONNACK accepted; SUBACK grants QoS 1 to the first filter, 0x80 to the second
    port, (listener, serve) = await _scripted_broker(
        {1: b"\x20\x02\x00\x00", 8: b"\x90\x04{mid}\x01\x80"}
    )
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)  # type: ignore[attr-defined]
        async with MqttClient(f"mqtt://127.0.0.1:{port}", protocol=4) as client:
            with pytest.raises(MqttSubscribeError) as refused:
                await client.subscribe([("fine/#", 1), ("refused/#", 1)])
            assert refused.value.reason_code == 0x80
            assert refused.value.refused == {"refused/#": 0x80}
            assert client.status()["subscriptions"] == 1
        group.cancel_scope.cancel()


async def test_a_refused_connect_raises_with_the_reason_code(loop: None) -> None:
    # MQTT 5 CONNACK: no session, reason 0x9F (connection rate exceeded), no properties
    port, (listener, serve) = await _scripted_broker({1: b"\x20\x03\x00\x9f\x00"})
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)  # type: ignore[attr-defined]
        with pytest.raises(MqttConnectError) as refused:
            await MqttClient(f"mqtt://127.0.0.1:{port}").connect()
        assert refused.value.reason_code == 0x9F
        assert not isinstance(refused.value, MqttNotAuthorizedError)
        group.cancel_scope.cancel()


async def test_an_inbound_qos2_message_sent_twice_is_delivered_once_on_pubrel(
    loop: None,
) -> None:
    # MQTT 3.1.1: after CONNACK the broker sends PUBLISH QoS 2 (id 5), the same again
    # with DUP (as after a lost PUBREC), then PUBREL 5
    publish = b"\x00\x03a/b\x00\x05once"
    script = (
        b"\x20\x02\x00\x00"
        + bytes([0x34, len(publish)])
        + publish
        + bytes([0x3C, len(publish)])
        + publish
        + b"\x62\x02\x00\x05"
    )
    seen: list[bytes] = []
    port, (listener, serve) = await _scripted_broker({1: script}, seen)
    received: list[Message] = []
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)  # type: ignore[attr-defined]
        client = MqttClient(f"mqtt://127.0.0.1:{port}", protocol=4)
        client.on_message = received.append
        await client.connect()
        await wait_for(lambda: b"\x70\x02\x00\x05" in seen)  # PUBCOMP 5
        assert [(m.topic, m.payload, m.qos) for m in received] == [("a/b", b"once", 2)]
        assert seen.count(b"\x50\x02\x00\x05") == 2  # a PUBREC for each PUBLISH
        await client.disconnect()
        group.cancel_scope.cancel()


async def test_mqtt5_user_properties_and_subscription_options(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    async with MqttClient(mqtt_url) as client, MqttClient(mqtt_url) as other:
        await client.subscribe(f"{prefix}/opts", qos=1, no_local=True)
        stream = client.messages()
        await client.publish(f"{prefix}/opts", b"mine: not echoed back", qos=1)
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = ("device", "7")
        properties.ContentType = "text/plain"
        await other.publish(f"{prefix}/opts", b"theirs", qos=1, properties=properties)
        message = await anext(stream)
        assert message.payload == b"theirs"
        assert message.user_properties == [("device", "7")]
        assert message.properties.ContentType == "text/plain"
        with pytest.raises(MqttError, match="MQTT 5"):
            MqttClient(mqtt_url, protocol=4).subscribe("a", no_local=True)
