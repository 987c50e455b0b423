"""The public surface: what ``__all__`` names exists, is documented, and errors form
one family under MqttError without shadowing builtins."""

from __future__ import annotations

import builtins

from workerman import mqtt


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in mqtt.__all__:
        value = getattr(mqtt, name)
        assert value.__doc__, f"{name} has no docstring"
    assert sorted(mqtt.__all__) == mqtt.__all__


def test_errors_are_one_family_and_shadow_no_builtin() -> None:
    errors = [getattr(mqtt, name) for name in mqtt.__all__ if name.endswith("Error")]
    assert all(issubclass(error, mqtt.MqttError) for error in errors)
    assert not {name for name in mqtt.__all__} & set(dir(builtins))
    assert issubclass(mqtt.MqttTimeoutError, mqtt.MqttConnectionError)
    assert issubclass(mqtt.MqttNotAuthorizedError, mqtt.MqttConnectError)
