"""The wake prompt: `WAKE_TEMPLATE` rendered for one slot.

The allowed fields are fixed here so that a template naming anything else is
refused when the config is read, not at the first wake hours later.
"""

from __future__ import annotations

import string

from bot.core.models import Slot

WAKE_FIELDS: frozenset[str] = frozenset(
    {
        "agent_id",
        "slot_id",
        "title",
        "prompt",
        "scheduled_at",
        "priority",
        "estimated_duration_min",
    }
)

DEFAULT_WAKE_TEMPLATE = (
    "**{title}**\n"
    "{prompt}\n\n"
    "Slot `{slot_id}` · scheduled {scheduled_at} · priority {priority} · "
    "about {estimated_duration_min} min"
)


def template_problems(template: str) -> list[str]:
    """What is wrong with a template, as sentences; empty when it is usable."""
    problems: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"is not a valid template ({exc}); write literal braces as {{{{ and }}}}"]
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        base = field_name.split(".", 1)[0].split("[", 1)[0]
        if base == "" or base.isdigit():
            problems.append("uses a positional field {}; name one of " + _field_list())
        elif base not in WAKE_FIELDS:
            problems.append(f"uses unknown field {{{base}}}; known fields: {_field_list()}")
        elif base != field_name:
            problems.append(f"field {{{field_name}}} may not use attributes or indexes")
    return problems


def _field_list() -> str:
    return " ".join(f"{{{name}}}" for name in sorted(WAKE_FIELDS))


def render_wake_prompt(template: str, slot: Slot) -> str:
    """Render `template` for `slot`; the template was checked by `template_problems`."""
    return template.format(
        agent_id=slot.agent_id,
        slot_id=slot.id,
        title=slot.title or slot.slot_type,
        prompt=slot.prompt,
        scheduled_at=slot.scheduled_at.isoformat(timespec="minutes"),
        priority=slot.priority,
        estimated_duration_min=slot.estimated_duration_min,
    )
