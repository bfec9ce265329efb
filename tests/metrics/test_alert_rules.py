"""docs/prometheus-alerts.yml names only metrics the bot or the calendar server export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.calendar.server import make_app
from bot.calendar.server.health import REGISTRY_KEY
from bot.calendar.store import EmbeddedCalendar
from bot.metrics import ModeratorMetrics

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus-alerts.yml"
#: A metric name in PromQL (labels, strings and ranges are cut out first): not a function.
NAME = re.compile(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
PROMQL_WORDS |= {"unless", "bool", "offset"}


def exported_names(*registries: Any) -> set[str]:
    """Every series name the registries expose (a counter as `_total` even before its first
    sample, a histogram's parts)."""
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            names.add(family.name)
            if family.type == "counter":
                names.add(f"{family.name}_total")
            names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(
        r'"[^"]*"|\[[^\]]*\]|\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)',
        " ",
        expr,
    )
    return {n for n in NAME.findall(without_strings) if n not in PROMQL_WORDS}


async def test_every_metric_in_every_rule_exists(tmp_path: Path) -> None:
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = [rule for group in loaded["groups"] for rule in group["rules"]]
    assert {r["alert"] for r in rules} >= {
        "WakeFailedOnEveryWaker",
        "SyncOlderThanThreeIntervals",
        "ChangeFeedDown",
        "DiscordDisconnected",
    }
    bot = ModeratorMetrics(sync_interval_s=300, discord=True)
    store = await EmbeddedCalendar.open(tmp_path / "c.db", timezone=ZoneInfo("UTC"))
    try:
        exported = exported_names(bot.registry, make_app(store)[REGISTRY_KEY])
    finally:
        await store.close()
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_the_name_reader_finds_names_not_functions_or_labels() -> None:
    expr = 'sum by (job) (rate(a_total{x="y"}[5m])) > 3 * b_seconds and on() c == 0'
    assert metric_names(expr) == {"a_total", "b_seconds", "c"}
