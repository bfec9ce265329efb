"""Where an agent's feed is served, and the address people paste into a calendar app."""

from __future__ import annotations

import socket

from bot.calendar.ics.links import FeedLinks, feed_base
from bot.core.agents import AgentConfig
from bot.core.tokens import TokenKind, derive_token


def test_the_base_comes_from_a_served_calendar_only() -> None:
    assert feed_base("https://cal.example.org/", None) == "https://cal.example.org"
    assert feed_base("sqlite:///calendar.db", ("127.0.0.1", 8080)) == "http://127.0.0.1:8080"
    assert feed_base("sqlite:///calendar.db", ("::1", 8080)) == "http://[::1]:8080"
    assert feed_base("sqlite:///calendar.db", ("0.0.0.0", 80)) == f"http://{socket.getfqdn()}:80"
    assert feed_base("sqlite:///calendar.db", None) is None
    assert feed_base("postgresql://db/cal", None) is None


def test_the_address_carries_the_agents_feed_token_at_its_generation() -> None:
    secret = "s" * 40
    agent = AgentConfig(id="carol", token_generation=3)
    url = FeedLinks("https://cal.example.org", secret).url(agent)
    token = derive_token(secret, TokenKind.FEED, "carol", 3)
    assert url == f"https://cal.example.org/calendar/ics/carol?token={token}"
    assert FeedLinks("http://h:1").url(agent) == "http://h:1/calendar/ics/carol"
    assert FeedLinks(None, secret).url(agent) is None
    assert secret not in repr(FeedLinks("http://h:1", secret))
