"""The wakers' tests share the Discord-side fixtures: a fallback is proven against the
fake Discord refusing a channel, and the spawn receiver serves both halves."""

from tests.discord_io.conftest import (
    alice,
    clock,
    fake,
    make_fake,
    rest_client,
    spawn_receiver,
    state,
)

__all__ = ["alice", "clock", "fake", "make_fake", "rest_client", "spawn_receiver", "state"]
