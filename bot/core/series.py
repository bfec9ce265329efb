"""Recurring slots (DESIGN §3.1): which instants a series names, as pure functions.

A series is planned in wall-clock time ("09:00 in Europe/Berlin, weekdays"), so
its instances are expanded on naive local times by python-dateutil and only then
placed on the time line. That order is what keeps 09:00 at 09:00 across a DST
change, the bug every scheduler users know has somewhere:

* a wall time that does not exist (the spring gap) moves forward by the gap
  (02:30 on the night clocks jump 02:00 -> 03:00 is 03:30);
* an ambiguous one (the autumn fold) is the first, earlier instant;
* an instance landing on the same instant as an earlier one is dropped.

Both placements are exactly what PEP 495 gives for `fold=0`, which is why
`place` needs no special cases. Everything here is checked before anything is
stored: a rule the calendar could not keep exactly as asked is refused with a
`SeriesRuleError` naming the part that is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot.core.models import Series

#: Parts of an RRULE value we accept; BYSECOND is refused (nothing finer than a minute).
_ALLOWED_PARTS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
_FREQUENCIES = frozenset({"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"})
MAX_RULE_LENGTH = 500
MAX_INSTANCES_PER_DAY = 24
MAX_COUNT = 100_000
MAX_INTERVAL = 1_000
#: How many instances are looked at to judge a rule (24 a day at most over ~3 months).
_PROBE_INSTANCES = 2_200
#: The frequencies whose period has one length in wall-clock time (`Recurrence._rrule_near`).
_FIXED_PERIODS = {
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
}
_WALL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
_UNTIL_UTC = re.compile(r"^(\d{8}T\d{6})Z$")
OCCURRENCE_STAMP = "%Y%m%dT%H%M%S"


class SeriesRuleError(ValueError):
    """A series the calendar refuses (422); `field` names what is wrong for the caller."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance of a series: its nominal wall time (the id's stamp) and its instant."""

    nominal: datetime
    at: datetime

    @property
    def stamp(self) -> str:
        return self.nominal.strftime(OCCURRENCE_STAMP)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A checked rule: the RRULE value, the first wall time, its zone, the wall times left out."""

    rule: str
    start: datetime
    zone: ZoneInfo
    exdates: frozenset[datetime] = frozenset()

    @classmethod
    def checked(cls, rule: str, start: str, zone: str, exdates: tuple[str, ...] = ()) -> Recurrence:
        """Parse and check everything §3.1 asks of a series; raises `SeriesRuleError`."""
        tz = _zone(zone)
        first = parse_wall_time(start, "start")
        skipped = frozenset(parse_wall_time(text, "exdates") for text in exdates)
        recurrence = cls(_normalised_rule(rule, tz), first, tz, skipped)
        recurrence._judge()
        return recurrence

    def _rrule(self) -> rrule:
        parsed = rrulestr(self.rule, dtstart=self.start)
        assert isinstance(parsed, rrule)
        return parsed

    def _rrule_near(self, wall: datetime) -> rrule:
        """The rule started whole periods later, near `wall`: the same wall times from there
        on, without iterating from a start years back (an hourly series read for today).

        Only where the period has a fixed length (hourly, daily, weekly) and no COUNT
        (which counts from the first instance); one period is kept as margin.
        """
        parts = dict(part.partition("=")[::2] for part in self.rule.split(";"))
        unit = _FIXED_PERIODS.get(parts.get("FREQ", ""))
        if unit is None or "COUNT" in parts:
            return self._rrule()
        period = unit * int(parts.get("INTERVAL", "1"))
        skipped = (wall - self.start) // period - 1
        if skipped < 1:
            return self._rrule()
        moved = rrulestr(self.rule, dtstart=self.start + skipped * period)
        assert isinstance(moved, rrule)
        return moved

    def _judge(self) -> None:
        probe = list(islice(self.instances(), _PROBE_INSTANCES))
        if not probe:
            raise SeriesRuleError("rrule", "yields no instance (check UNTIL, COUNT and EXDATE)")
        per_day = Counter(instance.nominal.date() for instance in probe)
        busiest, count = per_day.most_common(1)[0]
        if count > MAX_INSTANCES_PER_DAY:
            raise SeriesRuleError(
                "rrule",
                f"makes {count} instances on {busiest.isoformat()}; "
                f"at most {MAX_INSTANCES_PER_DAY} a day",
            )

    def instances(self, after: datetime | None = None) -> Iterator[Instance]:
        """Instances in order, from the first whose instant is >= `after` (aware), if given.

        Exdates are left out and an instance on the instant of the one before it
        is dropped (the spring gap moves 02:30 onto 03:30; the rule may name both).
        """
        start_wall = None if after is None else _wall_before(after, self.zone)
        if start_wall is None:
            wall_times: Iterable[datetime] = self._rrule()
        else:
            wall_times = self._rrule_near(start_wall).xafter(start_wall, inc=True)
        last: datetime | None = None
        for nominal in wall_times:
            if nominal in self.exdates:
                continue
            at = place(nominal, self.zone)
            if last is not None and at <= last:
                continue
            last = at
            if after is None or at >= after:
                yield Instance(nominal, at)

    def between(self, start: datetime, end: datetime) -> list[Instance]:
        """Instances with `start <= at < end` (both aware)."""
        found: list[Instance] = []
        for instance in self.instances(after=start):
            if instance.at >= end:
                break
            found.append(instance)
        return found

    def latest(self, until: datetime) -> Instance | None:
        """The last instance with `at <= until` (aware), or None.

        dateutil has no backward iterator, so `rrule.before` names a candidate wall
        time and `between` around it decides (exdates and dropped duplicates included).
        """
        wall: datetime | None = until.astimezone(self.zone).replace(tzinfo=None) + timedelta(days=1)
        end = until + timedelta(microseconds=1)
        while wall is not None:
            # From near `wall` first (the same answer when it has one), else from the start.
            wall = self._rrule_near(wall).before(wall) or self._rrule().before(wall)
            if wall is None:
                return None
            window = self.between(place(wall, self.zone) - timedelta(days=1), end)
            if window:
                return window[-1]
        return None

    def holds(self, nominal: datetime) -> Instance | None:
        """The instance whose nominal wall time is `nominal`, or None when the rule has none."""
        at = place(nominal, self.zone)
        found = next(self.instances(after=at), None)
        return found if found is not None and found.nominal == nominal else None


def place(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall time in `zone`: gap forward, fold first (PEP 495 fold=0)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_in(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` as a naive wall time of `zone`. A time written in `zone` itself is kept as it
    is written, even one in the spring gap (02:30 on the night it does not exist): RFC 5545
    names an occurrence by its wall time, and converting would make it 03:30, another one."""
    if moment.tzinfo is None:
        return moment
    if isinstance(moment.tzinfo, ZoneInfo) and moment.tzinfo.key == zone.key:
        return moment.replace(tzinfo=None)
    return moment.astimezone(zone).replace(tzinfo=None)


def _wall_before(instant: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time no later than any wall time whose instant is >= `instant`.

    One day back covers every offset change there is, so no instance is skipped.
    """
    return instant.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)


def parse_wall_time(text: object, field: str) -> datetime:
    """`YYYY-MM-DDTHH:MM[:SS]` without offset: a series' times are wall times in its zone."""
    if not isinstance(text, str) or not _WALL_TIME.match(text):
        raise SeriesRuleError(field, f"{text!r} must be a local time YYYY-MM-DDTHH:MM[:SS]")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SeriesRuleError(field, f"{text!r} is not a real date and time ({exc})") from None
    if not 1970 <= value.year <= 9998:
        raise SeriesRuleError(field, f"{text!r} must be between 1970 and 9998")
    return value


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise SeriesRuleError("timezone", f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError) as exc:
        raise SeriesRuleError("timezone", f"{name!r} is not an IANA time zone ({exc})") from None


def _normalised_rule(rule: object, zone: ZoneInfo) -> str:
    """The rule with its parts checked; a UTC `UNTIL` (…Z) is turned into the zone's wall time.

    dateutil wants UNTIL in the same form as DTSTART, and a series' start is a wall time.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise SeriesRuleError("rrule", "must be an RRULE value such as FREQ=DAILY")
    if len(rule) > MAX_RULE_LENGTH:
        raise SeriesRuleError("rrule", f"is longer than {MAX_RULE_LENGTH} characters")
    text = rule.strip().removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or not value.strip():
            raise SeriesRuleError("rrule", f"{part!r} is not NAME=VALUE")
        if name not in _ALLOWED_PARTS:
            raise SeriesRuleError("rrule", f"{name} is not supported in a series")
        if name in parts:
            raise SeriesRuleError("rrule", f"{name} is given twice")
        parts[name] = value.strip().upper()
    _check_parts(parts)
    until = parts.get("UNTIL")
    if until is not None:
        parts["UNTIL"] = _local_until(until, zone)
    normalised = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        rrulestr(normalised, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise SeriesRuleError("rrule", f"is not a valid RRULE ({exc})") from None
    return normalised


def _check_parts(parts: dict[str, str]) -> None:
    frequency = parts.get("FREQ")
    if frequency is None:
        raise SeriesRuleError("rrule", "needs FREQ")
    if frequency not in _FREQUENCIES:
        raise SeriesRuleError(
            "rrule", f"FREQ={frequency} is not allowed: HOURLY or coarser (no MINUTELY/SECONDLY)"
        )
    if "COUNT" in parts and "UNTIL" in parts:
        raise SeriesRuleError("rrule", "COUNT and UNTIL cannot both be given (RFC 5545)")
    for name, limit in (("COUNT", MAX_COUNT), ("INTERVAL", MAX_INTERVAL)):
        value = parts.get(name)
        if value is not None and not (value.isdigit() and 1 <= int(value) <= limit):
            raise SeriesRuleError("rrule", f"{name} must be a whole number from 1 to {limit}")


def _local_until(value: str, zone: ZoneInfo) -> str:
    utc = _UNTIL_UTC.match(value)
    try:
        if utc is None:
            parsed = datetime.strptime(value, OCCURRENCE_STAMP)
        else:
            instant = datetime.strptime(utc.group(1), OCCURRENCE_STAMP).replace(tzinfo=UTC)
            parsed = instant.astimezone(zone).replace(tzinfo=None)
    except (ValueError, OverflowError):
        try:
            parsed = datetime.combine(
                datetime.strptime(value, "%Y%m%d").date(), datetime.max.time()
            )
        except ValueError:
            raise SeriesRuleError(
                "rrule", f"UNTIL={value} must be YYYYMMDD, YYYYMMDDTHHMMSS or …Z"
            ) from None
    return parsed.strftime(OCCURRENCE_STAMP)


def occurrence_id(series_id: str, at: Instance | datetime) -> str:
    """`<series id>_<nominal local start>` of an instance or a nominal wall time: stable
    across edits and moves (§3.1)."""
    nominal = at.nominal if isinstance(at, Instance) else at
    return f"{series_id}_{nominal.strftime(OCCURRENCE_STAMP)}"


def split_occurrence_id(slot_id: str) -> tuple[str, datetime] | None:
    """(series id, nominal wall time) of an occurrence id, or None for a single slot's id."""
    series_id, sep, stamp = slot_id.rpartition("_")
    if not sep or not series_id:
        return None
    try:
        return series_id, datetime.strptime(stamp, OCCURRENCE_STAMP)
    except ValueError:
        return None


def next_instants(series: Series, after: datetime, count: int) -> list[datetime]:
    """The series' next `count` instants (UTC) from `after`, for the answers that show them.

    None once the series has ended, nor when its rule does not parse here (a stored series
    is valid, but a newer calendar's may use what this version does not know).
    """
    if series.ended_at is not None:
        return []
    try:
        rule = Recurrence.checked(
            series.rrule, series.start, series.timezone, tuple(series.exdates)
        )
    except SeriesRuleError:
        return []
    return [instance.at for instance in islice(rule.instances(after=after), count)]
