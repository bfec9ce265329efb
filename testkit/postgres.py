"""A throw-away PostgreSQL cluster for the tests and benches (DESIGN §11).

`PgCluster.start()` runs `initdb` into a fresh temporary folder and `pg_ctl start`
on a free loopback port, with password (SCRAM) authentication so a wrong password
is a real failure; `stop()` removes it all. PostgreSQL refuses to run as root, so
when we are root (CI) the cluster runs as the `postgres` user (made by Debian's
package, which `.ci/run` installs) or `nobody`, and its folder belongs to it.

The server binaries are found on PATH or under /usr/lib/postgresql/*/bin. Where
there are none, `require_binaries` skips, except in CI (`CI=true`), where a
missing server is a failure: the PostgreSQL half of the suite must run there.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

#: The cluster's superuser and its password (a test secret, not a real one).
ADMIN = "calendar_admin"
ADMIN_PASSWORD = "pg-test-" + secrets.token_hex(8)
#: Settings that make a test cluster fast: durability is worthless for throw-away data.
_FAST = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "shared_buffers=32MB",
)
_START_TIMEOUT_S = 60


def find_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`, newest version first; None without them."""
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return next(
        (p for p in candidates if (p / "initdb").exists() and (p / "pg_ctl").exists()), None
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_binaries() -> Path:
    """The binaries' folder; skips the caller without them, fails in CI (never skipped there)."""
    import pytest

    found = find_binaries()
    if found is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql"
        if in_ci():
            pytest.fail(
                f"{message}: .ci/run must install Debian's postgresql package", pytrace=False
            )
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    """The user the server runs as when we are root (it refuses root); None: ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class PgCluster:
    """One running test cluster on 127.0.0.1:`port`; `url()` names a database in it."""

    bin_dir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="calendar-pg-")))
    port: int = field(default_factory=_free_port)
    user: str | None = field(default_factory=_run_as)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / argv[0]), *argv[1:]],
            check=check,
            capture_output=True,
            text=True,
            user=self.user,
            cwd=self.root,
            timeout=_START_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )

    def init(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        pwfile = self.root / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n", encoding="utf-8")
        if self.user is not None:
            shutil.chown(pwfile, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            ADMIN,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        options = ["listen_addresses='127.0.0.1'", f"port={self.port}"]
        options.append(f"unix_socket_directories='{self.root}'")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n".join([*options, *_FAST]) + "\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(
        self, database: str = "postgres", *, user: str = ADMIN, password: str | None = None
    ) -> str:
        secret = ADMIN_PASSWORD if password is None and user == ADMIN else (password or "")
        auth = quote(user, safe="") + (":" + quote(secret, safe="") if secret else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """One statement as the superuser, autocommitted (CREATE DATABASE may not be in a block)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement.encode())

    def new_database(self) -> str:
        """A fresh empty database's name (one per test: tests never see each other's rows)."""
        name = "t_" + secrets.token_hex(6)
        self.sql(f'CREATE DATABASE "{name}"')
        return name


def start_cluster() -> PgCluster:
    """A running cluster from the binaries found (`require_binaries` first, in tests)."""
    found = find_binaries()
    if found is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl)")
    cluster = PgCluster(found)
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        log = cluster.root / "log"
        if log.exists():
            print(log.read_text(encoding="utf-8", errors="replace")[-2000:])
        cluster.remove()
        raise
    return cluster
