"""The PUBLISH decoder against paho's own, and the socket paho reads: any split of the
byte stream yields the same packets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt._packet import decode_publish as paho_decode
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from workerman.mqtt._decode import decode_publish

topics = st.binary(min_size=1, max_size=40)
payloads = st.binary(max_size=300)
# MQTT strings are UTF-8 without U+0000 (paho refuses those when it packs)
mqtt_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
user_properties = st.lists(st.tuples(mqtt_text, mqtt_text), max_size=3)


def _publish(topic: bytes, qos: int, mid: int, props: Properties | None, payload: bytes) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += props.pack()
    return body + payload


def _props(pairs: list[tuple[str, str]], expiry: int | None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    for pair in pairs:
        props.UserProperty = pair
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    return props


@given(
    topic=topics,
    qos=st.integers(0, 2),
    mid=st.integers(1, 65535),
    flags=st.integers(0, 0x09),
    pairs=user_properties,
    expiry=st.none() | st.integers(0, 2**32 - 1),
    payload=payloads,
    v5=st.booleans(),
)
def test_the_decoder_agrees_with_paho(
    topic: bytes,
    qos: int,
    mid: int,
    flags: int,
    pairs: list[tuple[str, str]],
    expiry: int | None,
    payload: bytes,
    v5: bool,
) -> None:
    header = 0x30 | (qos << 1) | (flags & 0x09)
    props = _props(pairs, expiry) if v5 else None
    packet = _publish(topic, qos, mid, props, payload)
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    theirs = paho_decode(header, packet, protocol)
    ours = decode_publish(header, packet, v5)
    assert (ours.dup, ours.qos, ours.retain, ours.topic, ours.mid, ours.payload) == (
        theirs.dup,
        theirs.qos,
        theirs.retain,
        theirs.topic,
        theirs.mid,
        bytes(theirs.payload),
    )
    if ours.properties is None:
        assert not v5 or theirs.properties.json() == {}  # type: ignore[union-attr]
    else:
        assert ours.properties.json() == theirs.properties.json()  # type: ignore[union-attr]


@pytest.mark.parametrize("packet", [b"", b"\x00", b"\x00\x05ab", b"\x00\x01a"])
def test_short_packets_are_malformed(packet: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode_publish(0x32, packet, True)  # QoS 1: a packet id is due after the topic


@given(
    data=st.binary(min_size=1, max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
)
def test_the_socket_paho_reads_gives_the_same_bytes_for_any_split(
    data: bytes, cuts: list[int], sizes: list[int]
) -> None:
    from workerman.mqtt._socket import Transport

    transport = Transport.__new__(Transport)
    transport._data, transport._pos, transport.eof = b"", 0, False
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    read = b""
    turn = 0
    for chunk in chunks:
        transport._feed(chunk)
        while True:
            try:
                got = transport.recv(sizes[turn % len(sizes)])
            except BlockingIOError:
                break
            turn += 1
            read += got
    assert read == data
    transport.eof = True
    assert transport.recv(1) == b""
