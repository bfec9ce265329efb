"""discord.py cogs: thin glue between Discord and the scheduling core in `bot`."""
