"""One settings object for every newswatch process.

Sources, highest priority first: keyword arguments (the CLI), `NEWSWATCH_*` environment
variables, the config file (YAML or TOML, from `--config` or `NEWSWATCH_CONFIG`), defaults.
`Settings` is built once in `main()` and passed down; nothing else reads the environment.

Nested values use a double underscore in the environment, e.g. `NEWSWATCH_POLLER__CONCURRENCY=64`.
`NEWSWATCH_KAFKA_SERVERS` (comma-separated host:port) and `NEWSWATCH_REDIS_URL` are fixed
names that operators' scripts rely on.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import tomllib
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network
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
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from newswatch.streams.errors import ConfigError  # re-exported: callers import it from here
from newswatch.streams.netguard import parse_networks
from newswatch.streams.redact import MASK, mask_url

ENV_PREFIX = "NEWSWATCH_"
CONFIG_ENV = "NEWSWATCH_CONFIG"

_STRICT = ConfigDict(extra="forbid")


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


class OutgoingGuardSettings(BaseModel):
    """The SSRF guard of one client (streams/netguard.py): loopback, private, link-local and
    other special addresses are refused unless listed in `allowed_networks` (CIDRs, checked
    first) or `allow_private_networks` is true (the address check is off for that client)."""

    model_config = _STRICT

    allow_private_networks: bool = False
    allowed_networks: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list
    )

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):  # a JSON list or "127.0.0.1/32, 10.1.0.0/16"
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else text.split(",")
            except ValueError as exc:
                raise ValueError(f"not a JSON list of CIDRs: {exc}") from None
            value = [part for part in value if str(part).strip()]
        if isinstance(value, list | tuple):
            return parse_networks(value)
        return value


class PollerSettings(OutgoingGuardSettings):
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
    # Scale-out: pollers share the feeds by Kafka group membership (streams/poller/sharding.py).
    sharding: bool = Field(
        False, description="share feeds between pollers via the feeds topic and a consumer group"
    )
    # Entries turned into articles per fetched document, newest first; the rest are dropped
    # (counted in newswatch_poll_entries_over_limit_total) and not remembered as seen.
    max_entries_per_poll: int = Field(500, ge=1, le=100_000)


#: A story's source count worth an update of its alerts (docs/stories.md, "Alerts at story level").
SourceThreshold = Annotated[int, Field(ge=2, le=1_000_000)]


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
    # Digests: one message per completed hour or UTC day with the alerts this endpoint wants
    # (nothing when there were none); `alerts: false` makes the endpoint digest-only.
    digest: Literal["off", "hour", "day"] = "off"
    alerts: bool = True
    # Story alerts (docs/stories.md): send update events of a story alert at all, and on which
    # source counts. An update that carries only source thresholds this endpoint does not list
    # is not sent to it; a new language or a higher severity always is (when updates are on).
    story_updates: bool = True
    story_update_sources: list[SourceThreshold] = Field(default_factory=lambda: [5, 10, 25])

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _whsec(self) -> WebhookEndpoint:
        for number, secret in enumerate(self.secrets, 1):
            problem = webhook_secret_problem(secret.get_secret_value())
            if problem:
                raise ValueError(f"endpoint {self.name!r}: secret #{number}: {problem}")
        return self


WHSEC_PREFIX = "whsec_"
# Standard Webhooks: the key (base64 after the prefix) is 24 to 64 bytes.
WHSEC_MIN_BYTES, WHSEC_MAX_BYTES = 24, 64


def webhook_secret_problem(secret: str) -> str | None:
    """Why `secret` is not a usable signing secret (never quoting it), or None."""
    if not secret.startswith(WHSEC_PREFIX):
        return f"must start with {WHSEC_PREFIX!r}"
    try:
        key = base64.b64decode(secret[len(WHSEC_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return f"the part after {WHSEC_PREFIX!r} is not valid base64"
    if not WHSEC_MIN_BYTES <= len(key) <= WHSEC_MAX_BYTES:
        return (
            f"decodes to {len(key)} bytes; it must be {WHSEC_MIN_BYTES} to {WHSEC_MAX_BYTES}"
            ' (create one with: python -c "import base64,os;'
            " print('whsec_' + base64.b64encode(os.urandom(32)).decode())\")"
        )
    return None


class WebhookSettings(OutgoingGuardSettings):
    """Retry schedule and limits shared by all endpoints."""

    model_config = _STRICT

    endpoints: list[WebhookEndpoint] = Field(default_factory=list)
    # Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    retry_schedule: list[float] = Field(
        default_factory=lambda: [
            0.0,
            5.0,
            300.0,
            1800.0,
            7200.0,
            18000.0,
            36000.0,
            50400.0,
            72000.0,
            86400.0,
        ]
    )
    # Divides every delay of the schedule; tests compress hours into milliseconds.
    time_scale: float = Field(1.0, gt=0)
    max_in_flight: int = Field(64, ge=1)
    # Dead letters per endpoint: at most this many (the oldest go first) and none older than
    # the TTL, so a receiver that is down for weeks cannot fill Redis.
    dead_letter_max: int = Field(10_000, ge=1)
    dead_letter_ttl_days: float = Field(14.0, gt=0)
    # An endpoint whose every delivery has failed for this long is disabled (Svix: 5 days);
    # `newswatch webhooks enable NAME` turns it back on. Scaled by time_scale like the retries.
    disable_after_days: float = Field(5.0, gt=0)
    # Endpoint circuit breaker (docs/webhooks.md, "Endpoint down: the circuit breaker"): this
    # many endpoint-level failures in a row (no answer, 408, 429, 5xx) open the circuit; while
    # open, one delivery per probe interval is sent and the others wait without spending
    # attempts. 0 turns the breaker off.
    circuit_failures: int = Field(5, ge=0)
    # Probe intervals follow the retry schedule, capped at this many seconds (both scaled by
    # time_scale): the longest a recovered endpoint waits for its backlog.
    circuit_probe_max: float = Field(600.0, gt=0)


class AlertSettings(BaseModel):
    """Alert stream sizing and spike detection thresholds."""

    model_config = _STRICT

    stream_maxlen: int = Field(100_000, ge=100)
    dedup_ttl_days: float = Field(30.0, gt=0)
    spike_window: float = Field(3_600.0, gt=0, description="seconds")
    spike_baseline: float = Field(86_400.0, gt=0, description="seconds")
    spike_ratio: float = Field(3.0, gt=1)
    spike_min_count: int = Field(10, ge=1)
    repair_lookback_seconds: float = Field(
        3_600.0,
        ge=0,
        description="seconds of the alerts topic the Redis sink replays at most when Redis lost"
        " writes (a host crash under appendfsync everysec) or has no watermark (a new or wiped"
        " Redis); must stay below the dedup TTL (docs/architecture.md)",
    )
    repair_check_seconds: float = Field(
        5.0, gt=0, description="seconds between the sink's checks of its Redis watermark"
    )

    @model_validator(mode="after")
    def _lookback_within_dedup(self) -> AlertSettings:
        # An alert older than its dedup key can be in the stream without its key: replaying it
        # would write it a second time.
        if self.repair_lookback_seconds >= self.dedup_ttl_days * 86_400:
            raise ValueError("repair_lookback_seconds must be shorter than dedup_ttl_days")
        return self


class StorySettings(BaseModel):
    """The stories agent (agents/story_agent.py); the engine's thresholds are in StoryConfig."""

    model_config = _STRICT

    enabled: bool = Field(True, description="group articles into stories in the worker")
    checkpoint_seconds: float = Field(10.0, gt=0, description="seconds between checkpoints")
    ttl_days: float = Field(14.0, gt=0, description="days a story stays readable in Redis")
    alerts: bool = Field(
        True, description="rules fire once per story (else once per article, as without stories)"
    )
    update_sources: list[SourceThreshold] = Field(
        default_factory=lambda: [5, 10, 25],
        description="source counts at which a story alert is updated (plus every endpoint's)",
    )
    update_min_interval: float = Field(
        900.0, ge=0, description="seconds of event time between two updates of one story"
    )
    breaking_window: float = Field(3_600.0, gt=0, description="seconds of event time")
    breaking_sources: int = Field(
        5,
        ge=2,
        le=10,
        description="distinct sources within breaking_window that make a story breaking"
        " (at most 10: the story keeps its 10 latest articles)",
    )


class NewsroomSettings(BaseModel):
    """The newsroom page served by the worker (streams/newsroom/)."""

    model_config = _STRICT

    max_sse_clients: int = Field(
        200,
        ge=0,
        le=100_000,
        description="open Server-Sent Events connections per worker process; beyond it /events"
        " answers 503 with Retry-After and the page polls instead (0: no live connections)",
    )
    sse_retry_after: int = Field(
        30, ge=1, le=3_600, description="seconds in the Retry-After of a refused SSE connection"
    )


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
    # Bearer token for the HTTP API (every path but /metrics, /healthz, /readyz). Required
    # when web_host is not a loopback address, unless api_allow_unauthenticated says that a
    # firewall or NetworkPolicy already limits who reaches the port.
    api_token: SecretStr | None = None
    api_allow_unauthenticated: bool = False
    state_dir: Path = Field(default_factory=lambda: Path.home() / ".local/state/newswatch")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    poller: PollerSettings = Field(default_factory=PollerSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    stories: StorySettings = Field(default_factory=StorySettings)
    newsroom: NewsroomSettings = Field(default_factory=NewsroomSettings)

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

    @field_validator("api_token")
    @classmethod
    def _token_chars(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if not _B64TOKEN.fullmatch(token):
            raise ValueError(
                "must be RFC 6750 token characters only (A-Z a-z 0-9 - . _ ~ + / and trailing =)"
            )
        if len(token) < API_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"must be at least {API_TOKEN_MIN_LENGTH} characters (create one with:"
                ' python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return value

    @model_validator(mode="after")
    def _api_reachable_only_with_token(self) -> Settings:
        open_api = self.api_token is None and not self.api_allow_unauthenticated
        if open_api and not is_loopback_host(self.web_host):
            raise ValueError(
                f"web_host {self.web_host!r} serves the HTTP API beyond this machine: set"
                " NEWSWATCH_API_TOKEN, or NEWSWATCH_API_ALLOW_UNAUTHENTICATED=true when a"
                " firewall or NetworkPolicy already limits who can reach the port"
            )
        return self

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
        """The effective configuration as plain data, secrets masked (for check-config).

        Every SecretStr is masked by pydantic's JSON dump; URLs are shown with only their
        secret parts masked (`newswatch.streams.redact`), so they stay recognisable.
        """
        data = self.model_dump(mode="json")
        data["redis_url"] = mask_url(self.redis_url.get_secret_value()) if self.redis_url else None
        for endpoint in data["webhooks"]["endpoints"]:
            endpoint["secrets"] = [WHSEC_PREFIX + MASK] * len(endpoint["secrets"])
            endpoint["url"] = mask_url(endpoint["url"])
        if data["kafka_security"]["sasl_password"]:
            data["kafka_security"]["sasl_password"] = MASK
        if data["api_token"]:
            data["api_token"] = MASK
        return data


API_TOKEN_MIN_LENGTH = 16
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def is_loopback_host(host: str) -> bool:
    """Whether a bind address reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or interface name: may resolve beyond loopback


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
