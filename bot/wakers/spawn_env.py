"""What a spawned agent is given (DESIGN §5): an allow-listed environment and its own token.

A spawned agent is another program, often someone else's. Inheriting the
moderator's environment would hand it `DISCORD_TOKEN` and the full
`CALENDAR_TOKEN` (acting for every agent), so the environment is built from
nothing: a few variables a program needs to run, the wake's identity, the
agent's own derived calendar token (DESIGN §3.3) and only the names the
operator lists in `SPAWN_ENV`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.tokens import TokenKind, derive_token
from bot.wakers.spawn import wake_id_for

#: Passed on from the moderator's environment when set: what any program needs to run.
BASE_NAMES = ("PATH", "HOME", "LANG", "TZ")
#: Set by the moderator for each wake; `SPAWN_ENV` may not replace them.
WAKE_NAMES = frozenset({"AGENT_ID", "SLOT_ID", "WAKE_ID", "CALENDAR_URL"})
#: Never passed on, whatever `SPAWN_ENV` says (compared without case: the settings are read so).
SECRET_NAMES = frozenset({"DISCORD_TOKEN", "CALENDAR_TOKEN", "CALENDAR_TOKEN_PREVIOUS"})
#: More names than this is a mistake (a pasted file), not a configuration.
MAX_SPAWN_ENV_NAMES = 100

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class SpawnEnvError(ValueError):
    """`SPAWN_ENV` is not a list of names that may be passed on; the message says why."""


def parse_spawn_env(text: str | None) -> tuple[str, ...]:
    """The names in `SPAWN_ENV` ("A,B, C"), each checked; `SpawnEnvError` names the bad one.

    Strict on purpose: a typo (an empty name, `A=B`) silently passing nothing on
    would only show up as an agent failing far from its cause.
    """
    if text is None or not text.strip():
        return ()
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > MAX_SPAWN_ENV_NAMES:
        raise SpawnEnvError(
            f"SPAWN_ENV: {len(parts)} names; at most {MAX_SPAWN_ENV_NAMES} may be passed on"
        )
    names: list[str] = []
    for position, name in enumerate(parts, start=1):
        if not name:
            raise SpawnEnvError(f"SPAWN_ENV: name #{position} is empty (names are comma-separated)")
        if not _NAME.fullmatch(name):
            shown = name if len(name) <= 40 else name[:40] + "…"
            raise SpawnEnvError(
                f"SPAWN_ENV: {shown!r} (name #{position}) is not a variable name "
                "(letters, digits and _, not starting with a digit, at most 128 characters)"
            )
        if name.upper() in SECRET_NAMES:
            raise SpawnEnvError(
                f"SPAWN_ENV: {name} is a secret of the moderator and is never passed to "
                "spawned agents (they get their own calendar token as CALENDAR_TOKEN)"
            )
        if name.upper() in WAKE_NAMES:
            raise SpawnEnvError(
                f"SPAWN_ENV: {name} is set by the moderator for each wake and cannot be passed on"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


@dataclass(frozen=True, slots=True)
class SpawnEnvironment:
    """Builds a spawned agent's environment and token; one per moderator, shared by the wakers.

    `secret` is the full `CALENDAR_TOKEN` (None when the calendar has none): only
    tokens derived from it leave this object. `source` is where allow-listed
    values are read (the moderator's environment unless a test gives another).
    """

    calendar_url: str | None = None
    secret: str | None = field(default=None, repr=False)
    extra_names: tuple[str, ...] = ()
    source: Mapping[str, str] | None = field(default=None, repr=False)

    def agent_token(self, agent: AgentConfig) -> str | None:
        """The agent's own calendar token (acts only as that agent), or None without a secret."""
        if not self.secret:
            return None
        return derive_token(self.secret, TokenKind.AGENT, agent.id, agent.token_generation)

    def for_wake(self, agent: AgentConfig, slot: Slot) -> dict[str, str]:
        """The whole environment of the process that wakes `agent` for `slot`."""
        source = os.environ if self.source is None else self.source
        env = {name: source[name] for name in (*BASE_NAMES, *self.extra_names) if name in source}
        env.update({"AGENT_ID": agent.id, "SLOT_ID": slot.id, "WAKE_ID": wake_id_for(slot.id)})
        if self.calendar_url:
            env["CALENDAR_URL"] = self.calendar_url
        token = self.agent_token(agent)
        if token is not None:
            env["CALENDAR_TOKEN"] = token
        return env
