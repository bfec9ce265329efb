"""Claims whose answer never came: the slot is woken by us exactly when the claim is ours.

Both races used to be lost by recovery deciding "ours" from version arithmetic
(`slot.version == expected + 1`) after a claim whose answer was lost. Now the
claim carries a claim key (kept in the wake ledger with the intent, and by the
calendar with the slot while it is held), and recovery re-sends that same
`start`: 200 (applied now, or a replay of ours) -> wake; 409 -> never wake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from testkit.http_faults import HttpFault, is_claim
from tests.faults.conftest import ADA, CalendarServer, Rig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The rig's HTTP client tries each call twice (`attempts=2`): one claim call, two requests.
ATTEMPTS_PER_CALL = 2


async def test_failed_claim_then_the_other_moderator_claims_wakes_once(rig: Rig) -> None:
    """m1's claim never reaches the calendar (500 at its frontend) and m2 claims the slot.

    m1 must not take m2's claim (same version step as its own would be) for its own:
    its re-sent claim is refused and it never wakes the slot.
    """
    await rig.add_slots(ADA, 1)
    await rig.server.start()
    second_front = CalendarServer(rig.store)  # a second frontend over the same calendar
    await second_front.start()
    try:
        await rig.moderator((ADA,), name="m1")
        first_front, rig.server = rig.server, second_front
        await rig.moderator((ADA,), name="m2")
        rig.server = first_front
        first_front.fail(HttpFault("status", status=500, applies=is_claim))
        finish = rig.agents_finish

        async def still_working() -> None:
            return None

        rig.agents_finish = still_working  # type: ignore[method-assign]
        await rig.run(90)  # on main: "slots woken more than once"
        rig.agents_finish = finish  # type: ignore[method-assign]
        first_front.fail(None)
        await rig.run_until_done()
        await rig.assert_nothing_lost()
        m1, m2 = rig.wakers
        assert (sum(m1.wakes.values()), sum(m2.wakes.values())) == (0, 1)
        # m1 asked again with its claim key once the calendar was back, and was told no
        assert first_front.switch.claims(409) >= 1
    finally:
        await second_front.stop()


@pytest.mark.parametrize("lands", ["after", "before"])
async def test_own_claim_that_lands_late_is_woken_once(rig: Rig, lands: str) -> None:
    """Our claim times out at the client, and the calendar applies it only later.

    It lands right `after` the calendar answers the next request about that slot
    (on main: recovery's read said NOT_STARTED, the intent was dropped, the slot
    then stayed ONGOING with no wake until the stuck-slot rule aborted it), or
    just `before` that request (the re-sent claim must then be taken as a replay
    of ours, not as a 409). Either way: woken once, started once, finished.
    """
    await rig.add_slots(ADA, 1)
    held: list[tuple[asyncio.Event, asyncio.Future[None]]] = []
    claims = [0]

    async def land() -> None:
        for go, done in held:  # the backend gets round to the claims it had queued
            go.set()
            await done
        held.clear()

    @web.middleware
    async def late(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_claim(request):
            claims[0] += 1
            if claims[0] <= ATTEMPTS_PER_CALL:  # the first claim call: both attempts queued
                await request.read()
                go = asyncio.Event()
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                held.append((go, done))
                await go.wait()
                try:
                    return await handler(request)
                finally:
                    done.set_result(None)
        if request.path.startswith("/calendar/slots/") and held:
            if lands == "before":
                await land()
            answer = await handler(request)  # "after": the slot as it is now (NOT_STARTED)
            if lands == "after":
                await land()
            return answer
        return await handler(request)

    rig.server.switch.middleware = late  # type: ignore[method-assign]
    await rig.server.start()
    await rig.moderator((ADA,), name="m1", client_timeout_s=0.25)
    await rig.run_until_done(ceiling_s=3 * 3600)
    await rig.assert_nothing_lost()  # on main ("after"): "slots not finished: {...: 'ABORTED'}"
    assert not held and claims[0] > ATTEMPTS_PER_CALL  # the queued claims landed; one re-sent
