"""The publishing side of pub/sub: PUBLISH, SPUBLISH and the PUBSUB introspection
commands (subscribing has a connection of its own: ``redis.pubsub()``)."""

from __future__ import annotations

from typing import Any

from ._base import CallbackT, CommandsBase, EncodableT, KeyT


def _counts(reply: Any) -> dict[Any, int]:
    """NUMSUB's channel/count pairs (a flat list in RESP2, a map in RESP3) as a dict."""
    if isinstance(reply, dict):
        return {channel: int(count) for channel, count in reply.items()}
    return {reply[i]: int(reply[i + 1]) for i in range(0, len(reply), 2)}


class PublishingCommands(CommandsBase):
    """Publishing to channels and shard channels, and asking who listens."""

    __slots__ = ()

    def publish(
        self, channel: KeyT, message: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Publish ``message`` on ``channel``; the number of subscribers that received it
        (on this node of a cluster)."""
        return self._command(("PUBLISH", channel, message), callback, None)

    def spublish(
        self, shardchannel: KeyT, message: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Publish on a shard channel (Redis 7); the number of subscribers that got it."""
        return self._command(("SPUBLISH", shardchannel, message), callback, None)

    def pubsub_channels(
        self, pattern: KeyT | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """The channels with at least one subscriber (matching ``pattern``, a glob)."""
        args = ("PUBSUB", "CHANNELS") if pattern is None else ("PUBSUB", "CHANNELS", pattern)
        return self._command(args, callback, list)

    def pubsub_numsub(self, *channels: KeyT, callback: CallbackT | None = None) -> Any:
        """Subscribers per channel: ``{channel: count}`` (pattern subscribers not counted)."""
        return self._command(("PUBSUB", "NUMSUB", *channels), callback, _counts)

    def pubsub_numpat(self, *, callback: CallbackT | None = None) -> Any:
        """How many patterns are subscribed to, over all clients."""
        return self._command(("PUBSUB", "NUMPAT"), callback, None)

    def pubsub_shardchannels(
        self, pattern: KeyT | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """The shard channels with at least one subscriber (Redis 7)."""
        args = ("PUBSUB", "SHARDCHANNELS")
        return self._command(args if pattern is None else (*args, pattern), callback, list)

    def pubsub_shardnumsub(self, *channels: KeyT, callback: CallbackT | None = None) -> Any:
        """Subscribers per shard channel: ``{channel: count}`` (Redis 7)."""
        return self._command(("PUBSUB", "SHARDNUMSUB", *channels), callback, _counts)
