"""PUBLISH packets decoded without building an empty Properties object for each.

paho's ``decode_publish`` makes a ``Properties`` for every MQTT 5 message, and making
one costs more than the rest of the decode (it rebuilds its name tables). Most
messages carry no properties: their property length is a single zero byte. This
decoder reads the fixed layout itself and leaves properties to paho only when there
are some, so the result is paho's, field for field, except that ``properties`` is None
where paho would give an empty Properties.
"""

from __future__ import annotations

from paho.mqtt._packet import PublishPacket
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["decode_publish"]


def decode_publish(header: int, packet: bytes | bytearray, v5: bool) -> PublishPacket:
    """Decode the variable header and payload of a PUBLISH whose first byte is ``header``."""
    qos = (header & 0x06) >> 1
    size = len(packet)
    if size < 2:
        raise MalformedPacket("PUBLISH too short for its topic length")
    end = 2 + ((packet[0] << 8) | packet[1])
    if end > size:
        raise MalformedPacket("PUBLISH topic runs past the packet")
    topic = bytes(packet[2:end])
    if not v5 and not topic:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    mid = 0
    if qos:
        if end + 2 > size:
            raise MalformedPacket("PUBLISH too short for its packet id")
        mid = (packet[end] << 8) | packet[end + 1]
        end += 2
    properties = None
    if v5:
        if end >= size:
            raise MalformedPacket("PUBLISH too short for its properties")
        if packet[end] == 0:
            end += 1
        else:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            _found, length = properties.unpack(packet[end:])  # type: ignore[no-untyped-call]
            end += length
    return PublishPacket(
        dup=bool(header & 0x08),
        qos=qos,
        retain=bool(header & 0x01),
        topic=topic,
        mid=mid,
        properties=properties,
        payload=bytes(packet[end:]),
    )
