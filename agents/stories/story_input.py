"""The story-input record: what the tag agent sends the stories agent (agents/story_agent.py).

Version 2 (this module) carries a batch of articles, each with the engine's per-article work
already done: the tag agent's child process (agents/tagpool.py), which decodes and tags the
articles anyway, also extracts the story features, computes the MinHash signature
(`FeatureMaker`) and evaluates the alert rules. The one-partition stories agent is then left
with the work that needs its state: LSH lookup, candidate scoring, the stories, the alerts.
One record per tag batch, not per article, so the hop's per-record cost (produce, consume,
acknowledge) is paid once per batch.

    {"v": 2, "items": [ITEM, ...]}

    ITEM = {"id", "title", "published", "text" (the lede the engine reads), "lang", "feed",
            "url", "entities", "themes",
            "fx": the FeatureMaker fingerprint, "script", "anchors", "weak",
            "sig": base64 of the signature (num_perm little-endian uint64) or null,
            "alerts": [Alert records of the article's rule matches], or null when the
                      rules were not evaluated (story alerts off)}

An item whose fingerprint differs from the engine's (other feature code, MinHash or
gazetteer settings: a worker of another version made it) is not trusted: the engine makes its
features again from the lede in the item, so the stories come out as if made here. A record
without "v" is a version-1 record, one tagged article (`TaggedArticle`), still accepted.

Every field is checked: an item that fails is left out and named in the `BadItemsError`
raised after the good items are applied, so the record is dead-lettered with the reason and
the rest of the batch is not lost.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from newswatch.agents.stories.engine import FeatureMaker, Prepared, StoryArticle
from newswatch.agents.stories.features import Features
from newswatch.streams.records import (
    MAX_PAYLOAD_BYTES,
    MAX_TAGS,
    Alert,
    NotARecordError,
    RecordError,
    RecordTooLargeError,
    TaggedArticle,
)

VERSION = 2
#: Bytes of items per record: a tag batch larger than this goes out as several records.
MAX_BATCH_BYTES = 512 * 1024
#: Characters of body text a version-1 article gives the engine (it reads only the lede).
TEXT_CHARS = 6_000

_MAX_ITEMS = 10_000
_MAX_ANCHORS = 5_000
_MAX_ALERTS = 100
_MAX_STR = 20_000
_ANCHOR_KINDS = frozenset("etgsmnpl")
_SCRIPTS = frozenset(("latin", "cyrillic", "unspaced"))


class BadItemsError(RecordError):
    """Some items of a story-input record were unusable (the others were applied)."""


@dataclass(frozen=True, slots=True)
class StoryInput:
    """One article for the engine: its prepared features when usable, and its rule matches
    (`alerts` None: not evaluated yet, the caller evaluates `tagged`)."""

    article: StoryArticle
    prepared: Prepared | None = None
    alerts: tuple[Alert, ...] | None = None
    tagged: TaggedArticle | None = None


def story_article(tagged: TaggedArticle) -> StoryArticle:
    """The engine's view of a tagged article."""
    article = tagged.article
    published = article.published if article.published is not None else article.fetched_at
    text = article.summary
    if article.content and article.content not in text:
        text = f"{text}\n{article.content}" if text else article.content
    return StoryArticle(
        id=article.id,
        title=article.title,
        published=float(published),
        text=text[:TEXT_CHARS],
        lang=tagged.lang or article.lang,
        feed=article.feed_id,
        url=article.url,
        entities=tuple(tagged.entities),
        themes=tuple(hit.id for hit in tagged.themes),
    )


# ---- making items (the tag agent's child process) ----------------------------------------


def encode_item(
    tagged: TaggedArticle, maker: FeatureMaker, alerts: Iterable[Alert] | None
) -> bytes:
    """One item, JSON, for `join_items`. `alerts`: the rule matches (None: not evaluated, as
    when story alerts are off)."""
    article = story_article(tagged)
    prepared = maker.prepare(article)
    feats = prepared.features
    sig = prepared.signature
    return orjson.dumps(
        {
            "id": article.id,
            "title": article.title,
            "published": article.published,
            "text": article.text[: maker.config.max_text_chars],
            "lang": article.lang,
            "feed": article.feed,
            "url": article.url,
            "entities": article.entities,
            "themes": article.themes,
            "fx": maker.fingerprint,
            "script": feats.script,
            "anchors": sorted(feats.anchors),
            "weak": sorted(feats.weak),
            "sig": None if sig is None else base64.b64encode(sig.astype("<u8").tobytes()).decode(),
            "alerts": None if alerts is None else [alert.to_dict() for alert in alerts],
        }
    )


def join_items(items: list[bytes], max_bytes: int = MAX_BATCH_BYTES) -> Iterator[bytes]:
    """Version-2 records holding `items` in order, each at most about `max_bytes`."""
    chunk: list[bytes] = []
    size = 0
    for item in items:
        if chunk and size + len(item) > max_bytes:
            yield _record(chunk)
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield _record(chunk)


def _record(items: list[bytes]) -> bytes:
    return b'{"v":2,"items":[' + b",".join(items) + b"]}"


# ---- reading records (the stories agent) -------------------------------------------------


def decode(value: bytes | None, maker: FeatureMaker) -> tuple[list[StoryInput], list[str]]:
    """(the usable articles in order, an error per unusable item). Raises RecordError when
    the record as a whole is unusable."""
    if value is None:
        raise NotARecordError("empty story-input record")
    if len(value) > MAX_PAYLOAD_BYTES:
        raise RecordTooLargeError(f"story input: {len(value)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise NotARecordError(f"story input: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotARecordError("story input: expected a JSON object")
    if "v" not in data:  # version 1: one tagged article
        tagged = TaggedArticle.loads(data)
        return [StoryInput(story_article(tagged), tagged=tagged)], []
    if data["v"] != VERSION or type(data["v"]) is not int:
        raise NotARecordError(f"story input: unknown version {data['v']!r}")
    items = data.get("items")
    if not isinstance(items, list) or len(items) > _MAX_ITEMS:
        raise NotARecordError(f"story input: items must be a list of at most {_MAX_ITEMS}")
    out: list[StoryInput] = []
    errors: list[str] = []
    for n, item in enumerate(items):
        try:
            out.append(_item(item, maker))
        except (RecordError, ValueError, TypeError) as exc:
            errors.append(f"item {n}: {exc}")
    return out, errors


def _str(item: dict[str, Any], name: str, *, optional: bool = False, empty: bool = True) -> Any:
    value = item.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > _MAX_STR or (not empty and not value):
        raise NotARecordError(f"{name}: expected a string of at most {_MAX_STR} characters")
    return value


def _strings(item: dict[str, Any], name: str, limit: int) -> tuple[str, ...]:
    return tuple(_string_list(item, name, limit))


def _string_list(item: dict[str, Any], name: str, limit: int) -> list[str]:
    value = item.get(name)
    if not isinstance(value, list) or len(value) > limit:
        raise NotARecordError(f"{name}: expected a list of at most {limit} strings")
    for v in value:  # a loop, not all(): this runs for every anchor of every article
        if not isinstance(v, str) or not 0 < len(v) <= 500:
            raise NotARecordError(f"{name}: expected non-empty strings of at most 500 characters")
    return value


def _item(item: Any, maker: FeatureMaker) -> StoryInput:
    if not isinstance(item, dict):
        raise NotARecordError("expected a JSON object")
    published = item.get("published")
    if (
        not isinstance(published, int | float)
        or isinstance(published, bool)
        or not math.isfinite(published)
    ):
        raise NotARecordError("published: expected a finite number")
    article = StoryArticle(
        id=_str(item, "id", empty=False),
        title=_str(item, "title"),
        published=float(published),
        text=_str(item, "text"),
        lang=_str(item, "lang", optional=True),
        feed=_str(item, "feed"),
        url=_str(item, "url", optional=True),
        entities=_strings(item, "entities", MAX_TAGS),
        themes=_strings(item, "themes", MAX_TAGS),
    )
    raw_alerts = item.get("alerts")
    alerts = None
    if raw_alerts is not None:
        if not isinstance(raw_alerts, list) or len(raw_alerts) > _MAX_ALERTS:
            raise NotARecordError(f"alerts: expected null or a list of at most {_MAX_ALERTS}")
        try:
            alerts = tuple(
                Alert.loads(a) if isinstance(a, dict) else _no_alert() for a in raw_alerts
            )
        except RecordError as exc:
            raise NotARecordError(f"alerts: {exc}") from None
    prepared = None
    if item.get("fx") == maker.fingerprint:
        prepared = _prepared(item, maker)
    return StoryInput(article, prepared, alerts)


def _no_alert() -> Alert:
    raise NotARecordError("alerts: expected JSON objects")


def _prepared(item: dict[str, Any], maker: FeatureMaker) -> Prepared:
    script = item.get("script")
    if script not in _SCRIPTS:
        raise NotARecordError(f"script: unknown {script!r}")
    listed = _string_list(item, "anchors", _MAX_ANCHORS)
    for a in listed:
        if a[1:2] != ":" or a[0] not in _ANCHOR_KINDS:
            raise NotARecordError("anchors: expected KIND:VALUE strings")
    anchors = frozenset(listed)
    weak = frozenset(_string_list(item, "weak", _MAX_ANCHORS))
    if not weak <= anchors:
        raise NotARecordError("weak: must be anchors of the item")
    sig = item.get("sig")
    signature = None
    if sig is not None:
        if not isinstance(sig, str):
            raise NotARecordError("sig: expected base64 or null")
        try:
            raw = base64.b64decode(sig, validate=True)
        except binascii.Error:
            raise NotARecordError("sig: not base64") from None
        if len(raw) != 8 * maker.config.num_perm:
            raise NotARecordError(f"sig: expected {maker.config.num_perm} 64-bit values")
        signature = np.frombuffer(raw, dtype="<u8").astype(np.uint64)
    # The shingles themselves are not carried: the signature stands for them.
    return Prepared(Features(script, frozenset(), anchors, weak), signature)
