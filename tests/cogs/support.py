"""Helpers for the slash-command tests: run a command or an autocomplete as a person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from testkit.fakediscord import FakeDiscord, FakeUser, InteractionHandle


async def ask(
    fake: FakeDiscord,
    user: FakeUser,
    channel_id: int,
    command: str,
    options: Mapping[str, Any] | None = None,
) -> InteractionHandle:
    """Run a slash command and wait for its visible answer; Discord must have accepted
    every response (none refused, e.g. for missing the 3 s deadline)."""
    handle = await fake.inject_command(user, channel_id, command, dict(options or {}))
    await handle.wait_response()
    await handle.wait_text()
    assert handle.text(), f"/{command} got no visible answer"
    assert not handle.refused, handle.refused
    return handle


async def slot_command(
    fake: FakeDiscord, user: FakeUser, action: str, slot_id: str, **options: Any
) -> InteractionHandle:
    """`/slot` with `action` on `slot_id` (and `note`, `agent`, ...) as `user`, in #general."""
    return await ask(
        fake, user, general(fake), "slot", {"action": action, "slot_id": slot_id, **options}
    )


async def complete(
    fake: FakeDiscord,
    user: FakeUser,
    channel_id: int,
    command: str,
    options: Mapping[str, Any],
    focused: str,
) -> list[dict[str, Any]]:
    """The autocomplete choices the bot offers for `focused`."""
    handle = await fake.inject_autocomplete(user, channel_id, command, dict(options), focused)
    await handle.wait_response()
    assert handle.response_type == 8 and not handle.refused
    return handle.choices


def general(fake: FakeDiscord) -> int:
    """A public text channel where people type commands."""
    found = fake.channels_named("general")
    return int(found[0]["id"]) if found else fake.add_channel("general")
