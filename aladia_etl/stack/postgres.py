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
from aladia_etl.stack.ownership import check_owned, is_owned, mark_owned, owner_ids, write_private
from aladia_etl.stack.probes import ComponentHealth, check_postgres
from aladia_etl.stack.secure import SecureFiles, is_secure

# Written to aladia.conf and included from postgresql.conf, so ALTER SYSTEM can still override it.
SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_connections": "100",
    "shared_buffers": "256MB",
    "wal_sender_timeout": "60s",
}
# The secured stack's files inside the cluster directory.
SERVER_CERT, SERVER_KEY, SECURE_HBA = "aladia-server.crt", "aladia-server.key", "aladia_hba.conf"
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
    def _run_as_user(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        user = self._user
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            # None: subprocess's defaults (the current user)
            user=user.pw_uid if user is not None else None,
            group=user.pw_gid if user is not None else None,
            extra_groups=[] if user is not None else None,
        )

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid, follow_symlinks=False)

    def _prepare_home(self) -> None:
        """The cluster's home, its socket and data directories, made safely. Under /var/tmp (a directory every local
        user can write to) the home must be new — created by root with mode 711, so that neither the server's
        account nor anyone else can put a link in it — or, if it exists, a real directory of root's (or, made by an
        older release, of the server's account, then taken back), closed to writes by others, with aladia's marker
        for this data directory; anything else is refused and left alone. The server's account owns only `data`
        and `run` inside it."""
        home = self.home
        if self.home_is_shared:
            try:
                os.mkdir(home, 0o711 if self._user is not None else 0o700)
            except FileExistsError:
                self._check_shared_home()
            else:
                self._mark_home()
        else:
            home.mkdir(parents=True, exist_ok=True)
            _refuse_link(home)
            home.chmod(0o700)
            self._chown(home)
        for directory in (self.socket_dir, self.cluster_dir):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                _refuse_link(directory)
            else:
                self._chown(directory)
        os.chmod(self.socket_dir, 0o700, follow_symlinks=False)
        self._chown(self.socket_dir)

    def _check_shared_home(self) -> None:
        home = self.home
        info = os.lstat(home)
        server = self._user.pw_uid if self._user else os.geteuid()
        problem = None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            problem = "is not a directory (a symbolic link?)"
        elif info.st_uid not in (os.geteuid(), server):
            problem = f"belongs to uid {info.st_uid}, neither aladia's nor the server's account"
        elif info.st_mode & 0o022:
            problem = f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
        elif not is_owned(home, HOME_KIND, {"data_dir": str(self.settings.data_dir)}):
            problem = "has no marker of aladia's for this data directory"
        if problem:
            raise ComponentFailed(
                f"refusing to use {home} for the PostgreSQL cluster: it exists and {problem}; nothing was changed",
                f"remove it if it is yours to remove (rm -rf {home}), or set ALADIA_DATA_DIR to a directory the "
                "server's account can reach",
            )
        if info.st_uid != os.geteuid():  # an older release's home, owned by the server's account: taken back
            os.chown(home, os.geteuid(), os.getegid(), follow_symlinks=False)
            os.chmod(home, 0o711, follow_symlinks=False)

    def initialize(self, bin_dir: Path) -> None:
        self._prepare_home()
        pwfile = self.home / ".pwfile"
        # a secured stack's superuser gets its generated password, whatever the client settings say
        password = (
            SecureFiles.of(self.settings).secret("postgres")
            if is_secure(self.settings)
            else self.settings.postgres.password.get_secret_value()
        )
        write_private(pwfile, password + "\n", self._ids())
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
        self._write_secure_files()
        write_private(self.cluster_dir / "aladia.conf", self._config_text(), self._ids(), mode=0o600)
        fd = os.open(self.cluster_dir / "postgresql.conf", os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        with os.fdopen(fd, "a") as fh:
            fh.write("\ninclude_if_exists = 'aladia.conf'\n")

    def _ids(self) -> tuple[int, int] | None:
        return (self._user.pw_uid, self._user.pw_gid) if self._user is not None else None

    def _config_text(self) -> str:
        pg = self.settings.postgres
        values: dict[str, object] = {
            "listen_addresses": pg.host,
            "port": pg.port,
            "unix_socket_directories": self.socket_dir,
            **self.server_settings,
        }
        if is_secure(self.settings):
            values |= {
                "ssl": "on",
                "ssl_cert_file": self.cluster_dir / SERVER_CERT,
                "ssl_key_file": self.cluster_dir / SERVER_KEY,
                "hba_file": self.cluster_dir / SECURE_HBA,
                "password_encryption": "scram-sha-256",
            }
        return "".join(f"{key} = {_conf_quoted(value)}\n" for key, value in values.items())

    def _write_secure_files(self) -> None:
        """The secured stack: the server's certificate and key (owned by its account, as PostgreSQL requires) and an
        access list that takes only TLS connections with SCRAM passwords (the local socket stays trusted)."""
        if not is_secure(self.settings):
            return
        files = SecureFiles.of(self.settings)
        write_private(self.cluster_dir / SERVER_CERT, files.postgres_cert.read_text(), self._ids(), mode=0o644)
        write_private(self.cluster_dir / SERVER_KEY, files.postgres_key.read_text(), self._ids(), mode=0o600)
        hba = [
            "# aladia's secured stack: TLS only, SCRAM passwords",
            "local all all trust",
            "hostssl all all samehost scram-sha-256",
            "hostssl replication all samehost scram-sha-256",
        ]
        write_private(self.cluster_dir / SECURE_HBA, "\n".join(hba) + "\n", self._ids(), mode=0o600)

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
            self._prepare_home()  # an existing home is used only once it is proven aladia's
            # Port and addresses follow the current settings.
            self._write_secure_files()
            write_private(self.cluster_dir / "aladia.conf", self._config_text(), self._ids(), mode=0o600)
        self._remove_stale_pid_file()
        return self.process.start([str(bin_dir / "postgres"), "-D", str(self.cluster_dir)], user=self._user)

    def _remove_stale_pid_file(self) -> None:
        """A postmaster.pid left by a killed server blocks the start (its pid may now be another process's). It is
        removed only when no PostgreSQL server holds it: the pid it names is gone, or that process does not run in
        this cluster directory; a live postmaster of this cluster is never disowned."""
        pid_file = self.cluster_dir / "postmaster.pid"
        if not pid_file.exists() or self.process.is_running():
            return
        holder = postmaster_of(pid_file, self.cluster_dir)
        if holder is not None:
            raise ComponentFailed(
                f"a PostgreSQL server (pid {holder}) already runs on {self.cluster_dir} but aladia did not start it",
                f"stop it (pg_ctl -D {self.cluster_dir} stop) or point aladia at it, then run 'aladia up' again",
            )
        pid_file.unlink()

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


def _refuse_link(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        raise ComponentFailed(
            f"refusing to use {path} for the PostgreSQL cluster: it is a symbolic link or not a directory; nothing "
            "was changed",
            f"remove it if it is yours to remove (rm {path})",
        )


def postmaster_of(pid_file: Path, cluster_dir: Path) -> int | None:
    """The pid of a live process that holds `pid_file`: the pid it names, still running, in `cluster_dir` (a
    postmaster's working directory is its data directory). None when the file is stale."""
    try:
        pid = int(pid_file.read_text().splitlines()[0].strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        # gone, or another user's process: the cluster's postmaster runs as aladia's own account, or aladia is
        # root and may read any process's directory
        return None
    try:
        return pid if cwd.resolve() == cluster_dir.resolve() else None
    except OSError:
        return None


def _conf_quoted(value: object) -> str:
    """A postgresql.conf value: quoted, with its quotes doubled and backslashes escaped (any path is safe)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"
