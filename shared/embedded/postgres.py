"""Embedded PostgreSQL 16, using the binaries shipped in the ``pgserver`` wheel.

Layout under ``data_dir``: ``pgdata/`` (the cluster), ``server.log`` and
``port``. Postgres refuses to run as root, so when we are root the cluster is
initialised and run as the unprivileged system user ``pgserver``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

from .base import HOST, EmbeddedServer, EmbeddedServerError, process_serves


def _bin_dir() -> Path:
    """Directory holding initdb/postgres/psql, found without importing pgserver (whose import has side effects)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("postgres binaries not found: the pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _client_env() -> dict[str, str]:
    """Our environment minus PG* variables, so psql/pg_isready use only the arguments we pass."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _make_traversable(path: Path) -> None:
    """chmod go+rx on every ancestor of ``path`` so the unprivileged user can reach it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)


_binaries_opened = False


def _open_binaries_to_everyone(bin_dir: Path) -> None:
    """Make the Postgres install readable/executable by other users (once per process)."""
    global _binaries_opened
    if _binaries_opened:
        return
    _make_traversable(bin_dir)
    for part in ("bin", "lib", "share"):
        for dirpath, _dirs, files in os.walk(bin_dir.parent / part):
            Path(dirpath).chmod(Path(dirpath).stat().st_mode | 0o055)
            for name in files:
                file = Path(dirpath, name)
                mode = file.stat().st_mode
                file.chmod(mode | 0o044 | (0o011 if mode & stat.S_IXUSR else 0))
    _binaries_opened = True


def _system_user(name: str) -> pwd.struct_passwd:
    """Return the passwd entry for ``name``, creating it as a no-login system user if missing."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise EmbeddedServerError(f"postgres needs system user {name!r} when run as root; useradd failed: {detail.strip()}") from exc
    return pwd.getpwnam(name)


class EmbeddedPostgres(EmbeddedServer):
    """A Postgres cluster in ``data_dir/pgdata`` serving database ``tessera`` on 127.0.0.1.

    ``fast=True`` turns off fsync, synchronous_commit and full_page_writes:
    for throwaway test data only.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, checkpoint, exit
    database = "tessera"
    system_user = "pgserver"

    def __init__(self, data_dir: Path, *, port: int | None = None, fast: bool = False) -> None:
        super().__init__(data_dir, port=port)
        self.fast = fast
        self.pgdata = self.data_dir / "pgdata"
        self.bin_dir = _bin_dir()
        self._user: pwd.struct_passwd | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{self.database}"

    def _prepare(self) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_for_unprivileged_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres",
                      "--encoding=utf8", "--no-locale", as_server=True, capture=False)
        self._remove_stale_pid()

    def _prepare_for_unprivileged_user(self) -> None:
        """As root: create the system user, open the binaries, hand the cluster directory over."""
        self._user = user = _system_user(self.system_user)
        _open_binaries_to_everyone(self.bin_dir)
        _make_traversable(self.pgdata)
        if self.pgdata.stat().st_uid != user.pw_uid:
            for dirpath, dirs, files in os.walk(self.pgdata):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
                    os.chown(name, user.pw_uid, user.pw_gid, follow_symlinks=False)

    def _remove_stale_pid(self) -> None:
        """Delete ``postmaster.pid`` left by a crash, unless its postmaster is really still running."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except FileNotFoundError:
            return
        except (OSError, ValueError, IndexError):
            pid = None
        if pid is not None and process_serves(pid, self.pgdata):
            raise EmbeddedServerError(f"postgres is already running on {self.pgdata} (pid {pid}, left by an earlier run?); stop it first, e.g. kill -INT {pid}")
        pidfile.unlink(missing_ok=True)

    def _command(self, port: int) -> list[str]:
        cmd = [str(self.bin_dir / "postgres"), "-D", str(self.pgdata), "-h", HOST, "-p", str(port),
               "-k", "", "-c", "max_connections=300"]
        if self.fast:
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return cmd

    def _spawn_kwargs(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _probe(self, port: int) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", "postgres",
             "-d", "postgres", "-t", "1"],
            env=_client_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0

    def _after_ready(self) -> None:
        """Create the ``tessera`` database if it does not exist yet."""
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'")
        if exists.strip() != "1":
            self._psql(f'CREATE DATABASE "{self.database}"')

    def _psql(self, sql: str) -> str:
        return self._run("psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(self.port),
                         "-U", "postgres", "-d", "postgres", "-c", sql)

    def _run(self, tool: str, *args: str, as_server: bool = False, capture: bool = True) -> str:
        """Run a Postgres tool to completion and return its stdout (or log it if not ``capture``).

        stderr goes to server.log; a failure raises ``EmbeddedServerError`` with the log's tail.
        """
        kwargs = self._spawn_kwargs() if as_server else {}
        with open(self.log_path, "ab") as log:
            result = subprocess.run([str(self.bin_dir / tool), *args], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if capture else log, stderr=log, cwd=self.data_dir,
                                    env=_client_env(), check=False, timeout=120, **kwargs)
        if result.returncode != 0:
            self.fail(f"{tool} failed with exit code {result.returncode}")
        return (result.stdout or b"").decode(errors="replace")
