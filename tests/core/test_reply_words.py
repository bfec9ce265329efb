"""The first-word rule of DESIGN §6, on the kinds of text agents really send."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.models import Action
from bot.core.reply_words import REPLY_HELP, REPLY_WORDS, Reply, parse_reply

COMPLETE, ABORT, PAUSE, RESUME = Action.COMPLETE, Action.ABORT, Action.PAUSE, Action.RESUME


@pytest.mark.parametrize(
    ("text", "action", "note"),
    [
        # DESIGN's own examples and the agent-like texts
        ("DONE", COMPLETE, ""),
        ("**Done**", COMPLETE, ""),
        ("<@123> done: shipped", COMPLETE, "shipped"),
        ("<@!123> DONE: shipped", COMPLETE, "shipped"),
        ("<@&42> <@123>complete", COMPLETE, ""),
        ("ABORT - blocked on creds", ABORT, "blocked on creds"),
        ("pause\nwaiting for review", PAUSE, "waiting for review"),
        ("Resume", RESUME, ""),
        ("resume — back on it", RESUME, "back on it"),
        ("COMPLETE:", COMPLETE, ""),
        ("  done  ", COMPLETE, ""),
        ("done\r\nall tests green", COMPLETE, "all tests green"),
        # markdown around the word: the marks that wrap it are not part of the note
        ("**DONE:** shipped", COMPLETE, "shipped"),
        ("**DONE: shipped**", COMPLETE, "shipped"),
        ("**DONE**: shipped", COMPLETE, "shipped"),
        ("__Pause__ - lunch", PAUSE, "lunch"),
        ("~~abort~~", ABORT, ""),
        ("> DONE: quoted", COMPLETE, "quoted"),
        ("> **done**\n> it works", COMPLETE, "> it works"),
        ("`DONE`", COMPLETE, ""),
        # the agent's own formatting inside the note is kept
        ("DONE: *all* green", COMPLETE, "*all* green"),
        ("DONE: fixed `parse()`", COMPLETE, "fixed `parse()`"),
        # a run of separators is one separator
        ("DONE -- finally", COMPLETE, "finally"),
        ("DONE:- finally", COMPLETE, "finally"),
        # literal DESIGN: `-` right after the word separates
        ("done-ish", COMPLETE, "ish"),
        # code blocks: the fence is a stripped mark, the line break a separator
        ("```DONE```", COMPLETE, ""),
        ("```\nDONE\n```", COMPLETE, ""),
        ("```\nDONE: shipped\n```", COMPLETE, "shipped"),
        # invisible characters are noise, not words
        ("\u200bDONE", COMPLETE, ""),
        ("\ufeff\u200d\u200fdone: rtl mark first", COMPLETE, "rtl mark first"),
        ("DONE\u200b: zwsp before colon", COMPLETE, "zwsp before colon"),
        ("\u00a0DONE", COMPLETE, ""),
    ],
)
def test_commands(text: str, action: Action, note: str) -> None:
    assert parse_reply(text) == Reply(action=action, note=note)


@pytest.mark.parametrize(
    "text",
    [
        "Done with step 1, now the tests",
        "I'm not done",
        "done.",  # `.` is not one of DESIGN's separators
        "Done!",
        "done, thanks",
        "DONE – en dash is not in DESIGN's list",
        "**Done** with the first half",
        "DONEx",
        "COMPLETED",
        "completely broken",
        "pauses",
        "Aborting now",
        "||DONE||",  # spoilers are not among DESIGN's marks
        "```text\nDONE\n```",  # first word is the fence's language tag
        "✅ DONE",  # an emoji is a word, not a mark
        "ＤＯＮＥ",  # fullwidth letters are not the ASCII word
        "PAUſE",  # long s casefolds to s; only ASCII words count
        "DO\u200bNE",
        "DONE\u0301",
        "تم الانتهاء",
        "<@abc> done",  # not a mention: `<` starts the first word
        "@moderator done",
        "<#123> done",  # a channel link is not a mention
        "",
        "   \n\t ",
        "***",
        "<@123>",
    ],
)
def test_progress(text: str) -> None:
    reply = parse_reply(text)
    assert reply.action is None
    assert reply.is_progress
    assert reply.note == text.strip()


def test_progress_note_is_whole_text_trimmed() -> None:
    assert parse_reply("  working on it\nstep 2 of 5  \n") == Reply(
        None, "working on it\nstep 2 of 5"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,
        "*" * 100_000,
        "<@1" * 30_000,
        "<@" + "1" * 100_000 + ">",
        "\u200b" * 100_000 + "DONE",
        " " * 100_000,
        "DONE" + " " * 100_000 + "x",
        "😀" * 50_000,
        "\u202e" + "‮DONE" * 20_000,
        "DONE: " + "x" * 100_000,
    ],
)
def test_huge_texts(text: str) -> None:
    reply = parse_reply(text)
    assert isinstance(reply, Reply)
    if reply.action is None:
        assert reply.note == text.strip()


def test_huge_texts_are_read_by_the_rule() -> None:
    assert parse_reply("\u200b" * 100_000 + "DONE").action is COMPLETE
    assert parse_reply("DONE" + " " * 100_000 + "x").action is None
    assert parse_reply("DONE: " + "x" * 100_000) == Reply(COMPLETE, "x" * 100_000)
    assert parse_reply("<@" + "1" * 100_000 + "> done").action is None


def test_words_table_matches_design() -> None:
    assert dict(REPLY_WORDS) == {
        "DONE": COMPLETE,
        "COMPLETE": COMPLETE,
        "ABORT": ABORT,
        "PAUSE": PAUSE,
        "RESUME": RESUME,
    }


def test_help_names_every_word() -> None:
    for word in REPLY_WORDS:
        assert f"`{word}" in REPLY_HELP
    # The help is posted by the moderator: it must not itself read as a reply word.
    assert parse_reply(REPLY_HELP).action is None


def test_reply_is_frozen() -> None:
    reply = parse_reply("DONE")
    with pytest.raises(AttributeError):
        reply.note = "changed"  # type: ignore[misc]


words = st.sampled_from(sorted(REPLY_WORDS))
random_case = st.builds(
    lambda w, flips: "".join(c.lower() if f else c for c, f in zip(w, flips, strict=False)),
    words,
    st.lists(st.booleans(), min_size=8, max_size=8),
)
no_line_breaks = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    )
)
noise = st.lists(
    st.sampled_from(
        [
            "<@123>",
            "<@!9>",
            "<@&77>",
            " ",
            "\t",
            "\n",
            "\u200b",
            "*",
            "**",
            "_",
            "~~",
            "`",
            "```",
            "> ",
        ]
    ),
    max_size=6,
).map("".join)


@given(st.text())
def test_never_raises(text: str) -> None:
    reply = parse_reply(text)
    assert reply.action is None or reply.action in REPLY_WORDS.values()


@given(
    noise,
    st.one_of(words, st.text(max_size=12)),
    st.sampled_from(["", ":", "-", "—", "\n", " ", "."]),
    st.text(),
)
def test_never_raises_on_agent_shaped_text(prefix: str, word: str, sep: str, rest: str) -> None:
    reply = parse_reply(prefix + word + sep + rest)
    if reply.action is None:
        assert reply.note == (prefix + word + sep + rest).strip()


@given(random_case, no_line_breaks)
def test_word_colon_note(word: str, note: str) -> None:
    assert parse_reply(f"{word}: {note}") == Reply(REPLY_WORDS[word.upper()], note.strip())


@given(random_case, no_line_breaks)
def test_word_glued_is_progress(word: str, note: str) -> None:
    text = f"{word}x {note}"
    assert parse_reply(text) == Reply(None, text.strip())


@given(
    noise,
    words,
    st.sampled_from([":", "-", "—", "\n"]),
    st.text(),
)
def test_noise_before_word_is_skipped(prefix: str, word: str, sep: str, tail: str) -> None:
    assert parse_reply(prefix + word + sep + tail).action is REPLY_WORDS[word]
