"""A private PostgreSQL cluster that pgcsms creates and runs itself.

``pgcsms serve`` without a DSN uses one: the machine's PostgreSQL server
binaries, a data directory of our own, a Unix socket only (no TCP), and trust
authentication that only the owner of the socket directory can reach.

PostgreSQL refuses to run as root, and containers often start us as root, so
when we are root the cluster belongs to an unprivileged account (``postgres``
when the machine has one, else ``nobody``) and its commands run as that user.

Directories we create are that account's, mode 0700. One we did not create
(``/tmp`` for ``--data-dir /tmp/pgdata``) is never chowned or chmodded: the
log file and the socket directory then go elsewhere, and a path the account
cannot reach is refused in one line that says what to do.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "default_data_dir", "find_pg_bin"]

DATABASE = "pgcsms"
SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (pg_ctl, initdb) not found: install them "
    "(Debian/Ubuntu: apt-get install -y postgresql) or pass --dsn to use an existing server"
)


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster could not be created, started or stopped."""


def find_pg_bin() -> Path | None:
    """Return the directory holding ``pg_ctl`` and ``initdb``, newest version first."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates.extend(Path(p) for p in reversed(versions))
    for directory in candidates:
        if (directory / "pg_ctl").is_file() and (directory / "initdb").is_file():
            return directory
    return None


def default_data_dir() -> Path:
    """Where the embedded cluster lives unless ``--data-dir`` says otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/pgcsms/pgdata")
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "pgcsms" / "pgdata"


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise EmbeddedPostgresError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL as")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class EmbeddedPostgres:
    """A PostgreSQL cluster under ``data_dir``, reachable only through a Unix socket.

    ``start()`` initialises the cluster on first use and returns a DSN;
    ``stop()`` shuts it down if this object started it.
    """

    __slots__ = ("_account", "_bin", "_started_here", "_uid", "data_dir", "log_file", "socket_dir")

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = Path(data_dir or default_data_dir()).absolute()
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise EmbeddedPostgresError(INSTALL_HINT)
        self._bin = bin_dir
        self._account = _unprivileged_account() if os.geteuid() == 0 else None
        self._uid = self._account.pw_uid if self._account is not None else os.geteuid()
        # The log and the socket directory live beside the data directory when
        # its parent is the cluster's (we create it, or made it on an earlier
        # run); in anyone else's (/tmp), never: the log goes inside, the socket
        # into a private directory. Decided the same way before and after the
        # first start, so every process finds the same socket.
        home = self.data_dir.parent if self._ours(self.data_dir.parent) else None
        self.socket_dir = self._pick_socket_dir(home)
        self.log_file = (home or self.data_dir) / "postgresql.log"
        self._started_here = False

    def _ours(self, path: Path) -> bool:
        """Whether ``path`` is missing (we will create it) or a directory of the account PostgreSQL runs as."""
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            return True
        return stat.S_ISDIR(status.st_mode) and status.st_uid == self._uid

    def _pick_socket_dir(self, home: Path | None) -> Path:
        # A Unix socket path is limited to 107 bytes; deep data directories
        # fall back to a short private directory.
        preferred = home / "run" if home is not None else None
        if preferred is not None and len(str(preferred / ".s.PGSQL.5432")) < 100:
            return preferred
        # The same directory in every process (str hashes are salted per process).
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"pgcsms-{os.getuid()}-{digest}"

    @property
    def dsn(self) -> str:
        host = urllib.parse.quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={host}"

    def psql_command(self) -> str:
        """The exact command a person types to open this database."""
        return f"psql -h {self.socket_dir} -U {SUPERUSER} {DATABASE}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / args[0]), *args[1:]]
        if self._account is not None:
            command = ["runuser", "-u", self._account.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise EmbeddedPostgresError(f"{args[0]} failed: {detail[-1] if detail else result.returncode}")
        return result

    def _prepare_directory(self, path: Path) -> None:
        """Create ``path`` and its missing parents for the cluster's account, mode 0700; or check the existing one.

        Only a directory created here is chowned and chmodded. An existing one
        must already be the account's and a real directory: in a shared /tmp
        someone may have planted a link or a directory of their own.
        """
        missing: list[Path] = []
        candidate = path
        while not os.path.lexists(candidate):
            missing.append(candidate)
            candidate = candidate.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue  # made meanwhile by someone else: checked below like any existing one
            # Through a descriptor: the name cannot be swapped for a link in between.
            descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                if self._account is not None:
                    os.fchown(descriptor, self._account.pw_uid, self._account.pw_gid)
                os.fchmod(descriptor, 0o700)
            finally:
                os.close(descriptor)
        status = os.lstat(path)
        if stat.S_ISLNK(status.st_mode) or not stat.S_ISDIR(status.st_mode):
            raise EmbeddedPostgresError(f"{path} is not a directory of ours (a symbolic link?): remove it")
        if status.st_uid != self._uid:
            name = _user_name(self._uid)
            raise EmbeddedPostgresError(
                f"{path} belongs to {_user_name(status.st_uid)}, but PostgreSQL runs as {name}: "
                f"create it owned by {name} (chown {name}: {path}) or choose another --data-dir")
        if status.st_mode & 0o022:
            raise EmbeddedPostgresError(f"{path} is writable by others: chmod 0700 {path} or remove it")

    def _check_reachable(self, path: Path) -> None:
        """Refuse, in one line, a path whose parents the cluster's account cannot pass (one of root's, mode 0700).

        The path itself, if it exists, must be the account's: _prepare_directory says so.
        """
        if self._account is None:
            return  # we are that account: a denied mkdir says it plainly
        existing = path.parent
        while not os.path.lexists(existing):
            existing = existing.parent
        if self._can_enter(existing):
            return
        blocked = next((d for d in [*reversed(existing.parents), existing] if not self._can_enter(d)), existing)
        status = blocked.stat()
        name = self._account.pw_name
        raise EmbeddedPostgresError(
            f"PostgreSQL runs as {name}, which cannot enter {blocked} (owner {_user_name(status.st_uid)}, "
            f"mode {stat.S_IMODE(status.st_mode):04o}): choose a --data-dir the {name} account can reach, "
            f"e.g. the default {default_data_dir()}")

    def _can_enter(self, directory: Path) -> bool:
        assert self._account is not None
        # The kernel's answer for that account (ACLs, groups included), not a guess from mode bits.
        return subprocess.run(["runuser", "-u", self._account.pw_name, "--", "test", "-x", str(directory)],
                              capture_output=True, cwd="/").returncode == 0

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def init(self) -> None:
        self._prepare_directory(self.data_dir)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
            "--locale=C", "--auth-local=trust", "--auth-host=reject", "--no-instructions",
        )
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": "0700",
            "timezone": "'UTC'",
            "max_connections": "200",
            "shared_buffers": "'128MB'",
        }
        with open(self.data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> str:
        """Create the cluster if needed, start it unless running, and return its DSN."""
        self._check_reachable(self.data_dir)
        if not self.initialised():
            self.init()
        self._check_reachable(self.socket_dir)
        self._prepare_directory(self.socket_dir)
        if not self.running():
            # pg_ctl, as the cluster's account, creates the log in a directory of that account.
            self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", f"-c unix_socket_directories='{self.socket_dir}' -c listen_addresses=''",
            )
            self._started_here = True
        result = self._run("psql", "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", "postgres",
                           "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if result.stdout.strip() != "1":
            self._run("createdb", "-h", str(self.socket_dir), "-U", SUPERUSER, DATABASE)
        return self.dsn

    def stop(self) -> None:
        """Stop the cluster if this object started it and nobody else uses it (a fast, clean shutdown).

        Another pgcsms process (``serve`` beside ``rfid``) may still be
        connected: then the cluster stays up for it.
        """
        if not self._started_here:
            return
        self._started_here = False
        others = self._run("psql", "-h", str(self.socket_dir), "-U", SUPERUSER, "-d", "postgres", "-Atc",
                           "SELECT count(*) FROM pg_stat_activity "
                           "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()", check=False)
        if others.returncode == 0 and others.stdout.strip() not in ("", "0"):
            print(f"pgcsms: embedded PostgreSQL left running: {others.stdout.strip()} other clients connected",
                  file=sys.stderr)
            return
        stopped = self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir), check=False)
        if stopped.returncode == 0 and not self.socket_dir.is_relative_to(self.data_dir.parent):
            # The private socket directory in /tmp is left empty: tidy it away (a failure is harmless).
            with contextlib.suppress(OSError):
                self.socket_dir.rmdir()
