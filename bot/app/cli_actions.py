"""How a `calendar` action's parser is made, the same way for every action.

Each action has a one-line help (its row in `calendar --help`) and a
description (the top of its own `--help`); the arguments several actions
share are declared here once, so that `add`, `import` and `export` take the
very same `--agent`, and `edit` and `cancel` the very same SLOT_ID.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_action(
    actions: Any,
    name: str,
    summary: str,
    description: str,
    *,
    agent: bool = False,
    slot_id: bool = False,
) -> argparse.ArgumentParser:
    """The parser of action `name`; `agent` adds the required `--agent`, `slot_id` the
    SLOT_ID of the slot the action changes."""
    parser: argparse.ArgumentParser = actions.add_parser(
        name, help=summary, description=description
    )
    if slot_id:
        parser.add_argument("slot_id", metavar="SLOT_ID")
    if agent:
        add_agent_option(parser)
    return parser


def add_agent_option(parser: argparse.ArgumentParser) -> None:
    """The required `--agent` of an action on one agent's slots (for an action whose own
    positional argument comes first, as a missing-arguments error lists them in order)."""
    parser.add_argument("--agent", required=True, help="agent id")
