"""The scheduler cog: the sync and check loops, the channel janitor, and their supervisor.

The core does the work (`Moderator.sync_tick` / `check_all`, its precise timers);
this cog only keeps the safety-net loops alive, because `tasks.loop` dies for
good on any exception but network errors (DESIGN, "Discord facts that bite"):

* each loop body catches and logs everything (the core promises not to raise,
  this is the second belt);
* a supervisor task restarts a loop (or the janitor) that stopped anyway, e.g.
  cancelled by a stray `.cancel()` or killed by a `BaseException`, with an
  ERROR line; it wakes at once when a loop's task ends, and checks on a period
  as well, spacing restarts of a loop that keeps dying;
* `before_loop` waits for the moderator's start-up and the gateway's READY,
  each bounded, so a start-up without a gateway still syncs and checks.

The first iteration of each loop is skipped: `Moderator.start()` has just
synced, and its timers check on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any

import discord
from discord.ext import commands, tasks

from bot.core.events import SlotEnded
from bot.core.tasks import IN_FLIGHT_GRACE_S, TaskGroup, cancel_and_wait, log_task_end
from bot.discord_io.client import ModeratorBot
from bot.discord_io.janitor import (
    ChannelJanitor,
    EndedLinkPruner,
    default_interval_s,
    retention_passed,
)
from cogs.lifecycle import StoppingCog

log = logging.getLogger(__name__)

#: before_loop waits at most this long for READY and for the moderator's start-up each.
READY_WAIT_S = 30.0
STARTUP_WAIT_S = 120.0
#: The supervisor looks at the loops at least this often, and waits this long before
#: restarting a loop that stopped again within the same period.
SUPERVISE_EVERY_S = 30.0
RESTART_SPACING_S = 1.0


class SchedulerCog(StoppingCog, name="Scheduler"):
    def __init__(self, bot: ModeratorBot) -> None:
        self.bot = bot
        options = bot.options
        self.sync_loop.change_interval(seconds=options.sync_interval_s)
        self.check_loop.change_interval(seconds=options.check_interval_s)
        waker = bot.channel_waker
        self.janitor: ChannelJanitor | None = None
        interval_s = default_interval_s(options.channel_retention_s)
        if waker is not None and bot.answers_interactions:  # shard 0 owns the clean-up
            self.janitor = ChannelJanitor(
                waker, bot.clock, interval_s=interval_s, final_slot_ids=self._final_slot_ids
            )
        elif waker is not None:
            pruner = EndedLinkPruner(bot.state, retention_s=options.channel_retention_s)
            self.janitor = ChannelJanitor(pruner, bot.clock, interval_s=interval_s)
        #: How often each loop was restarted by the supervisor (for /status and tests).
        self.restarts: dict[str, int] = {"sync": 0, "check": 0, "janitor": 0}
        self._skip_first = {"sync": True, "check": True}
        self._in_body = {"sync": False, "check": False}
        self._poke = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._extra = TaskGroup()
        self._ready_logged = False
        self._janitor_started = False

    # ---- lifecycle ------------------------------------------------------

    async def cog_load(self) -> None:
        self._unsubscribe = self.bot.moderator.events.subscribe(SlotEnded, self._slot_ended)
        self.stop_at_shutdown()
        self._start_loop("sync")
        self._start_loop("check")
        self._supervisor = asyncio.create_task(self._supervise(), name="loop-supervisor")
        self._supervisor.add_done_callback(log_task_end)
        self._extra.spawn(self._start_janitor(), "janitor-start")

    async def stop_work(self) -> None:
        """Stop everything; an iteration in flight may finish within `IN_FLIGHT_GRACE_S`."""
        self._unsubscribe()
        supervisor, self._supervisor = self._supervisor, None
        await cancel_and_wait(supervisor)
        busy: list[asyncio.Task[None]] = []
        for name in ("sync", "check"):
            loop = self._loop(name)
            task = loop.get_task()
            if task is None or task.done():
                continue
            if self._in_body[name]:
                loop.stop()  # ends after this iteration
                busy.append(task)
            else:
                loop.cancel()  # only sleeping
        if busy:
            _, late = await asyncio.wait(busy, timeout=IN_FLIGHT_GRACE_S)
            for task in late:
                log.warning("a scheduler loop iteration did not finish in time; cancelling it")
                task.cancel()
        for name in ("sync", "check"):
            self._loop(name).cancel()
        await self._extra.cancel_all()
        if self.janitor is not None:
            await self.janitor.stop()

    # ---- the loops ----------------------------------------------------------

    @tasks.loop(seconds=300)
    async def sync_loop(self) -> None:
        await self._body("sync")

    @tasks.loop(seconds=30)
    async def check_loop(self) -> None:
        await self._body("check")

    @sync_loop.before_loop
    async def _before_sync(self) -> None:
        await self.wait_ready()

    @check_loop.before_loop
    async def _before_check(self) -> None:
        await self.wait_ready()

    async def _body(self, name: str) -> None:
        if self._skip_first[name]:
            self._skip_first[name] = False
            return
        self._in_body[name] = True
        try:
            if name == "sync":
                failed = await self.bot.moderator.sync_tick()
                if failed:
                    log.warning("sync: %d agent(s) could not be synced (see /status)", failed)
            else:
                await self.bot.moderator.check_all()
        except Exception:  # tasks.loop would die for good on it
            log.exception("the %s loop's iteration failed; the next one runs as planned", name)
        finally:
            self._in_body[name] = False

    async def wait_ready(self) -> None:
        """The moderator has started and the gateway is READY, or the bounded waits ran out."""
        try:
            async with asyncio.timeout(STARTUP_WAIT_S):
                await self.bot.moderator_started.wait()
        except TimeoutError:
            log.warning(
                "the moderator's start-up takes longer than %gs; the loops start anyway",
                STARTUP_WAIT_S,
            )
        try:
            async with asyncio.timeout(READY_WAIT_S):
                await self.bot.wait_until_ready()
        except TimeoutError:
            if not self._ready_logged:
                self._ready_logged = True
                log.warning(
                    "no gateway connection after %gs; the loops run anyway (wakes go over "
                    "REST, replies are read once the gateway connects)",
                    READY_WAIT_S,
                )

    def _loop(self, name: str) -> tasks.Loop[Any]:
        return self.sync_loop if name == "sync" else self.check_loop

    def _start_loop(self, name: str) -> None:
        loop = self._loop(name)
        task = loop.start()
        task.add_done_callback(lambda _task: self._poke.set())

    # ---- the supervisor -------------------------------------------------------

    async def _supervise(self) -> None:
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SUPERVISE_EVERY_S):
                    await self._poke.wait()
            self._poke.clear()
            if self.stopping:
                return
            try:
                await self._revive()
            except Exception:
                log.exception("the loop supervisor failed a round; it goes on")

    async def _revive(self) -> None:
        for name in ("sync", "check"):
            loop = self._loop(name)
            if loop.is_running() or self.stopping:
                continue
            task = loop.get_task()
            why = _end_reason(task)
            self.restarts[name] += 1
            if self.restarts[name] > 1:
                await asyncio.sleep(RESTART_SPACING_S)
                if self.stopping or loop.is_running():
                    continue
            log.error("the %s loop stopped (%s); restarting it", name, why)
            self._skip_first[name] = False
            self._start_loop(name)
        janitor = self.janitor
        if (
            janitor is not None
            and self._janitor_started
            and not janitor.running
            and not self.stopping
        ):
            self.restarts["janitor"] += 1
            log.error("the channel janitor stopped; restarting it")
            janitor.start()

    # ---- the janitor and ended slots ------------------------------------------

    async def _start_janitor(self) -> None:
        if self.janitor is None:
            return
        await self.wait_ready()
        if not self.stopping:
            waker = self.bot.channel_waker
            if waker is not None and waker.placement.keeps_room_ahead:
                await waker.placement.keep_room_ahead()
            self.janitor.start()
            self._janitor_started = True

    async def _final_slot_ids(self) -> Collection[str]:
        """Every configured agent's slots ended at least the retention ago (any shard's)."""
        bot = self.bot
        agent_ids = [agent.id for agent in bot.agents]
        return await retention_passed(
            bot.calendar, agent_ids, bot.clock.now(), bot.options.channel_retention_s
        )

    @commands.Cog.listener()
    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        """Sharded shard 0: a channel took a place; keep room ahead for the other shards."""
        waker = self.bot.channel_waker
        if (
            waker is not None
            and waker.placement.keeps_room_ahead
            and channel.guild.id == self.bot.guild_id
            and not self.stopping
        ):
            self._extra.spawn(waker.placement.keep_room_ahead(), "wake-category-ahead")

    async def _slot_ended(self, event: SlotEnded) -> None:
        """The state has marked the channel ended; the janitor deletes it after retention."""
        slot = event.slot
        retention = self.bot.options.channel_retention_s
        log.info(
            "slot %s of %s ended (%s); its channel is kept for %gs",
            slot.id,
            slot.agent_id,
            slot.status,
            retention,
        )
        janitor = self.janitor
        if janitor is not None and retention < default_interval_s(retention):
            # The janitor's period is longer than the retention: clean up on time once.
            self._extra.spawn(self._cleanup_after(retention + 0.5), f"cleanup-{slot.id}")

    async def _cleanup_after(self, delay_s: float) -> None:
        await self.bot.clock.sleep(delay_s)
        if self.janitor is not None and not self.stopping:
            await self.janitor.run_once()


def _end_reason(task: asyncio.Task[Any] | None) -> str:
    if task is None:
        return "never started"
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return f"{type(exc).__name__}: {exc}" if exc is not None else "returned"


async def setup(bot: commands.Bot) -> None:
    if not isinstance(bot, ModeratorBot):
        raise TypeError("cogs.scheduler needs a ModeratorBot")
    await bot.add_cog(SchedulerCog(bot))
