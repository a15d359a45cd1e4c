"""The PostgreSQL cluster's home under /var/tmp (root with a private data directory) is made new and private, never
through a link; an existing one is used only when it is proven aladia's. A postmaster.pid is removed only when no
server holds it."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess

import pytest

from aladia_etl.core.errors import AladiaError
from aladia_etl.stack import postgres
from aladia_etl.stack.ownership import OWNED_MARKER, is_owned, mark_owned, write_private
from aladia_etl.stack.postgres import LocalPostgres, postmaster_of


@pytest.fixture
def shared_pg(settings, monkeypatch) -> LocalPostgres:
    """A LocalPostgres whose account cannot reach the data directory: its home goes to the (fake) /var/tmp."""
    monkeypatch.setattr(postgres, "_traversable_by", lambda path, user: False)
    pg = LocalPostgres(settings)
    pg._user = pwd.getpwuid(os.geteuid())  # the test's own account stands in for the server's
    assert pg.home_is_shared
    return pg


def test_a_new_home_is_created_closed_and_marked(shared_pg):
    """Root's own directory (mode 711: the server's account may pass through, nobody may put anything in it); the
    server's account owns only `data` and `run`, private."""
    shared_pg._prepare_home()
    info = os.lstat(shared_pg.home)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o711 and info.st_uid == os.geteuid()
    for inside in (shared_pg.socket_dir, shared_pg.cluster_dir):
        assert stat.S_IMODE(os.lstat(inside).st_mode) == 0o700
    assert is_owned(shared_pg.home, postgres.HOME_KIND, {"data_dir": str(shared_pg.settings.data_dir)})
    shared_pg._prepare_home()  # its own home is accepted the next time


def test_a_planted_home_with_a_run_link_is_refused_and_the_link_target_untouched(shared_pg, tmp_path):
    """Seen: a directory planted under /var/tmp with a `run` symlink made `aladia up` change the link target's owner
    and mode."""
    target = tmp_path / "precious"
    target.mkdir(mode=0o755)
    before = os.stat(target)
    shared_pg.home.mkdir(mode=0o700)
    (shared_pg.home / "run").symlink_to(target)
    with pytest.raises(AladiaError, match="refusing to use") as info:
        shared_pg._prepare_home()
    assert "\n" not in str(info.value) and "rm -rf" in str(info.value)
    after = os.stat(target)
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (
        before.st_uid,
        before.st_gid,
        stat.S_IMODE(before.st_mode),
    )


@pytest.mark.parametrize("how", ["a symbolic link", "open to others", "marked for another data dir", "a file"])
def test_an_existing_home_that_is_not_provably_aladias_is_refused(shared_pg, tmp_path, how):
    home = shared_pg.home
    if how == "a symbolic link":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        mark_owned(elsewhere, postgres.HOME_KIND, data_dir=str(shared_pg.settings.data_dir))
        home.symlink_to(elsewhere)
    elif how == "open to others":
        home.mkdir()
        home.chmod(0o777)
        mark_owned(home, postgres.HOME_KIND, data_dir=str(shared_pg.settings.data_dir))
    elif how == "marked for another data dir":
        home.mkdir(mode=0o700)
        mark_owned(home, postgres.HOME_KIND, data_dir="/somewhere/else")
    else:
        home.write_text("not a directory")
    with pytest.raises(AladiaError, match="refusing to use"):
        shared_pg._prepare_home()
    assert not (tmp_path / "elsewhere" / "run").exists()


def test_an_unmarked_existing_home_is_not_marked(shared_pg):
    shared_pg.home.mkdir(mode=0o700)
    with pytest.raises(AladiaError):
        shared_pg._prepare_home()
    assert not (shared_pg.home / OWNED_MARKER).exists()


def test_write_private_replaces_a_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "aladia.conf"
    link.symlink_to(victim)
    write_private(link, "port = 1\n")
    assert victim.read_text() == "keep"
    assert not link.is_symlink() and link.read_text() == "port = 1\n"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600


def test_a_pid_file_held_by_a_live_process_in_the_cluster_is_never_removed(settings, tmp_path, guard):
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    proc = subprocess.Popen(["sleep", "60"], cwd=cluster)
    guard.allow(proc.pid)
    try:
        pid_file = cluster / "postmaster.pid"
        pid_file.write_text(f"{proc.pid}\n{cluster}\n")
        assert postmaster_of(pid_file, cluster) == proc.pid
        pg = LocalPostgres(settings)
        pg.home.mkdir(parents=True)
        os.symlink(cluster, pg.cluster_dir)
        with pytest.raises(AladiaError, match="already runs"):
            pg._remove_stale_pid_file()
        assert pid_file.exists()
    finally:
        proc.kill()
        proc.wait()


def test_a_stale_pid_file_is_removed(settings, tmp_path, guard):
    other = subprocess.Popen(["sleep", "60"], cwd=tmp_path)  # a live pid, but not in the cluster directory
    guard.allow(other.pid)
    try:
        pg = LocalPostgres(settings)
        pg.cluster_dir.mkdir(parents=True)
        pid_file = pg.cluster_dir / "postmaster.pid"
        for pid in (other.pid, 2**22 + 12345, 1):  # reused by another process; gone; not ours to inspect
            pid_file.write_text(f"{pid}\n")
            assert postmaster_of(pid_file, pg.cluster_dir) is None
            pg._remove_stale_pid_file()
            assert not pid_file.exists()
    finally:
        other.kill()
        other.wait()
