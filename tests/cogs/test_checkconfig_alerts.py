"""`check-config` names an unusable `ALERT_CHANNEL_ID` (exit 1) and confirms a usable one.

Without Discord (and a malformed id): tests/app/test_check_config_headless.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.fakediscord import FakeDiscord
from tests.cogs.test_checkconfig import assert_no_token, check_config

UNKNOWN_CHANNEL = 123456789012345678

#: (how the channel is made, the exit code, the line that names it ({id}: its id)).
ALERT_CHANNELS: dict[str, tuple[Callable[[FakeDiscord], int], int, str]] = {
    "usable": (
        lambda fake: fake.add_channel("alerts"),
        0,
        "Alert channel:  #alerts ({id}): can post there",
    ),
    "category": (
        lambda fake: fake.add_category("ops"),
        1,
        "Alert channel:  PROBLEM: ALERT_CHANNEL_ID={id} is a category (ops)",
    ),
    "unknown": (lambda fake: UNKNOWN_CHANNEL, 1, "ALERT_CHANNEL_ID={id}: no such channel"),
}


@pytest.mark.parametrize("case", list(ALERT_CHANNELS))
async def test_the_alert_channel_is_confirmed_or_named_with_the_rest_of_the_check(
    case: str, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    make, exits, line = ALERT_CHANNELS[case]
    channel = make(fake_discord)
    out = await check_config(fake_discord, tmp_path, exits, ALERT_CHANNEL_ID=str(channel))
    assert line.format(id=channel) in out
    assert "Permissions:    all required present" in out  # the rest of the check still ran
    verdict = out.rstrip().splitlines()[-1]
    assert verdict.startswith("OK" if exits == 0 else "PROBLEMS FOUND"), verdict
    assert_no_token(fake_discord, out)
