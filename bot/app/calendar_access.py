"""Who may reach the calendar, from a shell (DESIGN §3.3, §9).

`python -m bot calendar token AGENT [--feed]` prints an agent's derived token,
so an operator can hand an agent its own token instead of the full one;
`calendar serve` and the bot's `CALENDAR_LISTEN` refuse to listen beyond
loopback unless real tokens guard it; and whatever serves or opens the
calendar where `AGENTS_FILE` exists hands it the agents, so their token
generations count and a slot for anyone else is `unknown_agent`.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from bot.app.agents_file import load_agents
from bot.app.cli_actions import add_action
from bot.app.settings import Settings
from bot.core.agents import AgentConfig
from bot.core.models import AGENT_ID_PATTERN, is_valid_agent_id
from bot.core.tokens import TokenKind, derive_token

#: The shortest `CALENDAR_TOKEN` that may guard a calendar reachable from other hosts.
MIN_PUBLIC_TOKEN_CHARS = 32


def add_token_parser(actions: Any) -> None:
    token = add_action(
        actions,
        "token",
        "print an agent's own calendar token",
        "Print the token derived from CALENDAR_TOKEN for one agent: it acts only "
        "as that agent (with --feed: it only reads the agent's ICS feed). The agent's "
        "token_generation comes from AGENTS_FILE when that file exists.",
    )
    token.add_argument("agent", help="agent id")
    token.add_argument("--feed", action="store_true", help="the feed token instead")


def print_token(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 with the token on stdout, or 2 with one line saying what to fix."""
    if settings.calendar_token is None:
        return _refuse("CALENDAR_TOKEN is not set: agent tokens are derived from it")
    agent_id: str = args.agent
    if not is_valid_agent_id(agent_id):
        shown = agent_id if len(agent_id) <= 40 else agent_id[:40] + "…"
        return _refuse(f"{shown!r} is not an agent id ({AGENT_ID_PATTERN})")
    generation = 1
    listed = file_agents(settings)
    if listed is not None:
        agents = {agent.id: agent for agent in listed}
        if agent_id not in agents:
            return _refuse(
                f"unknown agent {agent_id!r}: AGENTS_FILE ({settings.agents_file}) "
                f"lists {_listed(sorted(agents))}"
            )
        generation = agents[agent_id].token_generation
    kind = TokenKind.FEED if args.feed else TokenKind.AGENT
    secret = settings.calendar_token.get_secret_value()
    print(derive_token(secret, kind, agent_id, generation))
    return 0


def file_agents(settings: Settings) -> list[AgentConfig] | None:
    """The agents of `AGENTS_FILE` when that file exists (a broken one is a `ConfigError`);
    None when it does not: then the calendar takes any agent, every token at generation 1."""
    if not settings.agents_file.exists() and not settings.agents_file.is_symlink():
        return None
    return load_agents(settings.agents_file)


def calendar_secrets(settings: Settings) -> tuple[str | None, str | None]:
    """`CALENDAR_TOKEN` and `CALENDAR_TOKEN_PREVIOUS` as plain text (None when unset)."""
    token, previous = settings.calendar_token, settings.calendar_token_previous
    return (
        token.get_secret_value() if token is not None else None,
        previous.get_secret_value() if previous is not None else None,
    )


def _listed(ids: list[str]) -> str:
    if not ids:
        return "no agents"
    return ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def _refuse(message: str) -> int:
    print(f"error: calendar token: {message}", file=sys.stderr)
    return 2


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also as an IPv4-mapped address) and `localhost`; nothing else.

    Any other name may resolve to a public address, and "" or 0.0.0.0 mean every interface.
    """
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def serve_refusal(host: str, token: str | None, previous: str | None = None) -> str | None:
    """Why serving on `host` with `token` (and `previous`, accepted during a rotation)
    is refused, or None when it is allowed: every secret the server accepts must be long."""
    if is_loopback(host):
        return None
    if token is None:
        why = "CALENDAR_TOKEN is not set"
    elif len(token) < MIN_PUBLIC_TOKEN_CHARS:
        why = f"CALENDAR_TOKEN is shorter than {MIN_PUBLIC_TOKEN_CHARS} characters"
    elif previous is not None and len(previous) < MIN_PUBLIC_TOKEN_CHARS:
        why = f"CALENDAR_TOKEN_PREVIOUS is shorter than {MIN_PUBLIC_TOKEN_CHARS} characters"
    else:
        return None
    return (
        f"refusing to serve the calendar on {host or 'every interface'}, beyond loopback: "
        f"{why}. Set a CALENDAR_TOKEN of at least {MIN_PUBLIC_TOKEN_CHARS} random characters "
        "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
        "or listen on 127.0.0.1"
    )
