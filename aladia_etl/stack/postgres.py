"""A local PostgreSQL cluster with logical decoding enabled, run as an unprivileged user when aladia is root."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from aladia_etl.core.errors import ComponentFailed, MissingDependency
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.stack.binaries import find_pg_bin_dir
from aladia_etl.stack.component import LocalComponent
from aladia_etl.stack.ownership import check_owned, mark_owned, owner_ids
from aladia_etl.stack.probes import ComponentHealth, check_postgres

# Written to aladia.conf and included from postgresql.conf, so ALTER SYSTEM can still override it.
SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_connections": "100",
    "shared_buffers": "256MB",
    "wal_sender_timeout": "60s",
}
# Where the cluster goes when the server's account cannot reach the data directory (root with a private home).
SHARED_TMP = Path("/var/tmp")
HOME_KIND = "postgres-home"


def _is_root() -> bool:
    return os.geteuid() == 0


def _service_user(configured: str | None) -> pwd.struct_passwd:
    names = [configured] if configured else ["postgres", "nobody"]
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise MissingDependency(
        f"no unprivileged account ({', '.join(names)}) to run PostgreSQL as (it refuses to run as root)",
        "create one (e.g. 'useradd -r postgres') or set ALADIA_POSTGRES__OS_USER",
    )


def _traversable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` can reach `path` (search permission on every existing ancestor)."""
    for ancestor in [*reversed(path.parents)]:
        try:
            st = ancestor.stat()
        except FileNotFoundError:
            return True
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


class LocalPostgres(LocalComponent):
    name = "postgres"
    label = "PostgreSQL"

    def __init__(
        self, settings: Settings, reporter: Reporter = SILENT, server_settings: dict[str, str] | None = None
    ) -> None:
        super().__init__(settings, reporter)
        self.server_settings = {**SERVER_SETTINGS, **(server_settings or {})}
        self._user = _service_user(settings.postgres.os_user) if _is_root() else None

    # -- layout --------------------------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """Directory of the cluster and its socket. Under the data directory when the server's user can
        reach it; otherwise (root with a private home) under /var/tmp, keyed by the data directory."""
        preferred = self.settings.data_dir / "postgres"
        if self._user is None or _traversable_by(preferred, self._user):
            return preferred
        key = hashlib.sha256(str(self.settings.data_dir).encode()).hexdigest()[:12]
        return SHARED_TMP / f"aladia-postgres-{key}"

    @property
    def home_is_shared(self) -> bool:
        """Whether the cluster lives outside the data directory (then under its own marker)."""
        return self.home.parent != self.settings.data_dir

    @property
    def cluster_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    def is_initialized(self) -> bool:
        return (self.cluster_dir / "PG_VERSION").is_file()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def _run_as_user(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        extra = {}
        if self._user is not None:
            extra = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(argv, capture_output=True, text=True, **extra, **kwargs)

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def initialize(self, bin_dir: Path) -> None:
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (home, self.socket_dir):
            path.chmod(0o700)
            self._chown(path)
        self._mark_home()
        pwfile = home / ".pwfile"
        pwfile.write_text(self.settings.postgres.password.get_secret_value() + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            result = self._run_as_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.cluster_dir),
                    "-U",
                    self.settings.postgres.user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-instructions",
                ],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)
            raise ComponentFailed(
                "initdb failed for the local PostgreSQL cluster",
                f"see the output below; the cluster directory was {self.cluster_dir}",
                detail=(result.stdout + result.stderr).strip()[-2000:],
            )
        conf = self.cluster_dir / "aladia.conf"
        conf.write_text(self._config_text())
        self._chown(conf)
        with open(self.cluster_dir / "postgresql.conf", "a") as fh:
            fh.write("\ninclude_if_exists = 'aladia.conf'\n")

    def _config_text(self) -> str:
        pg = self.settings.postgres
        lines = [
            f"listen_addresses = '{pg.host}'",
            f"port = {pg.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
        ]
        lines += [f"{key} = '{value}'" for key, value in self.server_settings.items()]
        return "\n".join(lines) + "\n"

    def _mark_home(self) -> None:
        if self.home_is_shared:
            mark_owned(self.home, HOME_KIND, data_dir=str(self.settings.data_dir))

    def check_purge(self) -> None:
        if self.home_is_shared:
            check_owned(
                self.home,
                HOME_KIND,
                {"data_dir": str(self.settings.data_dir)},
                owner_ids(self._user.pw_uid if self._user else None),
            )
        else:
            super().check_purge()

    def start(self) -> int:
        bin_dir = find_pg_bin_dir(self.settings.postgres.bin_dir)
        self.claim_data_dir()
        if not self.is_initialized():
            self.reporter.info(f"initdb: creating a PostgreSQL cluster in {self.cluster_dir}")
            self.initialize(bin_dir)
        else:
            self._mark_home()  # a cluster an older release created: in use by aladia, so marked as its own
            # Port and addresses follow the current settings.
            (self.cluster_dir / "aladia.conf").write_text(self._config_text())
        # A stale postmaster.pid from a killed server blocks the start.
        stale = self.cluster_dir / "postmaster.pid"
        if stale.exists() and not self.process.is_running():
            stale.unlink()
        return self.process.start([str(bin_dir / "postgres"), "-D", str(self.cluster_dir)], user=self._user)

    def health(self) -> ComponentHealth:
        return check_postgres(self.settings)

    def wait_ready(self, timeout: float = 60) -> None:
        import psycopg

        from aladia_etl.core.errors import ServiceUnavailable
        from aladia_etl.stack.connections import connect

        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise self.failure("exited during start-up")
            try:
                with connect(self.settings, "postgres", connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except (psycopg.Error, ServiceUnavailable) as exc:
                last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            time.sleep(0.2)
        raise self.failure(f"did not accept connections within {timeout:.0f} s ({last})")

    def ensure_databases(self) -> list[str]:
        from psycopg import sql

        from aladia_etl.stack.connections import connect

        pg = self.settings.postgres
        created = []
        with connect(self.settings, "postgres", autocommit=True) as conn:
            existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            for db in (pg.source_db, pg.warehouse_db):
                if db not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
                    created.append(db)
        return created

    def stop(self, timeout: float = 30) -> bool:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        return self.process.stop(timeout=timeout, first_signal=signal.SIGINT)

    def restart(self, timeout: float = 60) -> None:
        self.stop()
        self.start()
        self.wait_ready(timeout)
