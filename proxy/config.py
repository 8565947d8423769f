"""Settings of ``pgcsms serve``, ``migrate`` and ``rfid``: defaults, a TOML file, the environment, flags.

Every setting has one name in the file (``listen`` in ``[serve]``), one
environment variable (``PGCSMS_LISTEN``) and at most one flag (``--listen``).
A flag wins over the environment, the environment over the file, the file over
the default. The file is ``--config FILE`` or ``PGCSMS_CONFIG``; without either
there is none. ``pgcsms config`` prints the outcome, secrets masked, with where
each value came from.

Mistakes are :class:`ConfigError`, one line that names the setting, the
variable or the file: an unknown key, a value of the wrong kind, a file that is
not TOML. An empty environment variable counts as unset (``PGCSMS_DSN=`` in an
environment file).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .limits import Limits

__all__ = [
    "CONFIG_ENV",
    "SETTINGS",
    "SETTINGS_BY_KEY",
    "Config",
    "ConfigError",
    "Kind",
    "Setting",
    "add_flags",
    "limits",
    "load",
    "mask_dsn",
]

CONFIG_ENV = "PGCSMS_CONFIG"


class ConfigError(ValueError):
    """A setting, variable or file that cannot be used; the message is one line naming it."""


# -- kinds of values ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kind:
    """How a setting's value is read: from a TOML value, or from text (the environment, a flag)."""

    describe: str                                   # "a whole number", for messages
    from_text: Callable[[str], Any]                 # raises ValueError
    from_toml: Callable[[object], Any]              # raises ValueError
    to_toml: Callable[[Any], str] = json.dumps      # how ``pgcsms config`` prints it


def _integer(low: int, high: int | None = None) -> Kind:
    def check(value: int) -> int:
        if value < low or (high is not None and value > high):
            raise ValueError
        return value

    def from_toml(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return check(value)

    bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
    return Kind(f"a whole number {bounds}", lambda text: check(int(text.strip())), from_toml, str)


def _number(low: float, *, above: bool = False) -> Kind:
    def check(value: float) -> float:
        if value != value or value < low or (above and value == low) or value == float("inf"):
            raise ValueError
        return value

    def from_toml(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        return check(float(value))

    bound = f"above {low:g}" if above else f"at least {low:g}"
    return Kind(f"a number {bound}", lambda text: check(float(text.strip())), from_toml, lambda v: f"{v:g}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _boolean_text(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError


def _boolean_toml(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


BOOLEAN = Kind("true or false", _boolean_text, _boolean_toml, lambda v: "true" if v else "false")


def _text_toml(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


def _text_text(text: str) -> str:
    if not text:
        raise ValueError
    return text


TEXT = Kind("a non-empty string", _text_text, _text_toml)


def _choice(*options: str, fold: Callable[[str], str] = str) -> Kind:
    def pick(text: str) -> str:
        value = fold(text.strip())
        if value not in options:
            raise ValueError
        return value

    return Kind(f"one of {', '.join(options)}", pick, lambda value: pick(_text_toml(value)))


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (``[::1]:9000`` for IPv6) as (host, port); an empty host is 127.0.0.1."""
    host, separator, port = text.strip().rpartition(":")
    if not separator or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError
    return host.strip("[]") or "127.0.0.1", int(port)


def _format_address(address: tuple[str, int]) -> str:
    host, port = address
    return json.dumps(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


ADDRESS = Kind("HOST:PORT", parse_address, lambda value: parse_address(_text_toml(value)), _format_address)


def _paths_toml(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError
    return tuple(value)


def _paths_text(text: str) -> tuple[str, ...]:
    paths = tuple(part.strip() for part in text.split(",") if part.strip())
    if not paths:
        raise ValueError
    return paths


PATHS = Kind("a list of file names (in the environment: separated by commas)", _paths_text, _paths_toml,
             lambda v: json.dumps(list(v)))

_LIMITS = Limits()
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


# -- the settings -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its key in the file (``table.name``, or ``name`` at the top), variable and flag."""

    key: str
    kind: Kind
    default: Any
    help: str
    env: str
    flag: str | None = None
    # For a boolean whose flag turns it off (--no-migrate): the value the flag stands for.
    flag_value: Any = None
    # The flag's own help, when the setting's reads wrong for it (--no-migrate).
    flag_help: str | None = None
    metavar: str | None = None
    # SIGHUP applies a new value to a running ``pgcsms serve``.
    reloadable: bool = False
    # The value may hold a password: shown through mask_dsn.
    secret: bool = False

    @property
    def dest(self) -> str:
        """Its attribute in an argparse namespace."""
        return "setting_" + self.key.replace(".", "_")

    @property
    def table(self) -> str:
        return self.key.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.key.rpartition(".")[2]


def _setting(key: str, kind: Kind, default: Any, help: str, env: str, flag: str | None = None,
             **more: Any) -> Setting:
    return Setting(key, kind, default, help, env, flag, **more)


SETTINGS: tuple[Setting, ...] = (
    # Everywhere
    _setting("dsn", TEXT, None, "PostgreSQL connection URI; unset: the embedded cluster",
             "PGCSMS_DSN", "--dsn", secret=True),
    _setting("data_dir", TEXT, None, "data directory of the embedded cluster (unset: ~/.local/share/pgcsms/"
             "pgdata, or /var/lib/pgcsms/pgdata for root)", "PGCSMS_DATA_DIR", "--data-dir",
             metavar="DIR"),
    _setting("migrate", BOOLEAN, True, "serve and rfid migrate first; false for a role that may not",
             "PGCSMS_MIGRATE", "--no-migrate", flag_value=False,
             flag_help="do not migrate first (when running as a role that may not)"),
    _setting("log_level", _choice(*LOG_LEVELS, fold=str.upper), "INFO", "DEBUG, INFO, WARNING or ERROR",
             "PGCSMS_LOG_LEVEL", "--log-level", reloadable=True, metavar="LEVEL"),
    _setting("log_format", _choice(*LOG_FORMATS, fold=str.lower), "text",
             "text, or json: one object a line (time, level, logger, message, charge_point_id)",
             "PGCSMS_LOG_FORMAT", "--log-format", metavar="text|json"),
    # pgcsms serve
    _setting("serve.listen", ADDRESS, ("127.0.0.1", 9000), "OCPP-J WebSocket address",
             "PGCSMS_LISTEN", "--listen"),
    _setting("serve.node_id", TEXT, None, "name of this process among several sharing a database "
             "(unset: HOSTNAME:PORT)", "PGCSMS_NODE_ID", "--node-id"),
    _setting("serve.pool_size", _integer(1, 10_000), 10, "database connections at most",
             "PGCSMS_POOL_SIZE", "--pool-size"),
    _setting("serve.parse_concurrency", _integer(1, 10_000), None, "ocpp.parse round trips at once; more "
             "CALLs share a round trip and a commit (unset: CPU cores, at most pool size - 2)",
             "PGCSMS_PARSE_CONCURRENCY", "--parse-concurrency"),
    _setting("serve.workers", _integer(1, 256), 1, "serving processes on the one port (SO_REUSEPORT; Linux), "
             "each a proxy of its own with node id NODE_ID/N; 1: this process serves", "PGCSMS_WORKERS",
             "--workers"),
    _setting("serve.health", ADDRESS, None, "serve /health and /metrics over HTTP here (unset: off)",
             "PGCSMS_HEALTH", "--health"),
    _setting("serve.compression", BOOLEAN, True, "accept permessage-deflate when a charger offers it",
             "PGCSMS_COMPRESSION", "--no-compression", flag_value=False,
             flag_help="refuse permessage-deflate even when a charger offers it"),
    _setting("serve.shutdown_timeout", _number(0), 10.0, "seconds SIGTERM gives the CALLs under way before "
             "chargers are closed with 1001", "PGCSMS_SHUTDOWN_TIMEOUT", "--shutdown-timeout"),
    # TLS (OCPP security profiles 2 and 3)
    _setting("tls.cert", PATHS, (), "server certificate chains (PEM): serves wss://; two (ECDSA and RSA), "
             "each with the key in the same position, serve both", "PGCSMS_TLS_CERT", "--tls-cert"),
    _setting("tls.key", PATHS, (), "private keys (PEM) of the certificates, in the same order",
             "PGCSMS_TLS_KEY", "--tls-key"),
    _setting("tls.client_ca", TEXT, None, "CA that client certificates must chain to (profile 3)",
             "PGCSMS_TLS_CLIENT_CA", "--tls-client-ca", metavar="FILE"),
    # Limits (per charger, per source address)
    _setting("limits.max_frame_bytes", _integer(1024), _LIMITS.max_frame_bytes,
             "larger frames close the connection with 1009 (changes at the next start)",
             "PGCSMS_MAX_FRAME_BYTES", "--max-frame-bytes"),
    _setting("limits.max_nesting", _integer(1), _LIMITS.max_nesting, "deeper JSON gets FormationViolation",
             "PGCSMS_MAX_NESTING", "--max-nesting", reloadable=True),
    _setting("limits.messages_per_second", _number(0, above=True), _LIMITS.messages_per_second,
             "per charger, sustained; past the burst the connection is closed with 1008",
             "PGCSMS_MESSAGES_PER_SECOND", "--messages-per-second", reloadable=True),
    _setting("limits.message_burst", _integer(1), _LIMITS.message_burst, "messages a charger may send at once",
             "PGCSMS_MESSAGE_BURST", "--message-burst", reloadable=True),
    _setting("limits.handshakes_per_second", _number(0, above=True), _LIMITS.handshakes_per_second,
             "per source address; past the burst HTTP 429",
             "PGCSMS_HANDSHAKES_PER_SECOND", "--handshakes-per-second", reloadable=True),
    _setting("limits.handshake_burst", _integer(1), _LIMITS.handshake_burst,
             "handshakes a source address may start at once",
             "PGCSMS_HANDSHAKE_BURST", "--handshake-burst", reloadable=True),
    _setting("limits.handshake_timeout", _number(0, above=True), _LIMITS.handshake_timeout,
             "seconds a WebSocket handshake may take (changes at the next start)",
             "PGCSMS_HANDSHAKE_TIMEOUT", "--handshake-timeout"),
    # pgcsms rfid
    _setting("rfid.port", TEXT, None, "serial device, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ link",
             "PGCSMS_RFID_PORT", "--port", metavar="DEVICE"),
    _setting("rfid.baud", _integer(50, 4_000_000), 9600, "baud rate", "PGCSMS_RFID_BAUD", "--baud"),
    _setting("rfid.reader_id", TEXT, None, "name of the reader in ocpp.rfid_readers (unset: HOSTNAME:DEVICE)",
             "PGCSMS_RFID_READER_ID", "--reader-id"),
    _setting("rfid.protocol", _choice("line", "rdm6300"), "line",
             "line: one card number per ASCII line; rdm6300: STX/ETX frames with checksum",
             "PGCSMS_RFID_PROTOCOL", "--protocol", metavar="line|rdm6300"),
    _setting("rfid.debounce", _number(0), 2.0, "seconds: the same card read again within them is one scan",
             "PGCSMS_RFID_DEBOUNCE", "--debounce"),
)

SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}
TABLES = ("", "serve", "tls", "limits", "rfid")
# The settings each command reads, for its flags.
COMMAND_SETTINGS: dict[str, tuple[str, ...]] = {
    "migrate": ("dsn", "data_dir"),
    "serve": ("dsn", "data_dir", "migrate", *(s.key for s in SETTINGS if s.table in ("serve", "tls", "limits"))),
    "rfid": ("dsn", "data_dir", "migrate", *(s.key for s in SETTINGS if s.table == "rfid")),
}


def add_flags(parser: argparse.ArgumentParser, keys: Iterable[str], *, groups: Mapping[str, str] = {}) -> None:
    """Add the flags of these settings; a flag not given leaves its attribute unset.

    ``groups`` titles an argument group per table (``{"limits": "limits"}``).
    """
    titled = {table: parser.add_argument_group(title) for table, title in groups.items()}
    for key in keys:
        setting = SETTINGS_BY_KEY[key]
        if setting.flag is None:
            continue
        target: Any = titled.get(setting.table, parser)
        default = "" if setting.default in (None, ()) else f"default {_plain(setting)}; "
        help_text = f"{setting.flag_help or setting.help} ({'' if setting.flag_help else default}{setting.env})"
        if setting.flag_value is not None:
            target.add_argument(setting.flag, dest=setting.dest, action="store_const", const=setting.flag_value,
                                default=argparse.SUPPRESS, help=help_text)
        elif setting.kind is PATHS:
            target.add_argument(setting.flag, dest=setting.dest, action="append", default=argparse.SUPPRESS,
                                metavar="FILE", help=help_text + "; once per file")
        else:
            target.add_argument(setting.flag, dest=setting.dest, type=_flag_type(setting),
                                default=argparse.SUPPRESS, metavar=_metavar(setting), help=help_text)


def _flag_type(setting: Setting) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return setting.kind.from_text(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {setting.kind.describe}, not {text!r}") from None

    convert.__name__ = setting.name  # argparse names the type in some messages
    return convert


def _metavar(setting: Setting) -> str:
    if setting.metavar:
        return setting.metavar
    if setting.kind is ADDRESS:
        return "HOST:PORT"
    return "N" if setting.kind.describe.startswith(("a whole", "a number")) else setting.name.upper()


def _plain(setting: Setting) -> str:
    """The default as a person types it on the command line."""
    text = setting.kind.to_toml(setting.default)
    return text.strip('"') if text.startswith('"') else text


# -- the effective configuration ----------------------------------------------------------------------------


def mask_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ********, in URI or key=value form."""
    if re.match(r"postgres(?:ql)?://", dsn):
        masked = re.sub(r"^(postgres(?:ql)?://[^:@/?#]*:)[^@/?#]*@", r"\1********@", dsn)
        return re.sub(r"([?&]password=)[^&#]*", r"\1********", masked)
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)", r"\1********", dsn)


class Config:
    """The value of every setting and where it came from (``default``, ``file``, ``PGCSMS_X``, ``--x``)."""

    __slots__ = ("file", "ignored", "sources", "values")

    def __init__(self, values: dict[str, Any], sources: dict[str, str], file: str | None,
                 ignored: tuple[str, ...] = ()) -> None:
        self.values = values
        self.sources = sources
        self.file = file
        self.ignored = ignored    # PGCSMS_* variables that name no setting

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def source(self, key: str) -> str:
        return self.sources[key]

    def shown(self, key: str) -> str:
        """The value as ``pgcsms config`` prints it (TOML), secrets masked."""
        setting = SETTINGS_BY_KEY[key]
        value = self.values[key]
        if value is None:
            return "unset"
        text = setting.kind.to_toml(value)
        return json.dumps(mask_dsn(value)) if setting.secret else text

    def changed(self, other: Config) -> list[str]:
        """The keys whose value differs in ``other``."""
        return [key for key in self.values if self.values[key] != other.values[key]]

    def format(self) -> str:
        """The effective configuration as TOML, each value with where it came from; secrets masked."""
        origin = f"file {self.file}" if self.file else "no file"
        lines = [f"# pgcsms: effective configuration ({origin}); precedence: flags > environment > file > defaults"]
        for table in TABLES:
            if table:
                lines += ["", f"[{table}]"]
            for setting in (s for s in SETTINGS if s.table == table):
                source = self.sources[setting.key]
                where = f"file {self.file}" if source == "file" else source
                if self.values[setting.key] is None:
                    lines.append(f"# {setting.name} is unset  # {where}: {setting.help}")
                else:
                    lines.append(f"{setting.name} = {self.shown(setting.key)}  # {where}")
        if self.ignored:
            lines += ["", f"# ignored: {', '.join(self.ignored)} (no such setting)"]
        return "\n".join(lines)


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not TOML: {error}") from None
    found: dict[str, Any] = {}
    for name, value in document.items():
        if name in TABLES and name and isinstance(value, dict):
            for inner, inner_value in value.items():
                found[f"{name}.{inner}"] = inner_value
        else:
            found[name] = value
    for key, value in found.items():
        if key not in SETTINGS_BY_KEY:
            hint = difflib.get_close_matches(key, list(SETTINGS_BY_KEY), n=1)
            table, _, name = key.rpartition(".")
            if not table and name in TABLES:
                raise ConfigError(f"{path}: {key} is a table: write [{key}] above its settings")
            raise ConfigError(f"{path}: unknown setting {key}" + (f" (did you mean {hint[0]}?)" if hint else ""))
        if isinstance(value, dict):
            raise ConfigError(f"{path}: {key} is a setting, not a table")
    return found


def _convert(setting: Setting, raw: object, where: str, *, text: bool) -> Any:
    try:
        if text:
            return setting.kind.from_text(str(raw))
        return setting.kind.from_toml(raw)
    except (ValueError, TypeError):
        shown = mask_dsn(str(raw)) if setting.secret else str(raw)
        raise ConfigError(f"{where}: expected {setting.kind.describe}, not {shown!r}") from None


def config_file(args: argparse.Namespace | None, environ: Mapping[str, str]) -> str | None:
    """The configuration file: ``--config``, else PGCSMS_CONFIG, else none."""
    given = getattr(args, "config", None) if args is not None else None
    return given or environ.get(CONFIG_ENV) or None


def load(args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None,
         file: str | None = None, *, use_file: bool = True) -> Config:
    """The effective configuration: ``args`` (flags) > ``environ`` > ``file`` (or --config/PGCSMS_CONFIG) > defaults.

    ``use_file=False`` reads no file at all. Raises :class:`ConfigError` naming what is wrong.
    """
    environ = os.environ if environ is None else environ
    path = (file if file is not None else config_file(args, environ)) if use_file else None
    from_file = _read_file(path) if path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        value, source = setting.default, "default"
        if setting.key in from_file:
            location = f"{path}: {setting.key}"
            value, source = _convert(setting, from_file[setting.key], location, text=False), "file"
        text = environ.get(setting.env)
        if text:
            value, source = _convert(setting, text, setting.env, text=True), setting.env
        if args is not None and hasattr(args, setting.dest):
            value, source = getattr(args, setting.dest), setting.flag or setting.key
            if setting.kind is PATHS:
                value = tuple(value)
        values[setting.key], sources[setting.key] = value, source
    known = {setting.env for setting in SETTINGS} | {CONFIG_ENV}
    ignored = tuple(sorted(name for name in environ if name.startswith("PGCSMS_") and name not in known
                           and name not in _OTHER_VARIABLES))
    return Config(values, sources, path, ignored)


def limits(config: Config) -> Limits:
    """The :class:`Limits` of a configuration."""
    return Limits(**{s.name: config[s.key] for s in SETTINGS if s.table == "limits"})


# Variables of pgcsms that are not settings of serve, migrate or rfid.
_OTHER_VARIABLES = frozenset({"PGCSMS_OPTIONS", "PGCSMS_SIMULATE_PASSWORD", "PGCSMS_FUZZ_EXAMPLES"})
