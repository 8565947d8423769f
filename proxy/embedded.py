"""A private PostgreSQL cluster that pgcsms creates and runs itself.

``pgcsms serve`` without a DSN uses one: the machine's PostgreSQL server
binaries, a data directory of our own, a Unix socket only (no TCP), and trust
authentication that only the owner of the socket directory can reach.

PostgreSQL refuses to run as root, and containers often start us as root, so
when we are root the cluster belongs to an unprivileged account (``postgres``
when the machine has one, else ``nobody``) and its commands run as that user.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
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


class EmbeddedPostgres:
    """A PostgreSQL cluster under ``data_dir``, reachable only through a Unix socket.

    ``start()`` initialises the cluster on first use and returns a DSN;
    ``stop()`` shuts it down if this object started it.
    """

    __slots__ = ("_account", "_bin", "_started_here", "data_dir", "log_file", "socket_dir")

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = Path(data_dir or default_data_dir()).absolute()
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise EmbeddedPostgresError(INSTALL_HINT)
        self._bin = bin_dir
        self._account = _unprivileged_account() if os.geteuid() == 0 else None
        self.socket_dir = self._pick_socket_dir()
        self.log_file = self.data_dir.parent / "postgresql.log"
        self._started_here = False

    def _pick_socket_dir(self) -> Path:
        # A Unix socket path is limited to 107 bytes; deep data directories
        # fall back to a short private directory.
        preferred = self.data_dir.parent / "run"
        if len(str(preferred / ".s.PGSQL.5432")) < 100:
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
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        # In a shared /tmp someone may have planted a link: never chown through one.
        if path.is_symlink() or not path.is_dir():
            raise EmbeddedPostgresError(f"{path} is not a directory of ours (a symbolic link?)")
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)
        os.chmod(path, 0o700)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def init(self) -> None:
        self._prepare_directory(self.data_dir.parent)
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
        if not self.initialised():
            self.init()
        self._prepare_directory(self.socket_dir)
        if not self.running():
            if self._account is not None and not self.log_file.exists():
                self.log_file.touch()
                os.chown(self.log_file, self._account.pw_uid, self._account.pw_gid)
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
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir), check=False)
