"""Credentials, ACLs and TLS against Mosquitto instances of the tests' own: refusals
arrive as typed errors with the broker's reason code."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from workerman.mqtt import (
    MqttClient,
    MqttConnectionError,
    MqttNotAuthorizedError,
    MqttPublishError,
)

from .conftest import Broker, need

pytestmark = pytest.mark.anyio


@pytest.fixture
def secured_broker(broker_factory: Callable[..., Broker], tmp_path: Path) -> Broker:
    passwords = tmp_path / "passwords"
    subprocess.run(
        [need("mosquitto_passwd"), "-b", "-c", str(passwords), "alice", "s3cret pw"], check=True
    )
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite wmtest/#\ntopic deny forbidden/#\n")
    passwords.chmod(0o644)
    return broker_factory(f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl}\n")


@pytest.mark.parametrize("protocol", [5, 4], ids=["mqtt5", "mqtt311"])
async def test_wrong_credentials_are_refused_with_the_reason_code(
    loop: None, secured_broker: Broker, protocol: int
) -> None:
    url = f"mqtt://alice:wrong@127.0.0.1:{secured_broker.port}"
    with pytest.raises(MqttNotAuthorizedError) as refused:
        await MqttClient(url, protocol=protocol).connect()
    # MQTT 5: 0x86 bad user name or password; MQTT 3.1.1: return code 4 (mapped to 0x86)
    assert refused.value.reason_code in (0x86, 0x87, 4, 5)
    with pytest.raises(MqttNotAuthorizedError):
        await MqttClient(f"mqtt://127.0.0.1:{secured_broker.port}", protocol=protocol).connect()


@pytest.mark.parametrize("protocol", [5, 4], ids=["mqtt5", "mqtt311"])
async def test_credentials_in_the_url_connect_and_the_acl_applies(
    loop: None, secured_broker: Broker, prefix: str, protocol: int
) -> None:
    url = f"mqtt://alice:s3cret%20pw@127.0.0.1:{secured_broker.port}"
    async with MqttClient(url, protocol=protocol) as client:
        # Mosquitto 2.0 grants every SUBSCRIBE and applies its ACL to delivery
        assert await client.subscribe([(f"{prefix}/ok", 1), ("forbidden/#", 1)]) == [1, 1]
        stream = client.messages()
        if protocol == 5:  # MQTT 5 says so in the PUBACK; 3.1.1 has no way to
            with pytest.raises(MqttPublishError) as refused:
                await client.publish("forbidden/x", b"dropped by the ACL", qos=1)
            assert refused.value.reason_code == 0x87
        else:
            await client.publish("forbidden/x", b"dropped by the ACL", qos=1)
        await client.publish(f"{prefix}/ok", b"allowed", qos=1)
        assert (await anext(stream)).payload == b"allowed"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_broker(broker_factory: Callable[..., Broker], tmp_path: Path, ca: trustme.CA) -> Broker:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    key_file.chmod(0o644)
    return broker_factory(f"certfile {cert_file}\nkeyfile {key_file}\ncafile {ca_file}\n")


async def test_mqtts_verifies_the_broker_with_the_given_ca(
    loop: None, tls_broker: Broker, ca: trustme.CA, prefix: str
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = f"mqtts://127.0.0.1:{tls_broker.port}"
    async with MqttClient(url, ssl=context) as client:
        await client.subscribe(f"{prefix}/tls", qos=1)
        stream = client.messages()
        await client.publish(f"{prefix}/tls", b"over TLS", qos=1)
        assert (await anext(stream)).payload == b"over TLS"
        assert client.status()["bytes_in"] > 0


async def test_mqtts_refuses_a_broker_it_cannot_verify(loop: None, tls_broker: Broker) -> None:
    # the system's default trust store does not know the test CA
    with pytest.raises(MqttConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await MqttClient(f"mqtts://127.0.0.1:{tls_broker.port}", connect_timeout=3).connect()
