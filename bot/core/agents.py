"""An agent as the core knows it: its id and the ways it can be woken."""

from __future__ import annotations

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
