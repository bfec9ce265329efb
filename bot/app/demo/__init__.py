"""`python -m bot demo`: the whole flow in a few seconds, with nothing configured.

A newcomer should see what the moderator does before setting up a Discord
application, so the demo runs the *real* parts wherever it can: the embedded
calendar and the state store (in a throw-away folder), the `Moderator` with its
precise timers on the system clock, and the console waker behind a
`WakerChain`. Only two things are stand-ins, and both sit exactly where Discord
would: the wake is printed instead of posted (the console waker), and the
agents are scripted coroutines whose messages go through the same reply path
a Discord reply takes (`bot.core.reply_handling`), answered with the bot's own
words (`bot.presenters.reply_answers`).

The parts: `plan` (the scenario), `story` (the core's events told as they
happen), `agents` (wake delivery, the simulated agents and their replies),
`summary` (the plan and the summary table), `terminal` (a safe stdout, quiet
logs) and `run` (the run and the command's exit codes).
"""

from bot.app.demo.plan import BASE_PLAN, demo_plan
from bot.app.demo.run import run_demo

__all__ = ["BASE_PLAN", "demo_plan", "run_demo"]
