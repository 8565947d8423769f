"""The embedded cluster's directories: ours are created for PostgreSQL's account, anyone else's are left alone.

When the tests run as root (as in containers and CI), PostgreSQL runs as the
``postgres`` (or ``nobody``) account, and these tests see what root would do to
the directories around a ``--data-dir``.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgcsms.proxy import cli, embedded

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as another account only when we are root")


def ownership(path: Path) -> tuple[int, int, int]:
    status = os.lstat(path)
    return status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory of root's (of ours when not root) that PostgreSQL's account may pass through, as /tmp.

    Not pytest's tmp_path: its /tmp/pytest-of-root is mode 0700, which that account cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix="pgcsms-embedded-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(120)
def test_a_data_dir_in_someone_elses_directory_leaves_it_alone_and_starts(base):
    before = ownership(base)
    cluster = embedded.EmbeddedPostgres(base / "pgdata")
    try:
        dsn = cluster.start()
        with psycopg.connect(dsn) as connection:
            assert connection.execute("SELECT current_setting('data_directory')").fetchone() == (
                str(base / "pgdata"),)
        assert ownership(base) == before
        # Nothing of the cluster's beside the data directory: its log is inside, its socket elsewhere.
        assert sorted(path.name for path in base.iterdir()) == ["pgdata"]
        assert cluster.log_file.parent == base / "pgdata"
        assert not cluster.socket_dir.is_relative_to(base)
        uid, _, mode = ownership(base / "pgdata")
        assert (uid, mode) == (os.getuid() if cluster._account is None else cluster._account.pw_uid, 0o700)
        # Another process (pgcsms rfid beside serve) finds the same socket.
        assert embedded.EmbeddedPostgres(base / "pgdata").socket_dir == cluster.socket_dir
    finally:
        cluster.stop()
    assert not cluster.running()
    assert ownership(base) == before
    assert not cluster.socket_dir.exists()  # nothing left behind in /tmp


@as_root
@pytest.mark.timeout(120)
def test_directories_pgcsms_creates_belong_to_the_cluster(base):
    before = ownership(base)
    cluster = embedded.EmbeddedPostgres(base / "pgcsms" / "pgdata")
    try:
        cluster.start()
        assert cluster._account is not None
        for created in (base / "pgcsms", base / "pgcsms" / "pgdata", base / "pgcsms" / "run"):
            assert ownership(created)[0::2] == (cluster._account.pw_uid, 0o700), created
        # In a directory of its own, the log and socket sit beside the data, as in /var/lib/pgcsms.
        assert cluster.socket_dir == base / "pgcsms" / "run"
        assert cluster.log_file == base / "pgcsms" / "postgresql.log" and cluster.log_file.is_file()
        assert ownership(base) == before
    finally:
        cluster.stop()


@as_root
def test_a_parent_the_cluster_cannot_enter_is_one_clear_line(base, capsys):
    locked = base / "locked"
    locked.mkdir(mode=0o700)
    before = ownership(locked)
    data_dir = locked / "deeper" / "pgdata"
    with pytest.raises(embedded.EmbeddedPostgresError) as caught:
        embedded.EmbeddedPostgres(data_dir).start()
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert f"cannot enter {locked} (owner root, mode 0700)" in message
    assert "choose a --data-dir" in message
    assert ownership(locked) == before and list(locked.iterdir()) == []

    assert cli.main(["migrate", "--data-dir", str(data_dir)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"cannot enter {locked}" in error


@as_root
def test_an_existing_data_dir_of_someone_else_is_not_taken_over(base):
    data_dir = base / "pgdata"
    data_dir.mkdir(mode=0o755)
    before = ownership(data_dir)
    with pytest.raises(embedded.EmbeddedPostgresError, match=r"belongs to root, but PostgreSQL runs as \w+: create it"):
        embedded.EmbeddedPostgres(data_dir).start()
    assert ownership(data_dir) == before and list(data_dir.iterdir()) == []


def test_a_socket_directory_someone_else_owns_or_may_write_is_refused(base):
    planted = base / "run"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    cluster = embedded.EmbeddedPostgres(base / "pgdata")
    with pytest.raises(embedded.EmbeddedPostgresError):
        cluster._prepare_directory(planted)
    assert ownership(planted)[2] == 0o777
