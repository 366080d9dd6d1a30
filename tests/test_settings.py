# SPDX-License-Identifier: Apache-2.0
from pathlib import Path

import pytest

from listserv.errors import ConfigError
from listserv.settings import load_settings
from tests.helpers import run_listserv


def test_environment_sets_the_documented_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTSERV_SMTP_PORT", "2525")
    monkeypatch.setenv("LISTSERV_LMTP_PORT", "2424")
    monkeypatch.setenv("LISTSERV_SMARTHOST", "mail.example.com:587")
    monkeypatch.setenv("LISTSERV_SMARTHOST_TLS", "starttls")
    monkeypatch.setenv("LISTSERV_DOMAINS", "Example.com, lists.example.org")
    monkeypatch.setenv("LISTSERV_DATABASE_URL", "postgresql://u@db/listserv")
    settings = load_settings()
    assert (settings.smtp_port, settings.lmtp_port) == (2525, 2424)
    assert settings.smarthost == ("mail.example.com", 587)
    assert settings.smarthost_tls == "starttls"
    assert settings.domains == ["example.com", "lists.example.org"]
    assert settings.async_database_url == "postgresql+asyncpg://u@db/listserv"


def test_environment_wins_over_the_toml_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "listserv.toml"
    config.write_text('smtp_port = 2600\nlisten_host = "0.0.0.0"\n')
    monkeypatch.setenv("LISTSERV_CONFIG", str(config))
    monkeypatch.setenv("LISTSERV_SMTP_PORT", "2700")
    settings = load_settings()
    assert (settings.smtp_port, settings.listen_host) == (2700, "0.0.0.0")


def test_example_config_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).parent.parent / "config" / "listserv.example.toml"
    monkeypatch.setenv("LISTSERV_CONFIG", str(example))
    load_settings()


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("LISTSERV_SMTP_PORT", "smtp", "LISTSERV_SMTP_PORT: Input should be a valid integer"),
    ("LISTSERV_SMTP_PORT", "70000", "LISTSERV_SMTP_PORT: Input should be less than or equal"),
    ("LISTSERV_DATABASE_URL", "mysql://db/x", "LISTSERV_DATABASE_URL: unknown database scheme"),
    ("LISTSERV_SMARTHOST", "mail.example.com", "LISTSERV_SMARTHOST: expected host:port"),
    ("LISTSERV_SMARTHOST_TLS", "maybe", "LISTSERV_SMARTHOST_TLS: Input should be"),
    ("LISTSERV_DKIM_ED25519_PRIVATE_KEY", "/nonexistent/ed.key",
     "LISTSERV_DKIM_ED25519_PRIVATE_KEY: Path does not point to a file"),
    ("LISTSERV_DKIM_ED25519_SELECTOR", "a_b", "LISTSERV_DKIM_ED25519_SELECTOR: String should"),
    ("LISTSERV_CONFIG", "/nonexistent/listserv.toml", "LISTSERV_CONFIG: no such file"),
])
def test_a_bad_setting_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch, variable: str,
                                             value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_bad_setting_stops_serve_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LISTSERV_SMTP_PORT": "not-a-port",
           "LISTSERV_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = run_listserv("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("listserv: error: LISTSERV_SMTP_PORT:")
    assert len(result.stderr.splitlines()) == 1
