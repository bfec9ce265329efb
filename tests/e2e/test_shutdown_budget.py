"""The shares of the shutdown budget add up within it, for each way the moderator stops.

Every step of a stop is bounded by one of the constants in `bot.core.tasks`; the
process test (`test_process.py`) shows a real stop is quick, this one shows the
worst case cannot pass `SHUTDOWN_BUDGET_S` either.
"""

from __future__ import annotations

from bot.core.tasks import (
    CLOSE_BOT_S,
    CLOSE_STEP_S,
    EXIT_MARGIN_S,
    HARD_LIMIT_S,
    HEADLESS_STOP_S,
    IN_FLIGHT_GRACE_S,
    RESOURCE_STEPS,
    SHUTDOWN_BUDGET_S,
)

AFTER_THE_MODERATOR_S = RESOURCE_STEPS * CLOSE_STEP_S + EXIT_MARGIN_S


def test_with_discord_the_bot_close_and_the_resources_fit_the_budget() -> None:
    assert CLOSE_BOT_S + AFTER_THE_MODERATOR_S <= SHUTDOWN_BUDGET_S
    # Inside the bot's close: the in-flight window, and discord.py's own close after it.
    assert IN_FLIGHT_GRACE_S < CLOSE_BOT_S
    assert CLOSE_BOT_S - IN_FLIGHT_GRACE_S >= 1.0


def test_headless_the_stop_and_the_resources_fit_the_budget() -> None:
    assert HEADLESS_STOP_S + AFTER_THE_MODERATOR_S <= SHUTDOWN_BUDGET_S
    assert HEADLESS_STOP_S >= IN_FLIGHT_GRACE_S + 2 * CLOSE_STEP_S


def test_every_share_is_positive_and_the_watchdog_only_fires_past_the_budget() -> None:
    for share in (IN_FLIGHT_GRACE_S, CLOSE_STEP_S, EXIT_MARGIN_S, CLOSE_BOT_S, HEADLESS_STOP_S):
        assert share > 0
    assert HARD_LIMIT_S > SHUTDOWN_BUDGET_S
