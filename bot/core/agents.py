"""An agent as the core knows it: its id and how it is woken; and an id it does not know."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One `[[agents]]` entry of `AGENTS_FILE`."""

    id: str
    discord_user_id: int | None = None
    spawn_url: str | None = None
    spawn_command: tuple[str, ...] | None = None
    #: Raising it revokes the agent's derived calendar tokens (DESIGN §3.3).
    token_generation: int = 1


class UnknownAgent(LookupError):
    """An agent id that is not in `AGENTS_FILE`; the message lists the known ones."""

    def __init__(self, agent_id: str, known: Sequence[str]) -> None:
        shown = ", ".join(sorted(known)[:20]) or "none"
        more = f" (+{len(known) - 20} more)" if len(known) > 20 else ""
        super().__init__(f"unknown agent {agent_id!r}; configured agents: {shown}{more}")
        self.agent_id = agent_id

    def __str__(self) -> str:
        return str(self.args[0])
