"""discord.py cogs: thin glue between Discord and the scheduling core in `bot`.

`EXTENSIONS` is what the app hands `ModeratorBot` to load, in order. The
essential ones (the scheduler loops and the reply listener) must load or the
bot does not start; any other (the slash commands, one extension per command)
that fails is logged and the bot runs on without it, because waking agents
matters more than commands for people. The commands load in the order they are
synced to Discord.
"""

from __future__ import annotations

from typing import Final

ESSENTIAL_EXTENSIONS: Final = ("cogs.scheduler", "cogs.replies")
COMMAND_EXTENSIONS: Final = (
    "cogs.schedule",
    "cogs.status",
    "cogs.sync",
    "cogs.slot",
    "cogs.plan",
    "cogs.series",
    "cogs.history",
)
EXTENSIONS: Final = (*ESSENTIAL_EXTENSIONS, *COMMAND_EXTENSIONS)
