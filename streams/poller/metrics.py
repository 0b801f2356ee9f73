"""Poller metrics, declared once. Labels come from bounded sets only (never URLs or error text)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

STATUS_CLASSES = ("2xx", "304", "3xx", "4xx", "5xx")
ERROR_KINDS = (
    "timeout",
    "connect",
    "http",
    "rate_limited",
    "too_large",
    "redirect_loop",
    "too_many_redirects",
    "blocked_address",  # refused by the SSRF guard (streams/netguard.py); nothing was sent
    "parse",
    "parse_interrupted",
    "publish",
    "state",
    "other",
)
FEED_STATES = ("ok", "backing_off", "broken")
# Language labels: the languages the project targets, anything else is "other".
KNOWN_LANGS = frozenset(
    [
        "en",
        "de",
        "fr",
        "es",
        "it",
        "pt",
        "nl",
        "sv",
        "no",
        "da",
        "fi",
        "pl",
        "cs",
        "uk",
        "ru",
        "tr",
        "ar",
        "fa",
        "he",
        "hi",
        "id",
        "vi",
        "th",
        "zh",
        "ja",
        "ko",
    ]
)

FETCH_DURATION = Histogram(
    "newswatch_poll_fetch_duration_seconds",
    "Time to fetch one feed (request to last body byte, redirects included).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
RESPONSES = Counter(
    "newswatch_poll_responses_total", "Final HTTP responses by status class.", ["status_class"]
)
BYTES = Counter("newswatch_poll_bytes_total", "Response body bytes after decompression.")
ERRORS = Counter("newswatch_poll_errors_total", "Failed polls by kind.", ["kind"])
ARTICLES = Counter(
    "newswatch_poll_articles_total", "Entries seen in fetched feeds by outcome.", ["outcome"]
)
FEED_ARTICLES = Counter(
    "newswatch_poll_feed_articles_total", "New articles published per feed.", ["feed"]
)
ARTICLES_BY_LANG = Counter(
    "newswatch_poll_articles_by_lang_total", "New articles published by language.", ["lang"]
)
FEEDS = Gauge("newswatch_poll_feeds", "Configured feeds by health state.", ["state"])
SCHEDULER_LAG = Gauge(
    "newswatch_poll_scheduler_lag_seconds", "How late the oldest due-but-not-started feed is."
)
PUBLISH_ERRORS = Counter(
    "newswatch_poll_publish_errors_total", "Articles whose publication to Kafka failed."
)
PARSE_POOL_RESTARTS = Counter(
    "newswatch_poll_parse_pool_restarts_total",
    "Parse pools replaced: a document timed out, or a worker died (crash).",
    ["reason"],
)
PARSE_REQUEUED = Counter(
    "newswatch_poll_parse_requeued_total",
    "Documents parsed again, uncharged, because another document's timeout or crash stopped "
    "their worker (requeued), or to find which one crashed it (isolated).",
    ["how"],
)
ENTRIES_OVER_LIMIT = Counter(
    "newswatch_poll_entries_over_limit_total",
    "Entries left out because a document held more than max_entries_per_poll.",
)

for _cls in STATUS_CLASSES:
    RESPONSES.labels(_cls)
for _kind in ERROR_KINDS:
    ERRORS.labels(_kind)
for _outcome in ("new", "duplicate"):
    ARTICLES.labels(_outcome)
for _state in FEED_STATES:
    FEEDS.labels(_state)
for _reason in ("timeout", "crash"):
    PARSE_POOL_RESTARTS.labels(_reason)
for _how in ("requeued", "isolated"):
    PARSE_REQUEUED.labels(_how)
# Series exist from the start at 0, so the first burst shows in rate()/increase().
for _lang in (*KNOWN_LANGS, "other"):
    ARTICLES_BY_LANG.labels(_lang)


def init_feed_series(feed_ids: Iterable[str]) -> None:
    """Create the per-feed series at 0 for every configured feed (see above)."""
    for feed_id in feed_ids:
        FEED_ARTICLES.labels(feed_id)


def status_class(status: int) -> str:
    if status == 304:
        return "304"
    return f"{min(max(status // 100, 2), 5)}xx"


def lang_label(lang: str | None) -> str:
    return lang if lang in KNOWN_LANGS else "other"


# ---- sharding (streams/poller/sharding.py) ---------------------------------------------------
FEEDS_OWNED = Gauge(
    "newswatch_poller_feeds_owned", "Feeds this poller owns (sharding: its partitions' feeds)."
)
REBALANCES = Counter(
    "newswatch_poller_rebalances_total", "Feed hand-overs at a rebalance of the pollers' group."
)
FEED_RECORDS_INVALID = Counter(
    "newswatch_poller_feed_records_invalid_total",
    "Records on the feeds topic that could not be used (logged and skipped).",
)

# ---- publishing (streams/poller/publisher.py) ------------------------------------------------
PRODUCER_RENEWALS = Counter(
    "newswatch_poller_producer_renewals_total",
    "Idempotent producers replaced after an error they cannot recover from (out-of-order"
    " sequence, unknown producer id).",
)
