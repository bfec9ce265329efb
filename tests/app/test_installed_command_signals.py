"""From a review of the day's changes to the stop signals: the installed command.

The stop signals stay ignored once a run is over only when `bot/__main__.py` runs as
`__main__` (`python -m bot` calls `ignore_stop_signals_at_exit`). The package also installs
the `calendar-moderator` command (pyproject's `[project.scripts]`), which calls
`bot.__main__:main` directly: there the hold gives back the interpreter's defaults as the
run ends, so a stop signal repeated while the process exits (a supervisor repeating its
stop, a second Ctrl-C) ends it by the signal after a clean stop, what the day's fix was
for (tests/app/test_stop_signals_repeated.py runs `python -m bot` only).

The review's failing tests; each passes since its fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testkit.processes import bot_env

#: What the installed `calendar-moderator` script does (`sys.exit(main())`), with a look at
#: the stop signals' handling between the run's end and the exit.
AS_THE_INSTALLED_COMMAND = """
import signal, sys
from importlib.metadata import entry_points
(script,) = entry_points(group="console_scripts", name="calendar-moderator")
code = script.load()(["run"])
print("SIGTERM", signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
print("SIGINT", signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
sys.exit(code)
"""


def test_the_installed_command_ends_its_run_with_the_stop_signals_ignored(
    tmp_path: Path,
) -> None:
    # A run refused at once (no waker configured): the hold is taken and given up as in any.
    done = subprocess.run(
        [sys.executable, "-c", AS_THE_INSTALLED_COMMAND],
        cwd=tmp_path,
        env=bot_env(None, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.split() == ["SIGTERM", "True", "SIGINT", "True"], done.stderr
