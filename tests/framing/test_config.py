"""Settings: flags > environment > file > defaults; secrets masked; mistakes named in one line (no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pgcsms.proxy import cli, config
from pgcsms.proxy.limits import Limits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No PGCSMS_* variable of the machine running the tests leaks in."""
    import os

    for name in list(os.environ):
        if name.startswith("PGCSMS_"):
            monkeypatch.delenv(name)


def parse(*argv: str):
    return cli._parser().parse_args(list(argv))


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pgcsms.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_are_the_servers_own():
    settings = config.load(parse("serve"), {})
    assert settings["serve.listen"] == ("127.0.0.1", 9000)
    assert settings["migrate"] is True and settings["dsn"] is None
    assert config.limits(settings) == Limits()
    assert all(settings.source(s.key) == "default" for s in config.SETTINGS)


def test_flags_beat_the_environment_which_beats_the_file(tmp_path):
    path = write(tmp_path, """
        log_level = "WARNING"
        [serve]
        listen = "0.0.0.0:9100"
        pool_size = 20
        node_id = "from-file"
        [limits]
        message_burst = 300
    """)
    environ = {"PGCSMS_POOL_SIZE": "30", "PGCSMS_LISTEN": "10.0.0.1:9200"}
    settings = config.load(parse("serve", "--config", path, "--pool-size", "40"), environ)
    assert (settings["serve.pool_size"], settings.source("serve.pool_size")) == (40, "--pool-size")
    assert (settings["serve.listen"], settings.source("serve.listen")) == (("10.0.0.1", 9200), "PGCSMS_LISTEN")
    assert (settings["serve.node_id"], settings.source("serve.node_id")) == ("from-file", "file")
    assert (settings["log_level"], settings.source("log_level")) == ("WARNING", "file")
    assert config.limits(settings).message_burst == 300
    assert settings.source("limits.max_nesting") == "default"


def test_the_file_comes_from_pgcsms_config_unless_a_flag_names_another(tmp_path):
    first = write(tmp_path, "[serve]\npool_size = 3\n")
    other = tmp_path / "other.toml"
    other.write_text("[serve]\npool_size = 4\n")
    assert config.load(parse("serve"), {"PGCSMS_CONFIG": first})["serve.pool_size"] == 3
    assert config.load(parse("serve", "--config", str(other)), {"PGCSMS_CONFIG": first})["serve.pool_size"] == 4
    # Before or after the command name alike.
    assert config.load(parse("--config", str(other), "serve"), {})["serve.pool_size"] == 4


def test_log_options_before_or_after_the_command():
    assert config.load(parse("--log-level", "DEBUG", "serve"), {})["log_level"] == "DEBUG"
    assert config.load(parse("serve", "--log-format", "json"), {})["log_format"] == "json"
    assert config.load(parse("serve"), {"PGCSMS_LOG_LEVEL": "debug"})["log_level"] == "DEBUG"


def test_booleans_and_lists_from_each_source(tmp_path):
    path = write(tmp_path, 'migrate = false\n[tls]\ncert = ["a.pem", "b.pem"]\nkey = "a.key"\n')
    settings = config.load(parse("serve", "--config", path), {"PGCSMS_TLS_KEY": "a.key, b.key"})
    assert settings["migrate"] is False
    assert settings["tls.cert"] == ("a.pem", "b.pem") and settings["tls.key"] == ("a.key", "b.key")
    flags = config.load(parse("serve", "--no-migrate", "--no-compression", "--tls-cert", "c.pem"),
                        {"PGCSMS_MIGRATE": "true"})
    assert flags["migrate"] is False and flags.source("migrate") == "--no-migrate"
    assert flags["serve.compression"] is False and flags["tls.cert"] == ("c.pem",)
    assert config.load(parse("rfid"), {"PGCSMS_MIGRATE": "no"})["migrate"] is False


def test_an_empty_variable_is_unset():
    settings = config.load(parse("serve"), {"PGCSMS_DSN": "", "PGCSMS_POOL_SIZE": ""})
    assert settings["dsn"] is None and settings.source("serve.pool_size") == "default"


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://csms:s3cr%40t@db.example/pgcsms", "postgresql://csms:********@db.example/pgcsms"),
    ("postgres://u:p@h1:5432,h2:5432/d?sslmode=require", "postgres://u:********@h1:5432,h2:5432/d?sslmode=require"),
    ("postgresql://u@h/d?password=hunter2&sslmode=require", "postgresql://u@h/d?password=********&sslmode=require"),
    ("host=db user=csms password=hunter2 dbname=pgcsms", "host=db user=csms password=******** dbname=pgcsms"),
    ("host=db password = 'two words' dbname=x", "host=db password = ******** dbname=x"),
    ("postgresql://csms@/pgcsms?host=/run/postgresql", "postgresql://csms@/pgcsms?host=/run/postgresql"),
])
def test_passwords_are_masked(dsn, shown):
    assert config.mask_dsn(dsn) == shown


def test_pgcsms_config_prints_every_setting_with_its_source_and_no_password(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, '[serve]\nlisten = "0.0.0.0:9000"\n[tls]\nkey = ["/etc/pgcsms/server.key"]\n')
    monkeypatch.setenv("PGCSMS_DSN", "postgresql://csms:hunter2@db/pgcsms")
    monkeypatch.setenv("PGCSMS_TYPO", "1")
    assert cli.main(["config", "--config", path]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert 'dsn = "postgresql://csms:********@db/pgcsms"  # PGCSMS_DSN' in out
    assert f'listen = "0.0.0.0:9000"  # file {path}' in out
    assert 'key = ["/etc/pgcsms/server.key"]' in out  # a key's path is no secret
    assert "pool_size = 10  # default" in out
    assert "# node_id is unset  # default" in out
    assert "PGCSMS_TYPO" in out  # a variable that names no setting is pointed out
    for setting in config.SETTINGS:
        assert re.search(rf"^#? ?{setting.name}\b", out, re.MULTILINE), setting.key


@pytest.mark.parametrize(("text", "expected"), [
    ("[serve]\nlistn = \"0.0.0.0:9000\"\n", "unknown setting serve.listn (did you mean serve.listen?)"),
    ("colour = \"blue\"\n", "unknown setting colour"),
    ("[serve]\npool_size = \"ten\"\n", "serve.pool_size: expected a whole number from 1 to 10000, not 'ten'"),
    ("[serve]\npool_size = 0\n", "serve.pool_size: expected a whole number"),
    ("[serve]\nlisten = \"nowhere\"\n", "serve.listen: expected HOST:PORT, not 'nowhere'"),
    ("log_level = \"LOUD\"\n", "log_level: expected one of DEBUG, INFO, WARNING, ERROR, not 'LOUD'"),
    ("migrate = \"no\"\n", "migrate: expected true or false"),
    ("[limits]\nmessages_per_second = 0\n", "limits.messages_per_second: expected a number above 0"),
    ("serve = 3\n", "serve is a table"),
    ("[serve.listen]\nhost = \"x\"\n", "serve.listen is a setting, not a table"),
    ("[serve\n", "not TOML"),
])
def test_mistakes_in_the_file_are_one_line_naming_them(tmp_path, capsys, text, expected):
    path = write(tmp_path, text)
    assert cli.main(["serve", "--config", path]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert error.startswith(f"pgcsms: {path}") and expected in error, error


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("PGCSMS_POOL_SIZE", "lots", "PGCSMS_POOL_SIZE: expected a whole number from 1 to 10000, not 'lots'"),
    ("PGCSMS_MIGRATE", "perhaps", "PGCSMS_MIGRATE: expected true or false, not 'perhaps'"),
    ("PGCSMS_LOG_FORMAT", "xml", "PGCSMS_LOG_FORMAT: expected one of text, json, not 'xml'"),
    ("PGCSMS_SHUTDOWN_TIMEOUT", "-1", "PGCSMS_SHUTDOWN_TIMEOUT: expected a number at least 0, not '-1'"),
])
def test_mistakes_in_the_environment_name_the_variable(monkeypatch, capsys, name, value, expected):
    monkeypatch.setenv(name, value)
    assert cli.main(["serve"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"pgcsms: {expected}"


def test_a_missing_file_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PGCSMS_CONFIG", str(tmp_path / "absent.toml"))
    assert cli.main(["config"]) == 2
    assert capsys.readouterr().err.strip() == f"pgcsms: {tmp_path / 'absent.toml'}: no such configuration file"


def test_a_bad_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--pool-size", "many"])
    assert exit_info.value.code == 2
    assert "--pool-size: expected a whole number" in capsys.readouterr().err


def test_a_password_is_not_repeated_in_an_error(tmp_path, capsys):
    path = write(tmp_path, "dsn = 42\n")
    assert cli.main(["serve", "--config", path]) == 2
    assert "dsn: expected a non-empty string, not '42'" in capsys.readouterr().err


def test_rfid_without_a_port_says_where_to_give_one(capsys):
    assert cli.main(["rfid", "--dsn", "postgresql://nobody@/nowhere?host=/nonexistent"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--port" in error and "PGCSMS_RFID_PORT" in error


def test_tls_cert_without_its_key_is_refused_before_any_database(capsys):
    assert cli.main(["serve", "--dsn", "postgresql://nobody@/nowhere?host=/nonexistent", "--tls-cert", "a.pem"]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err


def test_workers_need_a_fixed_port_and_are_refused_before_any_database(capsys):
    assert cli.main(["serve", "--dsn", "postgresql://nobody@/nowhere?host=/nonexistent", "--workers", "2",
                     "--listen", "127.0.0.1:0"]) == 2
    assert "--workers above 1 needs a fixed port" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        cli.main(["serve", "--workers", "0"])
    assert refused.value.code == 2 and "--workers: expected a whole number from 1" in capsys.readouterr().err


def test_the_shipped_file_documents_every_setting_and_loads(tmp_path):
    shipped = ROOT / "conf" / "pgcsms.toml"
    text = shipped.read_text(encoding="utf-8")
    assert config.load(parse("serve", "--config", str(shipped)), {}).file == str(shipped)
    for setting in config.SETTINGS:
        assert setting.env in text, setting.env
        if setting.flag:
            assert setting.flag in text, setting.flag
        assert re.search(rf"^# {setting.name} = ", text, re.MULTILINE), setting.key
    # Uncommented, it is a valid configuration that repeats the defaults (examples aside).
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)
    settings = config.load(parse("serve"), {}, write(tmp_path, uncommented))
    assert config.limits(settings) == Limits()
    assert settings["serve.listen"] == ("127.0.0.1", 9000) and settings["log_level"] == "INFO"
