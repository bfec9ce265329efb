"""The demo's scenario: which agents, which slots, and what each agent replies.

Chosen to show the rules that matter (DESIGN §4): one agent has two slots due
at the same moment (the higher priority is woken first, the other is deferred
while the agent is busy and woken the moment it is idle), another gets a slot
due while it is still working, and the replies cover progress, DONE with a
note, PAUSE/RESUME, a markdown `**Done**`, a chatty "Done with…" that is only
progress, and ABORT. The scenario itself is data in `scenario.toml`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from bot.core.models import SlotStatus

DEFAULT_AGENTS: Final = ("scout", "writer", "reviewer")
#: The moderator's (made-up) Discord user id, for an agent that mentions it in a reply.
MODERATOR_USER_ID: Final = 100000000000000001


@dataclass(frozen=True, slots=True)
class Step:
    """The agent works `after_s` seconds, then posts `text` in the slot's channel."""

    after_s: float
    text: str


@dataclass(frozen=True, slots=True)
class DemoSlot:
    agent: str
    due_s: float
    priority: int
    title: str
    prompt: str
    script: tuple[Step, ...]
    expect: SlotStatus
    #: What this slot is in the scenario to show (printed in the plan).
    shows: str
    estimated_duration_min: int = 15


def _steps(rows: list[list[Any]]) -> tuple[Step, ...]:
    mention = f"<@{MODERATOR_USER_ID}>"
    return tuple(
        Step(float(after), str(text).replace("{moderator}", mention)) for after, text in rows
    )


def _slot(entry: dict[str, Any], **fixed: Any) -> DemoSlot:
    """One scenario entry; `fixed` supplies what the entry leaves to the caller (an extra agent)."""
    fields = {**entry, **fixed}
    return DemoSlot(
        agent=fields["agent"],
        due_s=float(fields["due_s"]),
        priority=int(fields["priority"]),
        title=fields["title"],
        prompt=fields["prompt"],
        script=_steps(fields["steps"]),
        expect=SlotStatus(fields["expect"]),
        shows=fields["shows"],
    )


#: The scenario is data (`scenario.toml`), so changing the story never means touching code.
_SCENARIO: Final = tomllib.loads(
    resources.files(__package__).joinpath("scenario.toml").read_text(encoding="utf-8")
)
BASE_PLAN: Final = tuple(_slot(entry) for entry in _SCENARIO["slots"])


def extra_agent_name(index: int) -> str:
    """Agents beyond the three named ones (`--agents 5` adds agent-4 and agent-5)."""
    return f"agent-{index}"


def demo_plan(agents: int = len(DEFAULT_AGENTS)) -> list[DemoSlot]:
    """The scenario: the named agents' slots, then one check-in per extra agent."""
    named = DEFAULT_AGENTS[:agents]
    plan = [slot for slot in BASE_PLAN if slot.agent in named]
    for index in range(len(DEFAULT_AGENTS) + 1, agents + 1):
        extra = _slot(
            _SCENARIO["extra"],
            agent=extra_agent_name(index),
            due_s=1.5 + 0.4 * (index - len(DEFAULT_AGENTS)),
        )
        plan.append(extra)
    return plan


def agent_names(agents: int) -> list[str]:
    names = list(DEFAULT_AGENTS[:agents])
    names += [extra_agent_name(i) for i in range(len(DEFAULT_AGENTS) + 1, agents + 1)]
    return names
