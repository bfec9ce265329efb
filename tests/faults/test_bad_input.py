"""Bad input where it enters the bot: a clear message, nothing lost, never a traceback.

* the agents file and the environment: `python -m bot` (a real subprocess) exits 2
  with one line naming the file:line or the variable, and never prints the token;
* agents' replies: very long, unicode, mentions, code blocks, invisible characters,
  through the real bot and the real HTTP calendar: the right action or progress,
  the full note kept by the calendar, answers that ping nobody, and the bot runs on;
* slash-command options Discord's client would not stop: an over-long note, an
  out-of-range number, a slot id with URL characters, an agent name of thousands
  of characters: an ephemeral sentence within Discord's limits, nothing changed.

Already covered elsewhere, not repeated here: agents-file messages in-process
(tests/app/test_agents_file.py), each bad variable's message in-process
(tests/app/test_settings.py), exit 2 for a configuration that cannot wake
anyone (tests/e2e/test_process.py), reply words / DONE with a 2.7k note / a
fenced PAUSE / refusals (tests/e2e/test_replies.py, tests/core/test_reply_words.py),
bad dates, unknown agents, unknown slot ids and refused transitions in slash
commands (tests/cogs/test_commands.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, SlotCreate, SlotStatus
from bot.core.reply_words import parse_reply
from testkit.fakediscord import FakeDiscord, InteractionHandle
from testkit.fakediscord.fixtures import fake_discord, make_fake_discord
from tests.e2e.harness import (
    REPO_ROOT,
    UTC_ZONE,
    BotHarness,
    BotProcess,
    make_moderator_bot,
    moderator_bot,
)
from tests.faults.discord_fixtures import CHANNEL_MESSAGES, bot_texts

# Fixtures this module uses (no conftest of ours in tests/faults/).
__all__ = ["fake_discord", "make_fake_discord", "make_moderator_bot", "moderator_bot"]

#: Shaped like a real bot token (so the log redaction's shape rule would catch it too).
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GabcDE.abcdefghijklmnopqrstuvwxyz012345678"


# ---- configuration: python -m bot exits 2 with a line that says what to fix --------------


@dataclass(frozen=True)
class BadConfig:
    name: str
    agents: str
    env: Mapping[str, str]
    expected: tuple[str, ...]


GOOD_AGENTS = '[[agents]]\nid = "alice"\ndiscord_user_id = 123456789012345678\n'

CASES = (
    BadConfig(
        "bad-id",
        GOOD_AGENTS + '\n[[agents]]\nid = "Bob Smith"\n',
        {},
        ("agents.toml:5:", "'Bob Smith'", "lowercase"),
    ),
    BadConfig(
        "duplicate-id",
        GOOD_AGENTS + '\n[[agents]]\nid = "bob"\n\n[[agents]]\nid = "alice"\n',
        {},
        ("agents.toml:8:", "duplicate agent id 'alice'", "agent #1"),
    ),
    BadConfig(
        "toml-syntax",
        '[[agents]]\nid = "alice"\ndiscord_user_id = 12x3\n',
        {},
        ("agents.toml:3:", "not valid TOML"),
    ),
    BadConfig(
        "user-id-text",
        '[[agents]]\nid = "alice"\ndiscord_user_id = "alice#1234"\n',
        {},
        ("agents.toml:1:", "discord_user_id", "positive integer"),
    ),
    BadConfig("timezone", GOOD_AGENTS, {"TIMEZONE": "Mars/Olympus"}, ("TIMEZONE", "IANA")),
    BadConfig(
        "check-interval-word",
        GOOD_AGENTS,
        {"CHECK_INTERVAL_S": "soon"},
        ("CHECK_INTERVAL_S", "number", "'soon'"),
    ),
    # inf passed `gt=0` and then killed every wake timer with an OverflowError.
    BadConfig(
        "check-interval-inf", GOOD_AGENTS, {"CHECK_INTERVAL_S": "inf"}, ("CHECK_INTERVAL_S",)
    ),
    BadConfig(
        "retention-huge",
        GOOD_AGENTS,
        {"CHANNEL_RETENTION_S": "1e300"},
        ("CHANNEL_RETENTION_S", "less than or equal"),
    ),
    # The token pasted into the wrong variable is named as a problem, never echoed.
    BadConfig(
        "token-as-guild",
        GOOD_AGENTS,
        {"DISCORD_GUILD_ID": TOKEN},
        ("DISCORD_GUILD_ID", "integer", "not shown"),
    ),
    BadConfig(
        "token-as-admin-role",
        GOOD_AGENTS,
        {"ADMIN_ROLE_ID": TOKEN, "TIMEZONE": "Nowhere/Land"},
        ("ADMIN_ROLE_ID", "TIMEZONE", "not shown"),
    ),
)


async def _run_bad_config(tmp_path: Path, case: BadConfig) -> tuple[int, str]:
    where = tmp_path / case.name
    where.mkdir()
    (where / "agents.toml").write_text(case.agents, encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_GUILD_ID": "987654321098765432",
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",  # never reached
        "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway",
        "AGENTS_FILE": str(where / "agents.toml"),
        "CALENDAR_URL": f"sqlite:///{where / 'calendar.db'}",
        "STATE_PATH": str(where / "state.db"),
        **case.env,
    }
    proc = await BotProcess.start(env, where)
    try:
        code = await proc.wait(30)
    finally:
        await proc.stop()
    return code, proc.log_text()


async def test_bad_agents_files_and_env_values_exit_2_with_one_clear_line(
    tmp_path: Path,
) -> None:
    # Independent subprocesses, run side by side (each spends its time importing).
    results = await asyncio.gather(*(_run_bad_config(tmp_path, c) for c in CASES))
    problems: list[str] = []
    for case, (code, out) in zip(CASES, results, strict=True):
        missing = [word for word in case.expected if word not in out]
        if code != 2 or missing or "Traceback" in out:
            problems.append(f"{case.name}: exit {code}, missing {missing}:\n{out}")
        if TOKEN in out or TOKEN[:24] in out:
            problems.append(f"{case.name}: the token was printed:\n{out}")
        if not out.startswith("error: "):
            problems.append(f"{case.name}: does not start with 'error: ':\n{out}")
        if len(out.splitlines()) > 4:
            problems.append(f"{case.name}: more than a short message:\n{out}")
        if (tmp_path / case.name / "state.db").exists():
            problems.append(f"{case.name}: a state file was made before the check")
    assert not problems, "\n\n".join(problems)


# ---- agents' replies: odd texts through the real bot and the real HTTP calendar ----------


def _quiet(message: dict[str, Any]) -> None:
    """An answer pings nobody and cannot be read as a reply word by an agent."""
    assert message["mentions"] == [] and message["mention_roles"] == [], message
    assert message["mention_everyone"] is False
    assert len(message["content"]) <= 2000
    assert parse_reply(message["content"]).is_progress, message["content"][:100]


async def test_odd_replies_are_read_right_keep_every_note_and_answer_quietly(
    make_moderator_bot: Callable[..., Awaitable[BotHarness]],
) -> None:
    h = await make_moderator_bot(remote_calendar=True)
    fake = h.fake
    mod, alice = fake.bot_user, fake.agents["alice"]
    slot = await h.add_slot("alice", in_s=-1)
    channel_id = await h.wait_wake_channel(slot.id)
    answers = 1  # the wake message

    async def says(text: str, status: SlotStatus | None = None) -> None:
        nonlocal answers
        await h.agent_says("alice", channel_id, text)
        if status is not None:
            answers += 1
            await h.wait_status(slot.id, status)
            _quiet((await h.wait_bot_messages(channel_id, answers))[-1])

    # 12k characters of progress (far past Discord's own limit), unicode throughout.
    await says("Progress: 進捗 ✓ résumé — ﷽ 🧪 " * 500)
    # Leading mentions and markdown are skipped; the note pings @everyone, a role and
    # the agent; the answer quoting it must ping nobody.
    await says(
        f"{mod.mention} <@&{fake.admin_role.id}> **Pause** — waiting on @everyone "
        f"and <@&{fake.admin_role.id}> and {alice.mention}",
        SlotStatus.PAUSED,
    )
    await says("\u200b\u2066```\nRESUME\n```", SlotStatus.ONGOING)  # invisible marks, a fence
    await says("✅ DONE")  # an emoji is not a mark: progress
    await says(f"{mod.mention}")  # mentions only: progress with no note
    await says("```python\nDONE = True\n```")  # the first word is "python": progress
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING

    long_note = "shipped 🚀 " + "fixed «ünïcödé» edge cases; " * 400 + "END-OF-NOTE"
    assert len(long_note) > 10_000
    await says(f"> **DONE:** {long_note}", SlotStatus.FINISHED)
    ack = h.bot_messages(channel_id)[-1]["content"]
    assert ack.startswith("✅") and "shipped 🚀" in ack

    # Nothing lost: the calendar kept the whole note, unicode intact.
    events = await h.calendar.slot_events(slot.id)
    finished = [e for e in events if e.to_status is SlotStatus.FINISHED]
    assert len(finished) == 1 and finished[0].note is not None
    assert long_note in finished[0].note
    paused = [e for e in events if e.to_status is SlotStatus.PAUSED]
    assert len(paused) == 1 and "@everyone" in (paused[0].note or "")
    # Progress was never answered: only the four state changes were.
    assert len(h.bot_messages(channel_id)) == answers == 4

    # A refused 10k reply is explained briefly; the bot runs on and wakes the next slot.
    await says("ABORT: " + "no " * 4000)
    explained = (await h.wait_bot_messages(channel_id, 5))[-1]
    assert "Not applied" in explained["content"]
    _quiet(explained)
    nxt = await h.add_slot("alice", in_s=-1, title="Next one")
    nxt_channel = await h.wait_wake_channel(nxt.id)
    await h.agent_says("alice", nxt_channel, "__done__ — ok")
    await h.wait_status(nxt.id, SlotStatus.FINISHED)
    assert (await h.slot(slot.id)).status is SlotStatus.FINISHED


# ---- slash-command options Discord's client does not stop ------------------------------


async def _ask(fake: FakeDiscord, channel_id: int, command: str, **options: Any) -> str:
    handle: InteractionHandle = await fake.inject_command(fake.admin, channel_id, command, options)
    await handle.wait_response()
    text = await handle.wait_text()
    assert not handle.refused, handle.refused  # Discord accepted every answer in time
    assert handle.ephemeral, text
    assert text and len(text) <= 2000 and "Traceback" not in text, text
    return text


async def test_bad_slash_command_values_get_an_ephemeral_sentence_and_change_nothing(
    make_moderator_bot: Callable[..., Awaitable[BotHarness]],
) -> None:
    h = await make_moderator_bot(remote_calendar=True)
    fake = h.fake
    general = fake.add_channel("general")
    slot = await h.add_slot("alice", in_s=-1)
    channel_id = await h.wait_wake_channel(slot.id)

    # Discord's client keeps options within the registered limits, but discord.py does not
    # check what arrives (a stale registration, another client): the cog does.
    text = await _ask(fake, general, "slot", action="complete", slot_id=slot.id, note="x" * 501)
    assert "`note` must be at most 500 characters (got 501 characters)" in text
    text = await _ask(fake, general, "slot", action="abort", slot_id=slot.id, note="why? " * 2000)
    assert "`note` must be at most 500 characters" in text
    later = await h.add_slot("alice", in_s=3600, title="Later")
    for minutes in (0, -5, 10**9):
        text = await _ask(fake, general, "slot", action="defer", slot_id=later.id, minutes=minutes)
        assert f"`minutes` must be between 1 and 1440 (got {minutes})" in text, text
    # (-5 used to reschedule the slot into the past, so it was woken at once.)
    assert await h.slot(later.id) == later
    # Ids made to break a URL path or the calendar's SQL, and one far too long.
    for bad_id in ("../../calendar/slots", "a%2Fb?x=1#y", "'; DROP TABLE slots;--", "z" * 5000):
        text = await _ask(fake, general, "slot", action="complete", slot_id=bad_id)
        assert "No such slot" in text or "not a slot id" in text, (bad_id[:40], text)
    # An agent name of thousands of characters (Discord allows up to 6000 in an option).
    for command in ("status", "schedule"):
        text = await _ask(fake, general, command, agent="<@&1> " + "a" * 5000)
        assert "unknown agent" in text
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING
    assert len(h.bot_messages(channel_id)) == 1  # nothing announced for refused input

    # A good note with mentions is applied and announced without pinging anyone.
    note = f"closing for @everyone and <@&{fake.admin_role.id}>"
    text = await _ask(fake, general, "slot", action="complete", slot_id=slot.id, note=note)
    assert "finished" in text.lower()
    await h.wait_status(slot.id, SlotStatus.FINISHED)
    announcement = (await h.wait_bot_messages(channel_id, 2))[-1]
    assert announcement["mentions"] == [] and announcement["mention_roles"] == []
    assert announcement["mention_everyone"] is False
    posted = [r.json for r in fake.requests_for("POST", CHANNEL_MESSAGES)]
    assert all(
        (body or {}).get("allowed_mentions", {}).get("parse") == [] for body in posted[1:]
    ), posted[1:]
    assert fake.messages_in(general) == []
    assert len(bot_texts(fake, channel_id)) == 2


# ---- an agent reporting through the served calendar API --------------------------------


async def test_a_report_with_a_lone_surrogate_is_refused_as_bad_input_not_a_server_error(
    tmp_path: Path,
) -> None:
    """JSON can carry `\\udfff`; SQLite cannot store it. That was a 500 (retried by every
    client, "the calendar is not answering"); it is the caller's bad input: 400."""
    store = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=UTC_ZONE)
    server, port = await serve_app(make_app(store), "127.0.0.1", 0)
    try:
        slot = await store.create_slot(
            SlotCreate(agent_id="alice", scheduled_at=datetime.now(UTC), title="Report")
        )
        await store.transition(slot.id, Action.START, agent_id="alice")
        url = f"http://127.0.0.1:{port}/calendar/slots/{slot.id}/complete"
        async with aiohttp.ClientSession() as http:
            raw = '{"note": "done \\udfff broken"}'
            async with http.post(
                url, data=raw, headers={"X-Agent-Id": "alice", "Content-Type": "application/json"}
            ) as resp:
                assert resp.status == 400, await resp.text()
                body = await resp.json()
            assert body["error"] == "bad_json" and "surrogate" in body["detail"]
            assert (await store.get_slot(slot.id)).status is SlotStatus.ONGOING
            # The same report in clean text goes through, unicode and all.
            async with http.post(
                url, json={"note": "done ✓ 完成 🚀"}, headers={"X-Agent-Id": "alice"}
            ) as resp:
                assert resp.status == 200, await resp.text()
        events = await store.slot_events(slot.id)
        assert events[-1].to_status is SlotStatus.FINISHED
        assert events[-1].note is not None and "done ✓ 完成 🚀" in events[-1].note
    finally:
        await server.cleanup()
        await store.close()
