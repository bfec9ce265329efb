"""`/schedule feed:true` and `/plan` give an admin the agent's ICS feed address (DESIGN §10).

Against a served calendar the address is real: fetched as a calendar app
would (the token in the URL), it answers the agent's plan as ICS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
import icalendar

from bot.core.tokens import TokenKind, derive_token
from tests.cogs.support import ask, general
from tests.e2e.harness import BotHarness

SECRET = "feed-test-calendar-token-0123456789abcdef"
URL = re.compile(r"<(http[^>]+)>")


async def test_an_admin_gets_a_working_feed_address(
    make_moderator_bot: Callable[..., Awaitable[BotHarness]],
) -> None:
    h = await make_moderator_bot(remote_calendar=True, calendar_token=SECRET)
    planned = await ask(
        h.fake,
        h.fake.admin,
        general(h.fake),
        "plan",
        {"agent": "alice", "when": "in 2h", "title": "Read the logs"},
    )
    token = derive_token(SECRET, TokenKind.FEED, "alice")
    assert f"/calendar/ics/alice?token={token}" in planned.text()
    answer = await ask(
        h.fake, h.fake.admin, general(h.fake), "schedule", {"agent": "alice", "feed": True}
    )
    assert answer.ephemeral
    match = URL.search(answer.text())
    assert match is not None, answer.text()
    async with aiohttp.ClientSession() as session, session.get(match.group(1)) as resp:
        assert resp.status == 200 and resp.content_type == "text/calendar"
        body = await resp.read()
    titles = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
    assert titles == ["Read the logs"]


async def test_without_a_served_calendar_it_says_so(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    answer = await ask(
        h.fake, h.fake.admin, general(h.fake), "schedule", {"agent": "bob", "feed": True}
    )
    assert answer.ephemeral and "No ICS feed for `bob`" in answer.text()
    assert "CALENDAR_LISTEN" in answer.text()


async def test_only_admins_and_only_for_one_agent(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    plain = await ask(
        h.fake, h.fake.member, general(h.fake), "schedule", {"agent": "bob", "feed": True}
    )
    assert plain.ephemeral and "Only members with the moderator's admin role" in plain.text()
    unnamed = await ask(h.fake, h.fake.admin, general(h.fake), "schedule", {"feed": True})
    assert "Name the agent" in unnamed.text()
