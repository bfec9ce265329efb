"""How an agent's message in its wake channel is read (DESIGN §6).

Agents are bots: they cannot use slash commands, so a plain first word is their
only way to steer a slot. The rule is deliberately narrow, because a false
positive (a chatty "Done with step 1, now the tests" ending the slot) costs far
more than a false negative (the agent repeats itself, the slot stays alive).

The rule, as implemented here:

* Leading noise is skipped: whitespace, invisible format characters (zero-width
  space/joiners, BOM, bidi marks; an LLM may emit them without meaning
  anything), Discord mentions ``<@id>``, ``<@!id>``, ``<@&id>``, and the
  markdown marks DESIGN names, ``*`` ``_`` ``~`` `````` ``>`` (so block quotes
  and code fences too). Spoilers ``||`` are *not* in DESIGN's list and are not
  skipped: ``||DONE||`` is progress.
* The first word is the maximal run of letters/digits that follows. It counts
  (ASCII only, case-insensitive) when it is ``DONE``/``COMPLETE``, ``ABORT``,
  ``PAUSE`` or ``RESUME`` *and*, after any markdown marks and spaces that close
  it, comes the end of the text, ``:``, ``-``, ``—`` or a line break. Nothing
  else separates: ``done.``, ``done,`` and ``Done with…`` are progress, as are
  an en dash ``–`` and ``DONE!``, because DESIGN lists exactly those four.
  Taken literally, ``DONE-ish`` counts (``-`` follows the word).
* A fenced block whose first line is the word counts: ````` ```DONE``` ````` and
  ````` ```\\nDONE\\n``` ````` complete (the fence is a stripped mark and the line
  break is the separator); ````` ```text\\nDONE``` ````` is progress, its first
  word being ``text``.
* The note is the rest after the separator, trimmed of whitespace and of the
  markdown marks that wrapped the keyword (``**DONE:** shipped`` and
  ``**DONE: shipped**`` give ``shipped``); the agent's own formatting inside the
  note is kept (``DONE: *all* green`` gives ``*all* green``). For progress the
  note is the whole text, trimmed.

The scanner is a single left-to-right pass (the one regex is anchored and
bounded), so a 100 kB message costs linear time and nothing here raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from bot.core.models import Action

REPLY_WORDS: Final[Mapping[str, Action]] = MappingProxyType(
    {
        "DONE": Action.COMPLETE,
        "COMPLETE": Action.COMPLETE,
        "ABORT": Action.ABORT,
        "PAUSE": Action.PAUSE,
        "RESUME": Action.RESUME,
    }
)
"""The words of DESIGN §6, upper case, and the slot action each one asks for."""

REPLY_HELP: Final[str] = (
    "**How to reply** — start your message here with a keyword:\n"
    "`DONE` (or `COMPLETE`) when the work is finished · `ABORT` to give it up · "
    "`PAUSE` to pause · `RESUME` to go on.\n"
    "Add a note after `:`, `-`, `—` or a new line, e.g. `DONE: shipped the fix`. "
    "Anything else counts as progress and keeps the slot alive."
)

_MARKS: Final = frozenset("*_~`>")
"""DESIGN's markdown marks; `>` opens a block quote and is never closed."""
_CLOSING_MARKS: Final = frozenset("*_~`")
_SEPARATORS: Final = frozenset(":-—")
_LINE_BREAKS: Final = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MENTION: Final = re.compile(r"<@[!&]?[0-9]{1,25}>")
_LONGEST: Final = max(len(word) for word in REPLY_WORDS)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a message asks for: an action, or None for progress, and its note."""

    action: Action | None
    note: str

    @property
    def is_progress(self) -> bool:
        return self.action is None


def _is_invisible(ch: str) -> bool:
    """Whitespace that is not a line break, or a format character (Cf: ZWSP, BOM, bidi)."""
    if ch in _LINE_BREAKS:
        return False
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def _skip_lead(text: str) -> tuple[int, str]:
    """Skip leading noise; return where the first word may start and the closing marks opened."""
    pos = 0
    opened: list[str] = []
    length = len(text)
    while pos < length:
        ch = text[pos]
        if ch in _MARKS:
            if ch in _CLOSING_MARKS:
                opened.append(ch)
            pos += 1
        elif ch.isspace() or unicodedata.category(ch) == "Cf":
            pos += 1
        elif ch == "<":
            match = _MENTION.match(text, pos)
            if match is None:
                break
            pos = match.end()
        else:
            break
    return pos, "".join(opened)


def _strip_marks(note: str, opened: str, from_start: bool) -> tuple[str, str]:
    """Remove up to len(opened) of the opened marks from one end of the note."""
    budget = len(opened)
    allowed = frozenset(opened)
    if from_start:
        cut = 0
        while cut < budget and cut < len(note) and note[cut] in allowed:
            cut += 1
        return note[cut:], opened[cut:]
    cut = 0
    while cut < budget and cut < len(note) and note[len(note) - 1 - cut] in allowed:
        cut += 1
    return note[: len(note) - cut], opened[cut:]


def parse_reply(text: str) -> Reply:
    """Read an agent's message by DESIGN §6's first-word rule (see the module docstring)."""
    progress = Reply(action=None, note=text.strip())
    start, opened = _skip_lead(text)
    end = start
    length = len(text)
    # No keyword is longer than _LONGEST; a longer run is progress, whatever its length.
    while end < length and end - start <= _LONGEST and text[end].isalnum():
        end += 1
    word = text[start:end]
    if not word.isascii():
        return progress
    action = REPLY_WORDS.get(word.upper())
    if action is None:
        return progress

    # Close the word: its markdown marks and spaces, but never a line break (that is a separator).
    pos = end
    closed = 0
    while pos < length:
        ch = text[pos]
        if ch in _CLOSING_MARKS:
            closed += 1
            pos += 1
        elif _is_invisible(ch):
            pos += 1
        else:
            break
    pending = opened[closed:] if closed < len(opened) else ""

    if pos < length:
        ch = text[pos]
        if ch in _SEPARATORS:
            # A run like `--` or `:-` is one separator; the note does not start with its tail.
            while pos < length and text[pos] in _SEPARATORS:
                pos += 1
        elif ch in _LINE_BREAKS:
            pos += 1
        else:
            return progress

    note = text[pos:].strip()
    if pending:
        note, pending = _strip_marks(note, pending, from_start=True)
        note = note.strip()
        note, _ = _strip_marks(note, pending, from_start=False)
        note = note.strip()
    return Reply(action=action, note=note)
