"""The feed poller: scheduler -> fetcher -> parser -> publisher, with state in Redis.

Public entry points:
- `newswatch.streams.poller.feeds`: `FeedSpec`, `load_feeds`, `save_feeds`, OPML import/export.
- `newswatch.streams.poller.parser`: `parse_feed(body, spec, ...)` -> `ParsedFeed` (pure).
- `newswatch.streams.poller.service`: `run_poller(settings)` (the `newswatch poll` process).
"""
