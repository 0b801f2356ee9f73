"""The records that travel on Kafka: article, tagged article, alert.

Each is a frozen dataclass with a `schema_version`, encoded as JSON with orjson. Decoding is
strict and checks values, not just types, because any producer can write to a topic. A payload
raises a `RecordError` whose class names the dead-letter reason (`RecordError.reason`):

- `NotARecordError` ("decode"): not JSON, not an object, a missing field or a wrong type;
- `SchemaVersionError` ("schema"): an unknown `schema_version`, here or in a nested record;
- `OutOfRangeError` ("range"): a value outside its limits (below);
- `RecordTooLargeError` ("too_large"): a payload over `MAX_PAYLOAD_BYTES`, or a record that
  cannot be encoded within `MAX_RECORD_BYTES` even after trimming (`TaggedArticle.dumps_within`).

Limits, applied when a record is decoded (`loads`/`from_dict`), declared on each field with
`Annotated` (see `Text`, `Token`, `Bounds`, `MaxItems`):

- **Timestamps** (every epoch-seconds field) must lie in [`EARLIEST_EPOCH`, `LATEST_EPOCH`]
  (1970-01-01 .. 2100-01-01 UTC). A value outside is **rejected**, not clamped: the poller
  already clamps feed dates, so such a record comes from a broken or hostile producer and
  belongs in the dead-letter topic where an operator sees it, not silently rewritten (an
  absurd timestamp used to crash the producer with an OverflowError). NaN and infinities
  never pass.
- **Identifiers, URLs and codes** (`Token`): at most N characters and no control characters
  (they end up in Redis keys, log lines and webhook bodies), else rejected.
- **Free text** (`Text`: title, summary, content, names): control characters other than tab,
  newline and carriage return are removed and the text is cut to N characters (a feed's text
  is truncated the same way by the poller), so an oversized body is tagged, not lost.
- **Lists** (`MaxItems`): entity and theme lists longer than N are rejected; evidence lists
  (authors, mentions, theme evidence) are cut to N.

The limits keep every record well below `MAX_RECORD_BYTES` except a tagged article with very
many mentions, which `TaggedArticle.dumps_within` trims.

Plain dataclasses rather than Faust records keep this module free of Faust, so the poller, the
sinks and the CLI share the same contract.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Self

import orjson

from newswatch.streams.errors import RecordError  # the base; the reasons below subclass it

SCHEMA_VERSION = 1

#: Timestamps outside [EARLIEST_EPOCH, LATEST_EPOCH] (UTC epoch seconds) are rejected.
EARLIEST_EPOCH = 0.0  # 1970-01-01
LATEST_EPOCH = 4_102_444_800.0  # 2100-01-01
#: An encoded record must fit in this many bytes: below Apache Kafka's default
#: `message.max.bytes` (1,048,588, the whole batch) and the producers' 4 MiB request limit.
MAX_RECORD_BYTES = 1_000_000
#: Payloads larger than this are not even parsed.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024

KEY_CHARS = 512  # ids: article, feed, alert, rule, entity, theme
URL_CHARS = 8_192
LANG_CHARS = 35  # the longest BCP 47 tag in practice
TITLE_CHARS = 2_000
TEXT_CHARS = 100_000  # summary and content each, as the poller cuts them
LINE_CHARS = 1_000  # feed name, author, the feed's date text, a mention's text
MAX_TAGS = 100  # entities or themes on one record (the catalogue has far fewer)
MAX_AUTHORS = 20
MAX_MENTIONS = 20_000
MAX_EVIDENCE = 50
MAX_COUNT = 2**53  # integers that survive a trip through JSON numbers everywhere
MAX_OFFSET = 1_000_000_000  # mention offsets (the tagger refuses texts over 20M characters)


class NotARecordError(RecordError):
    """Not JSON, not an object, a missing field or a field of the wrong type."""

    reason: ClassVar[str] = "decode"


class SchemaVersionError(RecordError):
    """An unknown `schema_version` (a producer newer or older than this consumer)."""

    reason: ClassVar[str] = "schema"


class OutOfRangeError(RecordError):
    """A value outside its limits: a timestamp, a size, a number, a control character."""

    reason: ClassVar[str] = "range"


class RecordTooLargeError(RecordError):
    """A payload too large to parse, or a record too large to publish even when trimmed."""

    reason: ClassVar[str] = "too_large"


#: Every reason a RecordError can carry (a bounded metric label set).
RECORD_ERROR_REASONS = ("decode", "schema", "range", "too_large")


# ---- field limits (used as `Annotated` metadata) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Free text: control characters other than tab, newline and CR removed, cut to N chars."""

    max_chars: int


@dataclass(frozen=True, slots=True)
class Token:
    """An identifier, URL or code: over N characters or with a control character, rejected."""

    max_chars: int


@dataclass(frozen=True, slots=True)
class Bounds:
    """A number within [low, high] (NaN never is), else rejected."""

    low: float
    high: float


@dataclass(frozen=True, slots=True)
class MaxItems:
    """A list of at most N items: longer ones are cut (`cut=True`) or rejected."""

    max_items: int
    cut: bool = False


Id = Annotated[str, Token(KEY_CHARS)]
Url = Annotated[str, Token(URL_CHARS)]
Lang = Annotated[str, Token(LANG_CHARS)]
Title = Annotated[str, Text(TITLE_CHARS)]
Body = Annotated[str, Text(TEXT_CHARS)]
Line = Annotated[str, Text(LINE_CHARS)]
Epoch = Annotated[float, Bounds(EARLIEST_EPOCH, LATEST_EPOCH)]
Count = Annotated[int, Bounds(0, MAX_COUNT)]
Offset = Annotated[int, Bounds(0, MAX_OFFSET)]
Score = Annotated[float, Bounds(-1e12, 1e12)]
Tags = Annotated[list[Id], MaxItems(MAX_TAGS)]

#: C0 and C1 control characters and DEL; free text keeps tab, newline and carriage return.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str, max_chars: int) -> str:
    """Free text as records carry it: cut to `max_chars`, control characters removed."""
    return _TEXT_CONTROL.sub("", value[:max_chars])


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
            if payload is None or not isinstance(payload, bytes | bytearray | memoryview | str):
                raise NotARecordError(f"{cls.KIND}: no payload ({type(payload).__name__})")
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise RecordTooLargeError(
                    f"{cls.KIND}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
                )
            try:
                data = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raise NotARecordError(f"{cls.KIND}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise NotARecordError(f"{cls.KIND}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        version = data.get("schema_version")
        if type(version) is not int or version != SCHEMA_VERSION:
            raise SchemaVersionError(f"{cls.KIND}: unknown schema_version {_short(version)}")
        kwargs = {}
        for spec in _fields(cls):
            if spec.name in data:
                kwargs[spec.name] = _check(cls.KIND, spec, data[spec.name])
            elif _required(spec):
                raise NotARecordError(f"{cls.KIND}: missing field {spec.name!r}")
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Article(_Record):
    """One feed entry, as the poller publishes it. Key: `id`."""

    KIND: ClassVar[str] = "article"

    id: Id
    feed_id: Id
    title: Title
    url: Url | None = None
    summary: Body = ""
    content: Body = ""
    published: Epoch | None = None  # UTC epoch seconds (the poller clamps feed dates)
    updated: Epoch | None = None
    published_raw: Line | None = None  # the feed's own date text, kept as evidence
    authors: Annotated[list[Line], MaxItems(MAX_AUTHORS, cut=True)] = field(default_factory=list)
    lang: Lang | None = None  # declared or detected, BCP 47 primary subtag ("de", "zh")
    feed_name: Line = ""
    fetched_at: Epoch = field(default_factory=_now)
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

    entity: Id
    start: Offset
    end: Offset
    text: Line


@dataclass(frozen=True, slots=True)
class ThemeHit:
    """A theme whose evidence passed its threshold."""

    id: Id
    score: Score
    evidence: Annotated[list[Line], MaxItems(MAX_EVIDENCE, cut=True)] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TaggedArticle(_Record):
    """An article with what the tagging engine found. Key: `article.id`."""

    KIND: ClassVar[str] = "tagged"

    article: Article
    entities: Tags
    themes: Annotated[list[ThemeHit], MaxItems(MAX_TAGS)]
    mentions: Annotated[list[Mention], MaxItems(MAX_MENTIONS, cut=True)] = field(
        default_factory=list
    )
    lang: Lang | None = None
    tagged_at: Epoch = field(default_factory=_now)
    #: Mentions or theme evidence were left out to fit MAX_RECORD_BYTES (`dumps_within`).
    trimmed: bool = False
    schema_version: int = SCHEMA_VERSION

    @property
    def theme_ids(self) -> list[str]:
        return [theme.id for theme in self.themes]

    def dumps_within(self, max_bytes: int = MAX_RECORD_BYTES) -> bytes:
        """The encoded record, trimmed to fit `max_bytes`; raises RecordTooLargeError.

        Trimming keeps what the rules and users need: the article, its entities and themes
        with their scores. Mentions are cut to the first few per entity (then none), then
        theme evidence to one term (then none), and `trimmed` says so. Only an article that
        alone exceeds the limit (impossible within the decode limits above, but records can be
        built in code) is refused.
        """
        data = self.dumps()
        if len(data) <= max_bytes:
            return data
        for per_entity in (512, 64, 8, 1, 0):
            data = self._trimmed(per_entity, MAX_EVIDENCE).dumps()
            if len(data) <= max_bytes:
                return data
        for evidence in (1, 0):
            data = self._trimmed(0, evidence).dumps()
            if len(data) <= max_bytes:
                return data
        raise RecordTooLargeError(
            f"tagged: article {self.article.id[:100]!r} encodes to {len(data)} bytes even "
            f"without mentions and evidence (limit {max_bytes})"
        )

    def _trimmed(self, mentions_per_entity: int, evidence: int) -> TaggedArticle:
        kept: list[Mention] = []
        seen: dict[str, int] = {}
        for mention in self.mentions:
            n = seen.get(mention.entity, 0)
            if n < mentions_per_entity:
                kept.append(mention)
                seen[mention.entity] = n + 1
        themes = [
            ThemeHit(theme.id, theme.score, theme.evidence[:evidence]) for theme in self.themes
        ]
        return dataclasses.replace(self, mentions=kept, themes=themes, trimmed=True)


SEVERITIES = ("low", "medium", "high", "critical")


ALERT_KINDS = ("article", "spike", "story", "story_update")


@dataclass(frozen=True, slots=True)
class Alert(_Record):
    """An alert raised by a rule. Key: `id`, deterministic (rule + article, rule + window, or
    rule + story). Kind "story" is a rule's one alert for a story; "story_update" is a later
    event of that alert (`update_of` its id, `sequence` 1, 2, ...; key: `update_of`, so the
    updates of one alert stay in order), see agents/stories/alerts.py."""

    KIND: ClassVar[str] = "alert"

    id: Id
    rule: Id
    severity: str
    title: Title
    kind: str = "article"  # "article" or "spike"
    entities: Tags = field(default_factory=list)
    themes: Tags = field(default_factory=list)
    article_id: Id | None = None
    url: Url | None = None
    feed_id: Id | None = None
    lang: Lang | None = None
    published: Epoch | None = None
    summary: Body = ""
    window_start: Epoch | None = None  # spikes only
    window_end: Epoch | None = None
    count: Count | None = None
    baseline: Annotated[float, Bounds(0.0, 1e15)] | None = None
    created_at: Epoch = field(default_factory=_now)
    # When the source article entered the pipeline (its fetched_at); for latency metrics.
    source_time: Epoch | None = None
    # Story alerts ("story", "story_update"): the story as the alert last saw it.
    story_id: Id | None = None
    sources: Count | None = None
    languages: Tags = field(default_factory=list)
    headline: Title = ""
    breaking: bool = False
    story_severity: str | None = None  # the highest severity of the rules the story met
    update_of: Id | None = None
    sequence: Count = 0
    reasons: Tags = field(default_factory=list)  # "sources:10", "language:fr", "severity:high"
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        for severity in (self.severity, self.story_severity or self.severity):
            if severity not in SEVERITIES:
                raise OutOfRangeError(f"alert: severity {_short(severity)} not one of {SEVERITIES}")
        if self.kind not in ALERT_KINDS:
            raise OutOfRangeError(f"alert: kind {_short(self.kind)} not one of {ALERT_KINDS}")
        if self.kind == "story_update" and not self.update_of:
            raise OutOfRangeError("alert: a story_update needs update_of")


# ---- validation ---------------------------------------------------------------------------


_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    if cls not in _FIELDS:
        _FIELDS[cls] = tuple(f for f in dataclasses.fields(cls) if f.name != "KIND")
    return _FIELDS[cls]


def _required(spec: dataclasses.Field[Any]) -> bool:
    missing = dataclasses.MISSING
    return spec.default is missing and spec.default_factory is missing


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


class _Range(ValueError):
    """A value of the right type outside its limits (becomes OutOfRangeError)."""


def _short(value: Any) -> str:
    """A value for an error message, never more than ~60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(kind: str, spec: dataclasses.Field[Any], value: Any) -> Any:
    hint = _hints(_owner[spec.name, kind])[spec.name]
    try:
        return _coerce(hint, value)
    except RecordError as exc:  # a nested record: keep its class (and so its reason)
        raise type(exc)(f"{kind}: field {spec.name!r}: {exc}") from None
    except _Range as exc:
        raise OutOfRangeError(f"{kind}: field {spec.name!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise NotARecordError(f"{kind}: field {spec.name!r}: {exc}") from None


#: A validator per type hint, built once: reading the hint (`typing.get_origin`, `get_args`,
#: the Annotated metadata) for every value of every record cost more than the checks.
_VALIDATORS: dict[Any, Callable[[Any], Any]] = {}


def _coerce(hint: Any, value: Any) -> Any:
    """`value` checked (and normalised) against the field type `hint`; raises TypeError,
    ValueError (`_Range` for limits) or a RecordError of a nested record."""
    try:
        check = _VALIDATORS[hint]
    except KeyError:
        check = _VALIDATORS[hint] = _validator(hint)
    except TypeError:  # an unhashable hint: not cached
        check = _validator(hint)
    return check(value)


def _validator(hint: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        metadata = hint.__metadata__
        first = [limit for limit in metadata if isinstance(limit, MaxItems)]
        base = _validator(hint.__origin__)

        def annotated(value: Any) -> Any:
            for limit in first:  # a list's length before its items: bounded work
                if isinstance(value, list):
                    value = _limit(limit, value)
            value = base(value)
            for limit in metadata:
                value = _limit(limit, value)
            return value

        return annotated
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in typing.get_args(hint)
        options = [_validator(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) == 1:
            (only,) = options

            def optional(value: Any) -> Any:
                if value is None and nullable:
                    return None
                return only(value)

            return optional

        def union(value: Any) -> Any:
            if value is None and nullable:
                return None
            for option in options:
                try:
                    return option(value)
                except (TypeError, ValueError):
                    continue
            raise TypeError(f"expected {hint}, got {type(value).__name__}")

        return union
    if origin is list:
        (item,) = typing.get_args(hint)
        each = _validator(item)

        def items(value: Any) -> Any:
            if not isinstance(value, list):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            return [each(v) for v in value]

        return items
    if dataclasses.is_dataclass(hint):
        return lambda value: _coerce_dataclass(hint, value)
    if hint is float:

        def number(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"expected a number, got {type(value).__name__}")
            result = float(value)
            if not math.isfinite(result):
                raise _Range(f"{result} is not a finite number")
            return result

        return number
    if hint is int:

        def integer(value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"expected an integer, got {type(value).__name__}")
            return value

        return integer
    if hint is bool:

        def boolean(value: Any) -> bool:
            if not isinstance(value, bool):
                raise TypeError(f"expected true or false, got {type(value).__name__}")
            return value

        return boolean
    if hint is str:

        def string(value: Any) -> str:
            if not isinstance(value, str):
                raise TypeError(f"expected a string, got {type(value).__name__}")
            return value

        return string
    if hint is Any:
        return lambda value: value

    def unsupported(value: Any) -> Any:
        raise TypeError(f"unsupported field type {hint}")

    return unsupported


def _coerce_dataclass(hint: Any, value: Any) -> Any:
    if isinstance(value, hint):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    if issubclass(hint, _Record):
        return hint.from_dict(value)
    unknown = set(value) - _field_names(hint)
    if unknown:
        raise ValueError(f"unknown keys {_short(sorted(map(str, unknown)))}")
    hints = _hints(hint)
    try:
        return hint(**{k: _coerce(hints[k], v) for k, v in value.items()})
    except TypeError as exc:  # a missing key of the nested object
        raise TypeError(f"{hint.__name__}: {exc}") from None


_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    if cls not in _NAMES:
        _NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return _NAMES[cls]


def _limit(limit: Any, value: Any) -> Any:
    if isinstance(limit, Text):
        return clean_text(value, limit.max_chars)
    if isinstance(limit, Token):
        if len(value) > limit.max_chars:
            raise _Range(f"{len(value)} characters, at most {limit.max_chars} allowed")
        if _CONTROL.search(value):
            raise _Range(f"control character in {_short(value)}")
        return value
    if isinstance(limit, Bounds):
        if not limit.low <= value <= limit.high:
            raise _Range(f"{_short(value)} outside [{limit.low:.15g}, {limit.high:.15g}]")
        return value
    if isinstance(limit, MaxItems):
        if len(value) <= limit.max_items:
            return value
        if limit.cut:
            return value[: limit.max_items]
        raise _Range(f"{len(value)} items, at most {limit.max_items} allowed")
    return value


_owner: dict[tuple[str, str], type] = {
    (f.name, cls.KIND): cls for cls in (Article, TaggedArticle, Alert) for f in _fields(cls)
}
