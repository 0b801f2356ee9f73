"""One settings object for every newswatch process.

Sources, highest priority first: keyword arguments (the CLI), `NEWSWATCH_*` environment
variables, the config file (YAML or TOML, from `--config` or `NEWSWATCH_CONFIG`), defaults.
`Settings` is built once in `main()` and passed down; nothing else reads the environment.

Nested values use a double underscore in the environment, e.g. `NEWSWATCH_POLLER__CONCURRENCY=64`.
`NEWSWATCH_KAFKA_SERVERS` (comma-separated host:port) and `NEWSWATCH_REDIS_URL` are fixed
names that operators' scripts rely on.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

ENV_PREFIX = "NEWSWATCH_"
CONFIG_ENV = "NEWSWATCH_CONFIG"

_STRICT = ConfigDict(extra="forbid")


class ConfigError(Exception):
    """Invalid configuration; the message names the offending key."""


class KafkaSecurity(BaseModel):
    """SASL/SSL options passed to aiokafka and Faust."""

    model_config = _STRICT

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None


class PollerSettings(BaseModel):
    """Feed poller tuning. Defaults follow miniflux/FreshRSS practice."""

    model_config = _STRICT

    concurrency: int = Field(100, ge=1, le=10_000)
    per_host: int = Field(4, ge=1, le=1_000)
    connect_timeout: float = Field(10.0, gt=0)
    total_timeout: float = Field(20.0, gt=0)
    max_body_bytes: int = Field(15 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    min_interval: float = Field(300.0, gt=0, description="seconds")
    max_interval: float = Field(86_400.0, gt=0, description="seconds")
    default_interval: float = Field(1_800.0, gt=0, description="seconds")
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    seen_ttl_days: float = Field(60.0, gt=0)
    parse_workers: int = Field(2, ge=1, le=64)
    # Poller issue additions: schedule, backoff and robustness knobs.
    unconditional_interval: float = Field(86_400.0, gt=0, description="seconds")
    backoff_max: float = Field(21_600.0, gt=0, description="seconds")
    broken_after: int = Field(8, ge=1, description="consecutive failures")
    redirect_confirmations: int = Field(3, ge=1)
    start_jitter: float = Field(1.0, ge=0, description="seconds")
    parse_timeout: float = Field(60.0, gt=0, description="seconds")
    # Entries turned into articles per fetched document, newest first; the rest are dropped
    # (counted in newswatch_poll_entries_over_limit_total) and not remembered as seen.
    max_entries_per_poll: int = Field(500, ge=1, le=100_000)


class WebhookEndpoint(BaseModel):
    """One webhook receiver with its filters and format."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    url: str
    format: Literal["cloudevents", "slack", "json"] = "cloudevents"
    secrets: list[SecretStr] = Field(default_factory=list)
    min_severity: Literal["low", "medium", "high", "critical"] = "low"
    entities: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list)
    timeout: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("secrets")
    @classmethod
    def _whsec(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("each secret must start with 'whsec_'")
        return value


class WebhookSettings(BaseModel):
    """Retry schedule and limits shared by all endpoints."""

    model_config = _STRICT

    endpoints: list[WebhookEndpoint] = Field(default_factory=list)
    # Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    retry_schedule: list[float] = Field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    )
    # Divides every delay of the schedule; tests compress hours into milliseconds.
    time_scale: float = Field(1.0, gt=0)
    max_in_flight: int = Field(64, ge=1)


class AlertSettings(BaseModel):
    """Alert stream sizing and spike detection thresholds."""

    model_config = _STRICT

    stream_maxlen: int = Field(100_000, ge=100)
    dedup_ttl_days: float = Field(30.0, gt=0)
    spike_window: float = Field(3_600.0, gt=0, description="seconds")
    spike_baseline: float = Field(86_400.0, gt=0, description="seconds")
    spike_ratio: float = Field(3.0, gt=1)
    spike_min_count: int = Field(10, ge=1)


class Settings(BaseSettings):
    """Every knob of newswatch. See the README's configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    kafka_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host:port list; empty means `newswatch up` starts an embedded broker",
    )
    kafka_security: KafkaSecurity = Field(default_factory=KafkaSecurity)
    redis_url: SecretStr | None = Field(
        None, description="redis:// URL; unset means `newswatch up` starts redis-server"
    )
    topic_prefix: str = Field("newswatch", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_replication: int = Field(1, ge=1, le=16)
    app_id: str = Field("newswatch", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    feeds_file: Path | None = None
    rules_file: Path | None = None
    catalogue_dir: Path | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=0, le=65535)
    state_dir: Path = Field(default_factory=lambda: Path.home() / ".local/state/newswatch")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    poller: PollerSettings = Field(default_factory=PollerSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("kafka_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("kafka_servers")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for server in value:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the CLI, the environment and an explicit config file, in that order.
        return (init_settings, env_settings, _FileSource(settings_cls))

    # ---- derived values -------------------------------------------------------------------

    @property
    def redis_dsn(self) -> str:
        """The Redis URL in clear text; raises if none is configured."""
        if self.redis_url is None:
            raise ConfigError("redis_url: not configured (set NEWSWATCH_REDIS_URL)")
        return self.redis_url.get_secret_value()

    def topic(self, name: str) -> str:
        """Full topic name, e.g. topic('articles') -> 'newswatch.articles.v1'."""
        return f"{self.topic_prefix}.{name}.v1"

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked (for check-config)."""
        data = self.model_dump(mode="json")
        data["redis_url"] = _mask_url(self.redis_url.get_secret_value()) if self.redis_url else None
        for endpoint in data["webhooks"]["endpoints"]:
            endpoint["secrets"] = ["whsec_********"] * len(endpoint["secrets"])
            endpoint["url"] = _mask_url(endpoint["url"])
        if data["kafka_security"]["sasl_password"]:
            data["kafka_security"]["sasl_password"] = "********"
        return data


def _mask_url(url: str) -> str:
    """Hide the password of scheme://user:password@host, keep the rest readable."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:********@{host}"


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        kind = path.suffix[1:] or "YAML"
        raise ConfigError(f"config file {path}: not valid {kind}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of keys")
    return data


def _describe(error: ValidationError, from_file: dict[str, Any]) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        top = str(item["loc"][0]) if item["loc"] else ""
        env_name = ENV_PREFIX + "__".join(str(p) for p in item["loc"] if isinstance(p, str)).upper()
        where = "value"
        if env_name in os.environ:
            where = env_name
        elif top in from_file:
            where = "config file"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{key}: {message} (from {where})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


_file_values: ContextVar[dict[str, Any]] = ContextVar("newswatch_config_file")


class _FileSource(PydanticBaseSettingsSource):
    """Values from the config file, lowest priority; deep-merged under env and CLI."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _file_values.get({}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_values.get({}))


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings once; raises ConfigError naming the bad key."""
    path = config_file or os.environ.get(CONFIG_ENV)
    file_values = _read_config_file(Path(path)) if path else {}
    _reject_unknown_env()
    token = _file_values.set(file_values)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file_values)) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc} ({exc.__cause__})") from None
    finally:
        _file_values.reset(token)


def _reject_unknown_env() -> None:
    """A typo in NEWSWATCH_* must not pass silently."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    known.add(CONFIG_ENV)
    for name in os.environ:
        if name.startswith(ENV_PREFIX) and name.split("__", 1)[0] not in known:
            raise ConfigError(f"{name}: unknown setting (from environment)")
