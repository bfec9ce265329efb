"""discord.py cogs: thin glue between Discord and the scheduling core in `bot`.

`EXTENSIONS` is what `ModeratorBot` loads, in order. The essential ones (the
scheduler loops and the reply listener) must load or the bot does not start;
any other (the slash commands) that fails is logged and the bot runs on
without it, because waking agents matters more than commands for people.
"""

from __future__ import annotations

from typing import Final

ESSENTIAL_EXTENSIONS: Final = ("cogs.scheduler", "cogs.replies")
EXTENSIONS: Final = (*ESSENTIAL_EXTENSIONS, "cogs.commands")
