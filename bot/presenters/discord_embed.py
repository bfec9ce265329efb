"""Discord's size limits and the embed as plain data, so every wording is tested without discord.py.

The slash-command cog only turns an `EmbedSpec` into a `discord.Embed`;
`finish_embed` holds a built spec to every documented limit as the last line
of defence, whatever the builders before it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.presenters.formatting import cut

# Discord's documented limits.
EMBED_TOTAL_LIMIT: Final = 6000
TITLE_LIMIT: Final = 256
DESCRIPTION_LIMIT: Final = 4096
FIELD_COUNT_LIMIT: Final = 25
FIELD_NAME_LIMIT: Final = 256
FIELD_VALUE_LIMIT: Final = 1024
FOOTER_LIMIT: Final = 2048
MESSAGE_LIMIT: Final = 2000
CHOICE_NAME_LIMIT: Final = 100
CHOICE_COUNT_LIMIT: Final = 25

COLOR_OK: Final = 0x2ECC71
COLOR_WARN: Final = 0xE67E22
COLOR_INFO: Final = 0x5865F2


@dataclass(frozen=True, slots=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class EmbedSpec:
    """An embed as plain data; `discord.Embed` is built from it in the cog."""

    title: str
    description: str = ""
    fields: tuple[EmbedField, ...] = ()
    footer: str | None = None
    color: int | None = None

    def total_chars(self) -> int:
        """The count Discord holds to 6000 (title, description, fields, footer)."""
        total = len(self.title) + len(self.description) + len(self.footer or "")
        return total + sum(len(f.name) + len(f.value) for f in self.fields)


def finish_embed(spec: EmbedSpec) -> EmbedSpec:
    """Hold a built spec to every Discord limit (the last line of defence)."""
    fields = tuple(
        EmbedField(cut(f.name, FIELD_NAME_LIMIT) or "\u200b", cut(f.value, FIELD_VALUE_LIMIT))
        for f in spec.fields[:FIELD_COUNT_LIMIT]
    )
    fixed = EmbedSpec(
        title=cut(spec.title, TITLE_LIMIT),
        description=cut(spec.description, DESCRIPTION_LIMIT),
        fields=fields,
        footer=cut(spec.footer, FOOTER_LIMIT) if spec.footer else None,
        color=spec.color,
    )
    while fixed.total_chars() > EMBED_TOTAL_LIMIT and fixed.fields:
        fixed = EmbedSpec(
            fixed.title, fixed.description, fixed.fields[:-1], fixed.footer, fixed.color
        )
    if fixed.total_chars() > EMBED_TOTAL_LIMIT:
        room = EMBED_TOTAL_LIMIT - fixed.total_chars() + len(fixed.description)
        fixed = EmbedSpec(fixed.title, cut(fixed.description, room), (), fixed.footer, fixed.color)
    return fixed
