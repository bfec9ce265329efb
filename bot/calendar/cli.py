"""`python -m bot calendar …` (placeholder until the embedded calendar lands)."""

from __future__ import annotations

import argparse
from typing import Any


def add_calendar_parser(sub: Any) -> None:
    sub.add_parser("calendar", help="manage or serve the embedded calendar")


def run_calendar_command(args: argparse.Namespace) -> int:
    return 2
