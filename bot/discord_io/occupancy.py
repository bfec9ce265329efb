"""How full each wake category is, counting what the guild listing does not show yet.

Wakes place their channels side by side: one placement at a time made 100
wakes due in the same second wait for each other (p99 1 s). The listing comes
from the gateway cache, which shows a channel only once its CHANNEL_CREATE
arrives, possibly after the REST call returned, and still shows a deleted one
until its CHANNEL_DELETE. A decision made from the listing alone would put a
51st channel into a category. So a category's count is: the channels the
listing shows in it, minus those we deleted that it still shows, plus those we
made that it does not show yet, plus the creations in flight. A creation is
reserved when it is placed, with no `await` between the count and the
reservation, which is what makes concurrent placements on one event loop add
up. Discord stays the judge: a category it calls full is moved past.

Entries the listing has caught up with are dropped when counted; an entry it
never catches up with (a channel deleted by someone before we saw it) is
dropped after `forget_after_s`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.discord_io.guild_access import Listing

#: Long enough for any gateway event to arrive, short enough that a miscount heals.
FORGET_AFTER_S = 60.0


class Occupancy:
    """Channels per wake category as Discord has them now; one per guild, one event loop."""

    def __init__(self, clock: Clock, *, forget_after_s: float = FORGET_AFTER_S) -> None:
        self._clock = clock
        self._forget_after = timedelta(seconds=forget_after_s)
        self._in_flight: dict[int, int] = {}
        #: channel id -> (its category's id, when we made it)
        self._made: dict[int, tuple[int, datetime]] = {}
        self._deleted: dict[int, datetime] = {}

    def counts(self, listing: Listing, category_ids: Iterable[int]) -> dict[int, int]:
        """How many channels each of `category_ids` holds, our pending changes included."""
        self._catch_up(listing)
        counts = {cid: self._in_flight.get(cid, 0) for cid in category_ids}
        for channel in listing.channels:
            cid = channel.category_id
            if cid in counts and channel.id not in self._deleted:
                counts[cid] += 1
        for cid, _ in self._made.values():
            if cid in counts:
                counts[cid] += 1
        return counts

    def reserve(self, category_id: int) -> None:
        """A creation in `category_id` is on its way: count it from now on."""
        self._in_flight[category_id] = self._in_flight.get(category_id, 0) + 1

    def settle(self, category_id: int, channel_id: int | None) -> None:
        """The creation reserved in `category_id` ended: made as `channel_id`, or not (None)."""
        left = self._in_flight.get(category_id, 0) - 1
        if left > 0:
            self._in_flight[category_id] = left
        else:
            self._in_flight.pop(category_id, None)
        if channel_id is not None:
            self._made[channel_id] = (category_id, self._clock.now())

    def deleted(self, channel_id: int) -> None:
        """We deleted `channel_id`: it no longer takes room, whatever the listing says."""
        self._made.pop(channel_id, None)
        self._deleted[channel_id] = self._clock.now()

    def _catch_up(self, listing: Listing) -> None:
        shown = {channel.id for channel in listing.channels}
        too_old = self._clock.now() - self._forget_after
        self._made = {
            cid: made for cid, made in self._made.items() if cid not in shown and made[1] > too_old
        }
        self._deleted = {
            cid: at for cid, at in self._deleted.items() if cid in shown and at > too_old
        }
