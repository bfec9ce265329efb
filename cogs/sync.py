"""`/sync [agent]`: sync from the calendar now, for admins (the sync loop does it on its own)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord_io.client import ModeratorBot
from bot.presenters.formatting import cut
from cogs.interactions import CommandCog, agent_autocomplete, defer, tell

log = logging.getLogger(__name__)

#: `/sync` of every agent names at most this many failed ones (the rest: see `/status`).
FAILURES_SHOWN = 10


class SyncCog(CommandCog, name="Sync"):
    @app_commands.command(name="sync", description="Sync from the calendar now (admins only)")
    @app_commands.autocomplete(agent=agent_autocomplete)
    @app_commands.describe(agent="Agent id (all agents when left out)")
    @app_commands.guild_only()
    async def sync(self, interaction: discord.Interaction, agent: str | None = None) -> None:
        if await self.refuse_non_admin(interaction, "sync"):
            return
        agent_id = self.agent_id(agent)
        await defer(interaction)
        log.info("/sync %s by %s", agent_id or "(all)", interaction.user.id)
        if agent_id is not None:
            await tell(interaction, await self._sync_one(agent_id))
            return
        failed = await self.moderator.sync_all()
        total = len(self.moderator.agent_ids)
        if not failed:
            await tell(interaction, f"Synced all {total} agent(s).")
            return
        bad = [s for s in self.moderator.statuses() if s.consecutive_sync_failures]
        lines = [f"Synced {total - failed} of {total} agent(s); {failed} failed:"]
        lines += [
            f"- {s.agent_id}: {cut(s.last_sync_error or 'unknown', 200)}"
            for s in bad[:FAILURES_SHOWN]
        ]
        if len(bad) > FAILURES_SHOWN:
            lines.append(f"… and {len(bad) - FAILURES_SHOWN} more (see `/status`)")
        await tell(interaction, "\n".join(lines))

    async def _sync_one(self, agent_id: str) -> str:
        ok = await self.moderator.sync(agent_id)
        snap = self.moderator.status(agent_id)
        if not ok:
            return (
                f"Sync of {agent_id} failed: {cut(snap.last_sync_error or 'unknown', 300)}. "
                "It is retried by the sync loop."
            )
        text = f"Synced {agent_id}: {snap.pending_count} pending slot(s) today."
        if snap.next_due is not None:
            text += f" Next: `{snap.next_due.id}` ({cut(snap.next_due.title, 60)})."
        return text


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(SyncCog(bot))
