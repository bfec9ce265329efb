"""Cogs with background work that must stop exactly once.

Such a cog stops at unload (an extension reload, a test) or at the bot's
shutdown, whichever comes first, and the other must then be a no-op: the
shutdown hooks run inside `close()`, and the cogs are unloaded after them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.discord_io.client import ModeratorBot


class StoppingCog(commands.Cog):
    """`stop()` runs the cog's `stop_work()` once; `cog_load` calls `stop_at_shutdown()`."""

    bot: ModeratorBot
    #: Set when `stop()` begins: loops check it so they do not restart what is stopping.
    stopping = False

    def stop_at_shutdown(self) -> None:
        self.bot.add_shutdown_hook(self.stop)

    async def cog_unload(self) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        await self.stop_work()

    async def stop_work(self) -> None:
        """What stopping means for this cog; called once."""
        raise NotImplementedError
