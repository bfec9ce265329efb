"""Shutdown time: SIGTERM to process exit of a real `python -m bot`, N runs per mode.

Run: `python bench/shutdown_time.py [--runs 5] [--signal TERM|INT]`

Each run starts `python -m bot` in a fresh folder (embedded calendar, state,
two agents) and waits until it is fully up, then sends the signal and measures
until the process has exited (the parent's `wait()` returns). Modes:

* `discord`: against the fake Discord on 127.0.0.1 (REST + gateway), connected
  and READY, one agent holding a woken slot (so there is a channel, a ledger
  entry and a live gateway session to close);
* `headless`: no token, a spawn webhook (a local receiver) and `CALENDAR_LISTEN`
  (the embedded calendar's API served), one slot woken through the webhook.

Target (issue 5): exit status 0 within 5 s every time. Exit status 1 when a
run misses it. Start-up time (process start to ready) is shown for context.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.fakediscord import FakeDiscord
from testkit.processes import BotProcess, bot_env, due_slot, free_port
from testkit.spawn import serving_spawn_receiver

TARGET_S = 5.0


async def _one_run(
    mode: str, sig: int, fake: FakeDiscord, hook_url: str
) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="shutdown-bench-") as tmp:
        folder = Path(tmp)
        await due_slot(folder, "alice", "Bench slot", "Nothing to do.")
        if mode == "discord":
            env = bot_env(fake, folder)
            ready_line = "connected to Discord as"
            woken_line = "woke for slot"
        else:
            env = bot_env(
                None, folder, SPAWN_URL=hook_url, CALENDAR_LISTEN=f"127.0.0.1:{free_port()}"
            )
            ready_line = "moderator started"
            woken_line = "woke for slot"
        began = time.perf_counter()
        proc = await BotProcess.start(env, folder)
        try:
            await proc.wait_log(ready_line, timeout=60)
            await proc.wait_log(woken_line, timeout=60)
            started = time.perf_counter() - began
            sent = time.perf_counter()
            proc.send_signal(sig)
            code = await proc.wait(timeout=60)
            took = time.perf_counter() - sent
        finally:
            await proc.stop()
        return started, took, code


async def main(runs: int, sig: int) -> int:
    fake = FakeDiscord(spec_path=False)
    await fake.start()
    missed = False
    try:
        async with serving_spawn_receiver() as hook:
            print(
                f"SIGTERM-to-exit of `python -m bot`, {runs} run(s) per mode, target {TARGET_S:g} s"
            )
            print(
                f"{'mode':<10} {'min':>8} {'median':>8} {'max':>8}   start-up median   exit codes"
            )
            for mode in ("discord", "headless"):
                results = [await _one_run(mode, sig, fake, hook.url) for _ in range(runs)]
                took = [r[1] for r in results]
                codes = sorted({r[2] for r in results})
                print(
                    f"{mode:<10} {min(took):>7.3f}s {statistics.median(took):>7.3f}s "
                    f"{max(took):>7.3f}s   {statistics.median(r[0] for r in results):>13.2f} s"
                    f"   {codes}"
                )
                if max(took) > TARGET_S or codes != [0]:
                    missed = True
    finally:
        await fake.stop()
    if missed:
        print(f"MISSED: a run took longer than {TARGET_S:g} s or did not exit 0")
        return 1
    print("ok: every run exited 0 within the target")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--signal", choices=("TERM", "INT"), default="TERM")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, getattr(signal, f"SIG{args.signal}"))))
