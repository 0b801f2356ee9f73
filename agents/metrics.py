"""Worker metrics (prometheus-client), declared once. Labels come from bounded sets only.

- lang: a known ISO 639-1 code, else "other";
- entity / theme: ids from the catalogue (anything else becomes "other");
- rule: ids from the rules file, plus `spike_entity` / `spike_theme`;
- topic: our topic names; reason: `DEADLETTER_REASONS`; stage: `STAGES`; agent: `AGENTS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from newswatch.streams.records import RECORD_ERROR_REASONS

STAGES = ("tag", "alert", "redis", "webhook")
#: decode, schema, range, too_large (the record: `RecordError.reason`), processing (the tagger,
#: the rules or publishing failed on it), sink (Redis or the webhook outbox refused it with a
#: deterministic error).
DEADLETTER_REASONS = (*RECORD_ERROR_REASONS, "processing", "sink")
AGENTS = ("tag", "alert", "spikes", "stories", "alert-sinks")

#: Languages with their own label value; everything else is "other".
KNOWN_LANGS = frozenset(
    (
        "ar",
        "bg",
        "bn",
        "cs",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fa",
        "fi",
        "fr",
        "he",
        "hi",
        "hr",
        "hu",
        "id",
        "it",
        "ja",
        "ko",
        "lt",
        "lv",
        "ms",
        "nl",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sr",
        "sv",
        "th",
        "tl",
        "tr",
        "uk",
        "ur",
        "vi",
        "zh",
    )
)

ARTICLES_TAGGED = Counter(
    "newswatch_articles_tagged_total", "Articles tagged by the worker, by language.", ["lang"]
)
MENTIONS = Counter(
    "newswatch_mentions_total", "Articles mentioning each catalogue entity.", ["entity"]
)
THEMES = Counter("newswatch_themes_total", "Articles matching each theme.", ["theme"])
ALERTS = Counter(
    "newswatch_alerts_total", "Alerts raised (before sink dedup), by rule.", ["rule", "severity"]
)
DEADLETTERS = Counter(
    "newswatch_deadletter_total",
    "Records sent to the dead-letter topic (and acknowledged), by source topic and reason.",
    ["topic", "reason"],
)
AGENT_CRASHES = Counter(
    "newswatch_agent_crashes_total",
    "Agents that stopped with an exception (Faust restarts them); should stay 0.",
    ["agent"],
)
PROCESSING_LATENCY = Histogram(
    "newswatch_processing_latency_seconds",
    "Seconds from an article's fetched_at to the end of each stage.",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
FLOW_RESUMED = Counter(
    "newswatch_consumer_flow_resumed_total",
    "Times the stall watchdog resumed a consumer flow left stopped after a rebalance.",
)
CONSUMER_LAG = Gauge(
    "newswatch_consumer_lag",
    "Records between the end offset and the committed offset (Tansu's end offsets can be off).",
    ["topic", "partition"],
)
SPIKES = Counter("newswatch_spikes_total", "Spikes detected, by kind.", ["kind"])
# ---- stories (agents/story_agent.py) ----------------------------------------------------------
STORY_HOW = ("new", "near_duplicate", "similar", "duplicate")
STORY_ASSIGNMENTS = Counter(
    "newswatch_story_assignments_total",
    "Articles assigned to a story, by how: a new story, a near-duplicate or a similar article.",
    ["how"],
)
STORIES_OPEN = Gauge("newswatch_stories_open", "Open stories held by the story engine.")
ARTICLES_PER_STORY = Histogram(
    "newswatch_story_articles",
    "Articles in a story when it closed.",
    buckets=(1, 2, 3, 5, 10, 25, 50, 100, 250, 1000),
)
STORY_CHECKPOINT_BYTES = Gauge(
    "newswatch_story_checkpoint_bytes",
    "Bytes the story engine's last checkpoint wrote (its changes, when incremental).",
)
UPDATE_REASONS = ("sources", "language", "severity", "breaking")
STORY_ALERT_UPDATES = Counter(
    "newswatch_story_alert_updates_total",
    "Update events of story alerts sent, by the first reason (sources, language, severity...).",
    ["reason"],
)
ALERTS_FOLDED = Counter(
    "newswatch_alerts_folded_total",
    "Rule matches folded into the story alert the rule already raised (no new alert).",
)


def init_series(
    entities: Iterable[str],
    themes: Iterable[str],
    rules: Iterable[tuple[str, str]],
    topics: Iterable[str] = (),
) -> None:
    """Create the labelled series at 0 for every known label value.

    A series that appears only at its first increment is invisible to rate()/increase() for
    that first burst (the demo's whole traffic); dashboards and alert rules need it from the
    start. `rules` are (rule id, severity) pairs.
    """
    for lang in (*KNOWN_LANGS, "other", "unknown"):
        ARTICLES_TAGGED.labels(lang)
    for entity in entities:
        MENTIONS.labels(entity)
    for theme in themes:
        THEMES.labels(theme)
    for rule, severity in rules:
        ALERTS.labels(rule, severity)
    for stage in STAGES:
        PROCESSING_LATENCY.labels(stage)
    for kind in ("entity", "theme"):
        SPIKES.labels(kind)
    for topic in topics:
        for reason in DEADLETTER_REASONS:
            DEADLETTERS.labels(topic, reason)
    for agent in AGENTS:
        AGENT_CRASHES.labels(agent)
    for how in STORY_HOW:
        STORY_ASSIGNMENTS.labels(how)
    for reason in UPDATE_REASONS:
        STORY_ALERT_UPDATES.labels(reason)


def deadletter_reason(reason: str) -> str:
    """A bounded label for a dead-letter reason."""
    return reason if reason in DEADLETTER_REASONS else "processing"


def lang_label(lang: str | None) -> str:
    """A bounded label for a language code."""
    if not lang:
        return "unknown"
    primary = lang.split("-", 1)[0].lower()
    return primary if primary in KNOWN_LANGS else "other"
