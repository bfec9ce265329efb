"""The state file under a burst: every agent writes its wake's ledger entries at once.

Run: `python bench/state_burst.py [--wakes 100] [--synchronous NORMAL|FULL] [--rounds 3]`

`--wakes` concurrent wakes each write what a wake writes, in its order, each
awaited before the next (DESIGN §5): the intent (read back with its claim key),
the claim, the channel link, the message id, the result. The state store alone,
on a file in a temporary directory: no Discord, no calendar. Prints p50/p99/max
of each kind of write and of the whole sequence per wake, and how many commits
the writes shared (`StateStore.commits`). `--synchronous` overrides the
connection's `PRAGMA synchronous` (the opener sets NORMAL) to show what an
fsync per commit would cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._discord import Spread
from bot.core.state import StateStore
from bot.core.waker import WakeResult

KINDS = ("record_intent", "record_claim", "save_channel", "save_message", "record_result", "wake")


async def one_burst(wakes: int, synchronous: str | None) -> tuple[dict[str, list[float]], str]:
    times: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="state-burst-") as tmp:
        state = await StateStore.open(Path(tmp) / "state.db")
        try:
            if synchronous is not None:
                await state._rows(f"PRAGMA synchronous = {synchronous}")

            async def timed(kind: str, write: object) -> None:
                began = time.perf_counter()
                await write  # type: ignore[misc]
                times[kind].append(time.perf_counter() - began)

            async def wake(n: int) -> None:
                slot, began = f"slot-{n:04d}", time.perf_counter()
                await timed("record_intent", state.record_intent(slot, f"agent{n}", 1))
                await timed("record_claim", state.record_claim(slot, 2))
                await timed("save_channel", state.save_channel(slot, f"agent{n}", 10_000 + n))
                await timed("save_message", state.save_message(slot, 20_000 + n))
                woke = WakeResult.success("discord")
                await timed("record_result", state.record_result(slot, woke))
                times["wake"].append(time.perf_counter() - began)

            await asyncio.gather(*(wake(n) for n in range(wakes)))
            commits = getattr(state, "commits", None)
            shared = (
                f"{commits.writes} writes in {commits.rounds} commits"
                if commits is not None
                else "one commit per write"
            )
        finally:
            await state.close()
    return times, shared


def _ms(value: float) -> str:
    return f"{value * 1000:9.1f} ms"


async def main(args: argparse.Namespace) -> int:
    print(
        f"state burst: {args.wakes} wakes at once, 5 writes each, synchronous="
        f"{args.synchronous or 'NORMAL (the opener)'}, best p99 of {args.rounds}"
    )
    best: tuple[dict[str, list[float]], str] | None = None
    for _ in range(args.rounds):
        got = await one_burst(args.wakes, args.synchronous)
        if best is None or Spread.of(got[0]["wake"]).p99 < Spread.of(best[0]["wake"]).p99:
            best = got
    assert best is not None
    times, shared = best
    print(f"  {'':<16} {'p50':>12} {'p99':>12} {'max':>12}")
    for kind in KINDS:
        s = Spread.of(times[kind])
        print(f"  {kind:<16} {_ms(s.p50)} {_ms(s.p99)} {_ms(s.max)}")
    print(f"  {shared}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wakes", type=int, default=100)
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.wakes < 1 or args.rounds < 1:
        parser.error("need --wakes >= 1 and --rounds >= 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
