"""A real CalDAV server for the tests (DESIGN §10): Radicale, run as `python -m radicale`.

`RadicaleServer.start()` writes a config file into a fresh temporary folder and
starts Radicale on 127.0.0.1 and a free port, with htpasswd authentication
(plain passwords: test secrets) and its storage in that folder; it returns once
the server answers HTTP. `stop()` ends it (terminate, wait, kill) and keeps the
folder, so `start()` again brings the same server back on the same port with
the same calendars (a test of "the server went away and came back").
`remove()` stops it and deletes the folder.

Each user added with `add_user` gets a home of their own (`/<user>/`, made by
Radicale at the first login), which is how tests share one server without
seeing each other's calendars. Radicale's own log (warnings only) goes to
`log_path`; it is quoted when the server will not start.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleFailed(RuntimeError):
    """Radicale did not start; the message quotes its log."""


@dataclass(frozen=True, slots=True)
class DavHome:
    """One user's calendar home on the test server."""

    #: the home's URL, e.g. http://127.0.0.1:PORT/user/ (no credentials in it)
    url: str
    username: str
    password: str
    #: where Radicale keeps this user's collections (to plant files behind its back)
    storage: Path


#: `python -m radicale` with a listen backlog of 128 instead of socketserver's 5. Radicale
#: answers each request on a connection of its own (HTTP/1.0), so 7 or more requests at
#: once overflowed the backlog and a dropped SYN came back 1 s later (the kernel's
#: ListenOverflows counted it): polls stalled on the test server, not on the moderator.
#: The servers users run (behind nginx, Apache...) listen with a backlog in the hundreds.
_LAUNCH = (
    "import sys; import radicale.server; from radicale.__main__ import run; "
    "radicale.server.ParallelHTTPServer.request_queue_size = 128; "
    "sys.argv[0] = 'radicale'; run()"
)


@dataclass
class RadicaleServer:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="calendar-dav-")))
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    _users: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.root / "collections"

    @property
    def log_path(self) -> Path:
        return self.root / "radicale.log"

    @property
    def _htpasswd(self) -> Path:
        return self.root / "users"

    def _write_config(self) -> Path:
        config = self.root / "config"
        self._htpasswd.touch()
        config.write_text(
            "\n".join(
                [
                    "[server]",
                    f"hosts = 127.0.0.1:{self.port}",
                    "max_connections = 32",
                    "delay_on_error = 0",
                    # Radicale refuses (and skips, when planted) objects over 10 MB; other
                    # servers keep them, and the moderator's own limit is what is tested.
                    "max_resource_size = 32000000",
                    "[auth]",
                    "type = htpasswd",
                    f"htpasswd_filename = {self._htpasswd}",
                    "htpasswd_encryption = plain",
                    # Radicale waits this long after a wrong password (against guessing);
                    # tests of wrong passwords need no such wait.
                    "delay = 0",
                    "[rights]",
                    "type = owner_only",
                    "[storage]",
                    f"filesystem_folder = {self.storage}",
                    "[web]",
                    "type = none",
                    "[logging]",
                    "level = warning",
                    "mask_passwords = True",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        return config

    def start(self) -> None:
        """Start (or start again, same port and folder) and wait until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        config = self._write_config()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RadicaleFailed(
                    f"Radicale exited with status {self.process.returncode}:\n{self.log()}"
                )
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RadicaleFailed(
            f"Radicale did not answer on {self.base_url} in {_START_TIMEOUT_S:g} s:\n{self.log()}"
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer (401 without credentials) means it is up
        except OSError:
            return False

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        return "(no log)"

    def stop(self) -> None:
        """End the server (terminate, then kill); the folder and the port stay ours."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT_S)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def add_user(self, name: str | None = None, password: str | None = None) -> DavHome:
        """A new user (`u1`, `u2`, … unless named) with an empty home of their own."""
        name = name or f"u{next(self._users)}"
        password = password or "dav-test-" + secrets.token_hex(8)
        with self._htpasswd.open("a", encoding="utf-8") as users:
            users.write(f"{name}:{password}\n")
        return DavHome(
            url=f"{self.base_url}/{name}/",
            username=name,
            password=password,
            storage=self.storage / "collection-root" / name,
        )
