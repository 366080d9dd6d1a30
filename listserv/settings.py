# SPDX-License-Identifier: Apache-2.0
"""Site and process settings: LISTSERV_* variables over an optional TOML file.

Per-list settings live in the database (see core.list_settings); this module
holds only what the operator sets for the whole process. Nothing here is a
module-level instance: cli.main calls load_settings() once and passes it down.
"""

import base64
import binascii
import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
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


def parse_nameserver(value: Any) -> Any:
    """Turn 'address', 'address:port' or '[v6]:port' into (address, port); port 53 by default."""
    if not isinstance(value, str):
        return value
    host, port = value.strip(), 53
    if not host:
        return None
    if host.startswith("[") or host.count(":") == 1:  # not a bare IPv6 address
        host, port = parse_host_port(host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("expected an IP address, optionally with :port") from None
    return (host, port)


def parse_domains(value: Any) -> Any:
    """Accept 'a.example, b.example' as well as a list; normalise to lower-case IDNA."""
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    if isinstance(value, list):
        return [idna(str(domain)) for domain in value]
    return value


def idna(domain: str) -> str:
    """A domain name in lower-case IDNA (ASCII) form."""
    return domain.strip().lower().encode("idna").decode("ascii")


def empty_to_none(value: Any) -> Any:
    """An empty variable means 'not set'."""
    return None if value == "" else value


def public_url(value: str | None) -> str | None:
    """An http(s) URL with a host and no query, kept without its trailing slash."""
    if value is None:
        return None
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname \
            or parsed.query or parsed.fragment:
        raise ValueError("expected an http or https URL such as https://lists.example.com")
    return value.rstrip("/")


MIN_SECRET_LENGTH = 32


def long_enough(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters "
                         "(e.g. the output of: python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))')")
    return value


def read_key_file(path: Path) -> bytes:
    """The bytes of a private key file, or a ValueError saying why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the key file: {exc.strerror}") from None


def readable_dkim_key(path: Path) -> Path:
    """A DKIM private key file must be readable and hold a PEM RSA private key."""
    from dkim.crypto import parse_pem_private_key  # loads dnspython: only when a key is set

    pem = read_key_file(path)
    try:
        parse_pem_private_key(pem)
    except Exception:  # dkimpy's ASN.1 parser raises all sorts on a file that is not a key
        raise ValueError("not a PEM RSA private key (make one with: listserv dkim keygen)") \
            from None
    return path


def readable_ed25519_key(path: Path) -> Path:
    """An Ed25519 DKIM key file must be readable and hold the base64 of a 32-byte seed.

    That is the format of dkimpy's ``dknewkey --ktype ed25519`` (and of
    ``listserv dkim keygen --type ed25519``); any 32 bytes are a valid seed (RFC 8032, 5.1.5).
    """
    text = read_key_file(path).strip()
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        seed = b""
    if len(seed) != 32:
        raise ValueError("not an Ed25519 private key, the base64 of a 32-byte seed (make one "
                         "with: listserv dkim keygen DOMAIN --type ed25519)")
    return path


Port = Annotated[int, Field(ge=0, le=65535)]
HostPort = Annotated[tuple[str, int], NoDecode, BeforeValidator(parse_host_port)]
DkimKeyFile = Annotated[FilePath, AfterValidator(readable_dkim_key)]
Ed25519KeyFile = Annotated[FilePath, AfterValidator(readable_ed25519_key)]
Selector = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$", max_length=63)]
RSA_SELECTOR = "listserv"
ED25519_SELECTOR = "listserv-ed25519"


def distinct_selectors(rsa: str | None, ed25519: str | None) -> None:
    """Two keys of one domain cannot share a selector: its one TXT record holds one key."""
    if rsa is not None and rsa == ed25519:
        raise ValueError(f"the RSA and the Ed25519 key both use the selector {rsa!r}; "
                         "each needs its own")


class DkimKey(BaseModel):
    """The signing keys of one domain (dkim_keys in the TOML file): RSA, Ed25519 or both.

    A domain's entry replaces the default keys for it entirely: a domain with
    only an RSA key here gets no Ed25519 signature, even if the default has one.
    """

    model_config = {"extra": "forbid", "frozen": True}

    selector: Selector = RSA_SELECTOR
    private_key: DkimKeyFile | None = None
    ed25519_selector: Selector = ED25519_SELECTOR
    ed25519_private_key: Ed25519KeyFile | None = None

    @model_validator(mode="after")
    def _some_key(self) -> "DkimKey":
        if self.private_key is None and self.ed25519_private_key is None:
            raise ValueError("needs a private_key, an ed25519_private_key or both")
        if self.private_key is not None and self.ed25519_private_key is not None:
            distinct_selectors(self.selector, self.ed25519_selector)
        return self


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
    # Postfix's header_size_limit and (near enough) header_address_token_limit; 0: none.
    max_header_size: Annotated[int, Field(ge=0)] = 102_400
    max_header_addresses: Annotated[int, Field(ge=0)] = 1000
    max_recipients_per_transaction: Annotated[int, Field(ge=1, le=1000)] = 100
    delivery_connections: Annotated[int, Field(ge=1, le=100)] = 4
    autoresponses_per_day: Annotated[int, Field(ge=0)] = 10
    retry_initial_seconds: Annotated[int, Field(ge=1)] = 60
    retry_max_seconds: Annotated[int, Field(ge=1)] = 3600
    retry_give_up_hours: Annotated[int, Field(ge=1)] = 120
    retention_days: Annotated[int, Field(ge=1)] = 30
    confirm_days: Annotated[int, Field(ge=1, le=365)] = 3
    confirmations_per_day: Annotated[int, Field(ge=1, le=1000)] = 3
    hostname: str = Field(default_factory=socket.getfqdn)
    dkim_selector: Selector = RSA_SELECTOR
    dkim_private_key: Annotated[DkimKeyFile | None, BeforeValidator(empty_to_none)] = None
    # RFC 8463: Ed25519 signs in addition to RSA (receivers that do not verify it use RSA).
    dkim_ed25519_private_key: Annotated[Ed25519KeyFile | None,
                                        BeforeValidator(empty_to_none)] = None
    dkim_ed25519_selector: Selector = ED25519_SELECTOR  # after the keys: its check needs them
    dkim_keys: dict[str, DkimKey] = {}
    trusted_authserv_id: Annotated[str | None, BeforeValidator(empty_to_none)] = None
    dns_nameserver: Annotated[tuple[str, int] | None, NoDecode,
                              BeforeValidator(parse_nameserver)] = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # How long start-up waits for a database server that does not answer yet.
    database_wait_seconds: Annotated[float, Field(ge=0)] = 60
    http_host: str = "127.0.0.1"
    http_port: Annotated[Port | None, BeforeValidator(empty_to_none)] = 8080
    base_url: Annotated[str | None, BeforeValidator(empty_to_none),
                        AfterValidator(public_url)] = None
    # HMAC key of one-click and sign-in tokens, VERP tags and session cookies; unset: a
    # key made once and kept in the database, so every process of a site shares it.
    secret_key: Annotated[SecretStr | None, BeforeValidator(empty_to_none),
                          AfterValidator(long_enough)] = None
    api_token: Annotated[SecretStr | None, BeforeValidator(empty_to_none),
                         AfterValidator(long_enough)] = None
    # Web forms that mail someone (subscribe, sign in), per client network per hour.
    web_forms_per_hour: Annotated[int, Field(ge=1, le=10_000)] = 10
    # Where mail to postmaster@ a served domain goes; unset: postmaster@ is refused.
    postmaster: Annotated[str | None, BeforeValidator(empty_to_none)] = None

    @model_validator(mode="after")
    def _postmaster_elsewhere(self) -> "Settings":
        if self.postmaster is None:
            return self
        local, at, domain = self.postmaster.strip().rpartition("@")
        if not (local and at and domain):
            raise ValueError(f"postmaster: not an address: {self.postmaster!r}")
        if local.lower() == "postmaster" and idna(domain) in self.domains:
            raise ValueError("postmaster: mail to it would come back here; name a mailbox "
                             "elsewhere")
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if scheme not in DRIVERS:
            known = ", ".join(sorted({name.partition("+")[0] for name in DRIVERS}))
            raise ValueError(f"unknown database scheme {scheme!r} (use {known})")
        return value

    @field_validator("dkim_ed25519_selector")
    @classmethod
    def _own_selector(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("dkim_private_key") and info.data.get("dkim_ed25519_private_key"):
            distinct_selectors(info.data.get("dkim_selector"), value)
        return value

    @field_validator("dkim_keys")
    @classmethod
    def _idna_domains(cls, value: dict[str, DkimKey]) -> dict[str, DkimKey]:
        return {idna(domain): key for domain, key in value.items()}

    @property
    def seal_as(self) -> str | None:
        """The authserv-id of listserv's ARC seals; None without an RSA key to seal with
        (RFC 8617 knows no Ed25519)."""
        rsa = self.dkim_private_key is not None or any(
            key.private_key is not None for key in self.dkim_keys.values())
        return self.hostname if rsa else None

    @property
    def hmac_key(self) -> bytes:
        """The secret key as the key of listserv's HMACs (core.tokens); a running server
        always has one (app.running makes it when unset)."""
        if self.secret_key is None:
            raise ConfigError("no secret key: LISTSERV_SECRET_KEY, or the site's own, is needed")
        return self.secret_key.get_secret_value().encode()

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
