"""`python -m bot check-config`: validate the configuration and say what is enabled."""

from __future__ import annotations

import sys

from bot.config import ConfigError, load_agents, load_settings


def check_config() -> int:
    """Print every setting (secrets masked) and what will run; exit 2 on a bad config."""
    try:
        settings = load_settings()
        agents = load_agents(settings.agents_file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("Configuration is valid.\n")
    width = max(len(name) for name in settings.masked())
    for name, value in settings.masked().items():
        print(f"  {name:<{width}}  {value}")
    print()
    discord = "enabled" if settings.discord_enabled else "disabled (headless: spawn waking only)"
    spawn_global = settings.spawn_url or settings.spawn_command
    print(f"Discord waking: {discord}")
    print(f"Spawn fallback: {'enabled' if spawn_global else 'per-agent only or disabled'}")
    backend = "embedded" if settings.calendar_is_embedded else "remote"
    print(f"Calendar:       {backend} ({settings.calendar_url})")
    print(f"Agents:         {len(agents)} from {settings.agents_file}")
    for agent in agents:
        ways = []
        if settings.discord_enabled and agent.discord_user_id:
            ways.append(f"discord <@{agent.discord_user_id}>")
        if agent.spawn_url or settings.spawn_url:
            ways.append("spawn url")
        if agent.spawn_command or settings.spawn_command:
            ways.append("spawn command")
        print(f"  - {agent.id}: {', '.join(ways) if ways else 'NO WAY TO WAKE'}")
    return 0
