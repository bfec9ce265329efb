"""What `/schedule feed:true` and `/plan` say about an agent's ICS feed (DESIGN §10).

The address carries the agent's feed token, so it is only ever sent in an
ephemeral answer to an admin; the wording says what the token can do.
"""

from __future__ import annotations

FEED_HOW = (
    'Subscribe to it from a calendar app ("add calendar from URL"); the token in it only '
    "reads this feed."
)


def feed_answer(agent_id: str, url: str | None) -> str:
    """The answer to an admin asking for `agent_id`'s feed."""
    if url is None:
        return (
            f"No ICS feed for `{agent_id}`: the feed is served by a calendar server, and this "
            "moderator's calendar is not served (set CALENDAR_URL to an http(s) calendar, or "
            "CALENDAR_LISTEN so the bot serves its own)."
        )
    return f"ICS feed of `{agent_id}` (7 days back, 60 ahead):\n<{url}>\n{FEED_HOW}"


def feed_line(url: str | None) -> str:
    """The line `/plan` adds under what it planned, when the agent has a feed."""
    return "" if url is None else f"\nIn a calendar app: <{url}>"


def feed_refusal() -> str:
    return "The feed address carries a token: only admins may ask for it."


def feed_needs_agent() -> str:
    return "Name the agent whose feed you want: `/schedule agent:<id> feed:true`."
