"""The records that travel on Kafka: article, tagged article, alert.

Each is a frozen dataclass with a `schema_version`, encoded as JSON with orjson. Decoding is
strict: a payload that is not JSON, lacks a required field, has a field of the wrong type or an
unknown `schema_version` raises `RecordError`, and the agent sends it to the dead-letter topic.

Plain dataclasses rather than Faust records keep this module free of Faust, so the poller, the
sinks and the CLI share the same contract.
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import orjson

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A payload that cannot become a record; the message says why."""


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class _Record:
    """Shared encode/decode; subclasses declare fields and `KIND`."""

    KIND: ClassVar[str] = "record"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dumps(self) -> bytes:
        return orjson.dumps(self)  # orjson encodes (nested) dataclasses natively

    @classmethod
    def loads(cls, payload: bytes | str | dict[str, Any]) -> Self:
        """Decode and validate; raises RecordError."""
        if isinstance(payload, dict):
            data = payload
        else:
            try:
                data = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raise RecordError(f"{cls.KIND}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RecordError(f"{cls.KIND}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(f"{cls.KIND}: unknown schema_version {version!r}")
        kwargs = {}
        for spec in _fields(cls):
            if spec.name in data:
                kwargs[spec.name] = _check(cls.KIND, spec, data[spec.name])
            elif _required(spec):
                raise RecordError(f"{cls.KIND}: missing field {spec.name!r}")
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Article(_Record):
    """One feed entry, as the poller publishes it. Key: `id`."""

    KIND: ClassVar[str] = "article"

    id: str
    feed_id: str
    title: str
    url: str | None = None
    summary: str = ""
    content: str = ""
    published: float | None = None  # UTC epoch seconds, clamped to a sane range
    updated: float | None = None
    published_raw: str | None = None  # the feed's own date text, kept as evidence
    authors: list[str] = field(default_factory=list)
    lang: str | None = None  # declared or detected, BCP 47 primary subtag ("de", "zh")
    feed_name: str = ""
    fetched_at: float = field(default_factory=_now)
    schema_version: int = SCHEMA_VERSION

    @property
    def text(self) -> str:
        """Body text the tagger reads (title is passed separately)."""
        if self.content and self.summary and self.summary not in self.content:
            return f"{self.summary}\n\n{self.content}"
        return self.content or self.summary


@dataclass(frozen=True, slots=True)
class Mention:
    """One match of an entity alias, offsets into the original text (title + "\\n\\n" + text)."""

    entity: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class ThemeHit:
    """A theme whose evidence passed its threshold."""

    id: str
    score: float
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TaggedArticle(_Record):
    """An article with what the tagging engine found. Key: `article.id`."""

    KIND: ClassVar[str] = "tagged"

    article: Article
    entities: list[str]
    themes: list[ThemeHit]
    mentions: list[Mention] = field(default_factory=list)
    lang: str | None = None
    tagged_at: float = field(default_factory=_now)
    schema_version: int = SCHEMA_VERSION

    @property
    def theme_ids(self) -> list[str]:
        return [theme.id for theme in self.themes]


SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Alert(_Record):
    """An alert raised by a rule. Key: `id`, deterministic (rule + article, or rule + window)."""

    KIND: ClassVar[str] = "alert"

    id: str
    rule: str
    severity: str
    title: str
    kind: str = "article"  # "article" or "spike"
    entities: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    article_id: str | None = None
    url: str | None = None
    feed_id: str | None = None
    lang: str | None = None
    published: float | None = None
    summary: str = ""
    window_start: float | None = None  # spikes only
    window_end: float | None = None
    count: int | None = None
    baseline: float | None = None
    created_at: float = field(default_factory=_now)
    # When the source article entered the pipeline (its fetched_at); for latency metrics.
    source_time: float | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise RecordError(f"alert: severity {self.severity!r} not one of {SEVERITIES}")
        if self.kind not in ("article", "spike"):
            raise RecordError(f"alert: kind {self.kind!r} not 'article' or 'spike'")


# ---- validation ---------------------------------------------------------------------------


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.name != "KIND")


def _required(spec: dataclasses.Field[Any]) -> bool:
    missing = dataclasses.MISSING
    return spec.default is missing and spec.default_factory is missing


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _check(kind: str, spec: dataclasses.Field[Any], value: Any) -> Any:
    hint = _hints(_owner[spec.name, kind])[spec.name]
    try:
        return _coerce(hint, value)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"{kind}: field {spec.name!r}: {exc}") from None


def _coerce(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"expected {hint}, got {type(value).__name__}")
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)
        return [_coerce(item, v) for v in value]
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        if issubclass(hint, _Record):
            return hint.from_dict(value)
        names = {f.name for f in dataclasses.fields(hint)}
        unknown = set(value) - names
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        return hint(**{k: _coerce(_hints(hint)[k], v) for k, v in value.items()})
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {type(value).__name__}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return value
    if hint is Any:
        return value
    raise TypeError(f"unsupported field type {hint}")


_owner: dict[tuple[str, str], type] = {
    (f.name, cls.KIND): cls for cls in (Article, TaggedArticle, Alert) for f in _fields(cls)
}
