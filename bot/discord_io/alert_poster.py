"""Posting alerts in `ALERT_CHANNEL_ID` (DESIGN §11): the core's events in, messages out.

The listener on the moderator's bus is synchronous and only asks the
`AlertDesk` (bot/core/alerts.py) what to post: a wake or a sync never waits
for Discord because of an alert. A sender task posts in order, with
`AllowedMentions.none()` so an error text holding "@everyone" or a role
mention pings nobody. A held-back burst is summed up by a second task once
the desk's rate allows it again.

Never lost silently: while the channel is unusable (checked once READY, and
again before each post while it stays unusable, so a fixed permission takes
effect without a restart), when Discord refuses a post, and for whatever is
left at shutdown, the alert is written to the log at WARNING instead.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.core.alerts import AlertDesk, Notice
from bot.core.clock import Clock
from bot.core.events import Event, EventBus
from bot.core.tasks import TaskGroup
from bot.discord_io.alert_channel import resolve_alert_channel
from bot.discord_io.errors import DISCORD_FAILURES, describe_failure
from bot.presenters.alerts import notice_text, unusable_channel_note

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class AlertPoster:
    """One alert channel of one bot: `watch` the bus; `close` at shutdown."""

    def __init__(
        self, client: discord.Client, guild_id: int, channel_id: int, desk: AlertDesk
    ) -> None:
        self._client = client
        self._guild_id = guild_id
        self.channel_id = channel_id
        self.desk = desk
        self._queue: asyncio.Queue[Notice] = asyncio.Queue()
        self._held = asyncio.Event()
        self._tasks = TaskGroup()
        self._running = False
        self._closed = False
        self._channel: discord.TextChannel | None = None
        #: The last problem said at WARNING (said again only when it changes).
        self.problem: str | None = None
        #: Notices posted in the channel (for /status-like views and tests).
        self.posted = 0

    @property
    def clock(self) -> Clock:
        return self.desk.clock

    def watch(self, bus: EventBus) -> None:
        bus.subscribe(Event, self._on_event)

    def start(self) -> None:
        """Start the sender and the summary tasks (idempotent; needs the running loop)."""
        if self._running or self._closed:
            return
        self._running = True
        self._tasks.spawn(self._send_loop(), name="alert-sender")
        self._tasks.spawn(self._summary_loop(), name="alert-summaries")

    def _on_event(self, event: Event) -> None:
        notices = self.desk.observe(event)
        if self._closed:
            for notice in notices:
                self._log(notice, "the bot is shutting down")
            return
        for notice in notices:
            self._queue.put_nowait(notice)
        if self.desk.held:
            self._held.set()
        if notices or self.desk.held:
            self.start()

    async def _send_loop(self) -> None:
        await self._client.wait_until_ready()
        await self._check()
        while True:
            notice = await self._queue.get()
            await self._deliver(notice)

    async def _summary_loop(self) -> None:
        while True:
            due = self.desk.summary_due_at
            if due is None:
                self._held.clear()
                await self._held.wait()
                continue
            wait_s = (due - self.clock.now()).total_seconds()
            if wait_s > 0:
                await self.clock.sleep(wait_s)
            summary = self.desk.flush()
            if summary is not None:
                self._queue.put_nowait(summary)

    async def _check(self) -> bool:
        """Look at the channel; a new problem is said once at WARNING. True when usable."""
        found = await resolve_alert_channel(self._client, self._guild_id, self.channel_id)
        if isinstance(found, str):
            self._channel = None
            if found != self.problem:
                log.warning("%s", unusable_channel_note(found))
            self.problem = found
            return False
        if self.problem is not None:
            log.info("ALERT_CHANNEL_ID=%d is usable now; alerts are posted there", self.channel_id)
        self._channel, self.problem = found, None
        return True

    async def _deliver(self, notice: Notice) -> None:
        if self._channel is None and not await self._check():
            self._log(notice, self.problem or "the alert channel is unusable")
            return
        assert self._channel is not None
        try:
            await self._channel.send(notice_text(notice), allowed_mentions=NO_MENTIONS)
        except DISCORD_FAILURES as exc:
            self._channel = None  # looked at again before the next post
            self._log(notice, f"Discord refused the post: {describe_failure(exc)}")
            return
        self.posted += 1

    def _log(self, notice: Notice, why: str) -> None:
        log.warning("alert (not posted in ALERT_CHANNEL_ID: %s): %s", why, notice_text(notice))

    async def close(self) -> None:
        """Stop posting; what is still queued or held goes to the log."""
        self._closed = True
        await self._tasks.cancel_all()
        while not self._queue.empty():
            self._log(self._queue.get_nowait(), "the bot is shutting down")
        summary = self.desk.flush(force=True)
        if summary is not None:
            self._log(summary, "the bot is shutting down")


def attach_alert_poster(
    bot: commands.Bot,
    guild_id: int,
    channel_id: int,
    desk: AlertDesk,
    moderator_events: EventBus,
) -> AlertPoster:
    """Hang a poster on `bot`: it listens to the moderator, checks the channel once READY
    and is closed first at shutdown (by the caller's shutdown hook)."""
    poster = AlertPoster(bot, guild_id, channel_id, desk)
    poster.watch(moderator_events)

    async def on_ready() -> None:
        poster.start()

    bot.add_listener(on_ready, "on_ready")
    if bot.is_ready():
        poster.start()
    return poster
