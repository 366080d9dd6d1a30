# SPDX-License-Identifier: Apache-2.0
"""Site and process settings: LISTSERV_* variables over an optional TOML file.

Per-list settings live in the database (see core.list_settings); this module
holds only what the operator sets for the whole process. Nothing here is a
module-level instance: cli.main calls load_settings() once and passes it down.
"""

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from listserv.errors import ConfigError

ENV_PREFIX = "LISTSERV_"
CONFIG_VARIABLE = "LISTSERV_CONFIG"

# Accepted URL schemes and the async driver each one runs on.
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def parse_host_port(value: Any) -> Any:
    """Turn 'host:port' (or '[v6]:port') into (host, port); the port is required."""
    if not isinstance(value, str):
        return value
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise ValueError("expected host:port")
    if not 0 < int(port) < 65536:
        raise ValueError("port out of range")
    return (host, int(port))


def parse_domains(value: Any) -> Any:
    """Accept 'a.example, b.example' as well as a list; normalise to lower-case IDNA."""
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    if isinstance(value, list):
        return [str(domain).strip().lower().encode("idna").decode("ascii") for domain in value]
    return value


def empty_to_none(value: Any) -> Any:
    """An empty variable means 'not set'."""
    return None if value == "" else value


Port = Annotated[int, Field(ge=0, le=65535)]
HostPort = Annotated[tuple[str, int], NoDecode, BeforeValidator(parse_host_port)]


class Settings(BaseSettings):
    """Everything the operator configures for one listserv process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = "sqlite:///var/listserv.db"
    listen_host: str = "127.0.0.1"
    smtp_port: Port = 8025
    lmtp_port: Annotated[Port | None, BeforeValidator(empty_to_none)] = None
    smarthost: HostPort = ("localhost", 25)
    smarthost_tls: Literal["none", "starttls", "tls"] = "none"
    smarthost_ca_file: Annotated[FilePath | None, BeforeValidator(empty_to_none)] = None
    smarthost_username: Annotated[str | None, BeforeValidator(empty_to_none)] = None
    smarthost_password: Annotated[SecretStr | None, BeforeValidator(empty_to_none)] = None
    domains: Annotated[list[str], NoDecode, BeforeValidator(parse_domains)] = []
    max_message_size: Annotated[int, Field(gt=0)] = 25 * 1024 * 1024
    max_recipients_per_transaction: Annotated[int, Field(ge=1, le=1000)] = 100
    delivery_connections: Annotated[int, Field(ge=1, le=100)] = 4
    autoresponses_per_day: Annotated[int, Field(ge=0)] = 10
    retry_initial_seconds: Annotated[int, Field(ge=1)] = 60
    retry_max_seconds: Annotated[int, Field(ge=1)] = 3600
    retry_give_up_hours: Annotated[int, Field(ge=1)] = 120
    confirm_days: Annotated[int, Field(ge=1, le=365)] = 3
    confirmations_per_day: Annotated[int, Field(ge=1, le=1000)] = 3
    hostname: str = Field(default_factory=socket.getfqdn)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if scheme not in DRIVERS:
            known = ", ".join(sorted({name.partition("+")[0] for name in DRIVERS}))
            raise ValueError(f"unknown database scheme {scheme!r} (use {known})")
        return value

    @property
    def async_database_url(self) -> str:
        """The database URL with the async driver listserv uses for its scheme."""
        scheme, _, rest = self.database_url.partition("://")
        return f"{DRIVERS[scheme]}://{rest}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init kwargs win over the environment, which wins over the TOML file."""
        sources = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_VARIABLE)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, or raise ConfigError with one line naming what is wrong."""
    config_file = os.environ.get(CONFIG_VARIABLE)
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"{CONFIG_VARIABLE}: no such file: {config_file}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except (SettingsError, ValueError) as exc:  # a TOML file that does not parse
        raise ConfigError(f"{CONFIG_VARIABLE}: {config_file}: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per wrong setting, each naming its environment variable."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            lines.append(f"{CONFIG_VARIABLE}: {name}: unknown setting")
            continue
        lines.append(f"{ENV_PREFIX}{name.upper()}: {message} (got {error.get('input')!r})")
    return "\n".join(lines)
