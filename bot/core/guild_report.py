"""What the guild check found, as plain data (no discord.py here).

`bot.discord_io.guild_check` fills it in over Discord's API; `/status`, `check-config` and
the presenters only read it, so they stay testable without a Discord client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AgentNotInGuild:
    """A configured agent whose Discord account is not a member of the guild."""

    agent_id: str
    user_id: int


@dataclass(frozen=True, slots=True)
class GuildReport:
    """One guild check: the moderator's missing permissions and agents it cannot reach.

    `error` is set when the check itself could not run (guild unknown, Discord
    away); then the lists are whatever could be learnt before it failed.
    """

    guild_id: int
    checked_at: datetime
    guild_name: str | None = None
    #: Human names ("Embed Links") of required guild permissions the moderator lacks.
    missing_permissions: tuple[str, ...] = ()
    non_members: tuple[AgentNotInGuild, ...] = ()
    #: Agents configured without a `discord_user_id` (spawn only; not a problem).
    without_discord: tuple[str, ...] = ()
    #: Agents whose membership could not be checked, with the reason.
    unchecked: tuple[tuple[str, str], ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and not self.missing_permissions
            and not self.non_members
            and not self.unchecked
        )

    def problems(self) -> list[str]:
        """One line per problem, each saying what to do about it."""
        lines: list[str] = []
        if self.error is not None:
            lines.append(f"guild check failed: {self.error}")
        if self.missing_permissions:
            lines.append(
                "the moderator lacks these guild permissions: "
                + ", ".join(self.missing_permissions)
                + " (grant them to its role in Server Settings → Roles)"
            )
        for agent in self.non_members:
            lines.append(
                f"agent {agent.agent_id} (Discord user {agent.user_id}) is not a member "
                "of the guild (invite its bot account, or fix discord_user_id)"
            )
        for agent_id, reason in self.unchecked:
            lines.append(f"could not check whether agent {agent_id} is a member: {reason}")
        return lines
