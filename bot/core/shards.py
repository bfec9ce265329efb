"""Shards (`SHARD=i/n`, DESIGN §11): which agents one moderator handles.

Agent `a` belongs to shard `int(sha256(a), 16) % n`: stable across restarts,
processes and Python versions (unlike `hash()`), and spread evenly. Shard 0 is
also the one that registers and answers slash commands and buttons (every
gateway session of one bot token receives every interaction). An overlap while
shards are reconfigured is harmless: the calendar's claims decide who wakes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.agents import AgentConfig

#: More shards than this is a typo, not a deployment (and keeps the numbers printable).
MAX_SHARDS = 1024
_FORM = re.compile(r"\s*(-?[0-9]+)\s*/\s*(-?[0-9]+)\s*")
_MAX_DIGITS = 6


class ShardError(ValueError):
    """A `SHARD` value that is not `i/n` with 0 <= i < n; the message says what to write.

    `detail` is what is wrong without the variable's name, for reports that name
    the variable themselves (the settings' error table); `value` is the value as
    shown (cut when huge), None for a `Shard` made in code.
    """

    def __init__(self, detail: str, *, value: str | None = None) -> None:
        self.detail = detail
        self.value = value
        super().__init__(detail if value is None else f"SHARD={value!r}: {detail}")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ShardError(
                f"the shard count must be between 1 and {MAX_SHARDS}, not {self.count}"
            )
        if not 0 <= self.index < self.count:
            raise ShardError(
                f"shard {self.index}/{self.count}: the index must be between 0 and "
                f"{self.count - 1} (shards are numbered from 0)"
            )

    @property
    def primary(self) -> bool:
        """Shard 0: slash commands, buttons, wake categories and clean-up are its job."""
        return self.index == 0

    def owns(self, agent_id: str) -> bool:
        return shard_index(agent_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_index(agent_id: str, count: int) -> int:
    """The shard (of `count`) that handles `agent_id`."""
    return int(hashlib.sha256(agent_id.encode()).hexdigest(), 16) % count


def owner_of(agent_id: str, count: int) -> Shard:
    """The shard (of `count`) that schedules `agent_id`."""
    return Shard(shard_index(agent_id, count), count)


def parse_shard(text: str) -> Shard:
    """`"i/n"` as a `Shard`; `ShardError` naming the problem for anything else."""
    shown = text if len(text) <= 40 else text[:40] + "…"
    match = _FORM.fullmatch(text)
    if match is None:
        raise ShardError(
            "not of the form i/n (two whole numbers, e.g. 0/2 for the first of two moderators)",
            value=shown,
        )
    if any(len(part.lstrip("-")) > _MAX_DIGITS for part in match.groups()):
        raise ShardError(f"at most {MAX_SHARDS} shards", value=shown)
    try:
        return Shard(int(match[1]), int(match[2]))
    except ShardError as exc:
        raise ShardError(exc.detail, value=shown) from None


def is_primary(shard: Shard | None) -> bool:
    """An unsharded moderator does everything shard 0 does."""
    return shard is None or shard.primary


def owned_agents(shard: Shard | None, agents: Iterable[AgentConfig]) -> list[AgentConfig]:
    """The agents this moderator schedules: all of them when it is not sharded."""
    return [a for a in agents if shard is None or shard.owns(a.id)]
