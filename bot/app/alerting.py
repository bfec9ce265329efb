"""The alert channel wired from the settings (DESIGN §11): posted with Discord, logged without.

One desk per moderator decides (bot/core/alerts.py); with Discord it feeds the
poster in `ALERT_CHANNEL_ID`, headless it feeds the log at WARNING, where the
people on duty will have to look since there is no channel to post in.
"""

from __future__ import annotations

import logging

from bot.app.settings import Settings
from bot.core.alerts import AlertDesk
from bot.core.clock import Clock
from bot.core.events import Event, EventBus
from bot.core.moderator import Moderator
from bot.discord_io.alert_poster import AlertPoster, attach_alert_poster
from bot.discord_io.client import ModeratorBot
from bot.presenters.alerts import alert_text, headless_note

log = logging.getLogger(__name__)


def alert_desk(settings: Settings, moderator: Moderator, clock: Clock) -> AlertDesk:
    return AlertDesk(
        clock=clock,
        sync_interval_s=settings.sync_interval_s,
        agents_total=len(moderator.agent_ids),
    )


def post_alerts(bot: ModeratorBot, channel_id: int, desk: AlertDesk) -> AlertPoster:
    """The bot posts the moderator's alerts in `channel_id`; closed first at shutdown."""
    poster = attach_alert_poster(bot, bot.guild_id, channel_id, desk, bot.moderator.events)
    bot.add_shutdown_hook(poster.close)
    return poster


def log_alerts(events: EventBus, desk: AlertDesk) -> None:
    """Headless: say once that alerts need Discord, then write each alert to the log."""
    log.warning("%s", headless_note())

    def to_log(event: Event) -> None:
        alert = desk.decide(event)
        if alert is not None:
            log.warning("alert: %s", alert_text(alert))

    events.subscribe(Event, to_log)
