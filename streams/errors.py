"""The exceptions newswatch raises on purpose, as one tree (the way httpx has `HTTPError`).

    NewswatchError
    ├── ConfigError    settings, feeds file, rules, catalogue, gazetteer, gold sets
    ├── RecordError    a payload that cannot become a record (subclasses in records.py)
    ├── FeedError      a feed that could not be fetched or parsed
    ├── SinkError      an output that refused or failed: Kafka publish, webhook secret/signature
    └── ServiceError   a service that could not start (Redis down, embedded broker)

Each concrete class lives next to the code that raises it and names this module's class as
its base; where callers (or libraries: pydantic, aiohttp) rely on a builtin base such as
`ValueError` or `OSError`, the class keeps it as a second base. Callers tell errors apart by
class, never by their message text: `except ConfigError` in the CLI exits 2 with the message.
"""

from __future__ import annotations

from typing import ClassVar


class NewswatchError(Exception):
    """Base of every exception newswatch raises on purpose."""


class ConfigError(NewswatchError):
    """Invalid configuration or operator-supplied file; the message names the key or line."""


class RecordError(NewswatchError, ValueError):
    """A payload that cannot become a record; the message says why, the class the reason."""

    reason: ClassVar[str] = "decode"


class FeedError(NewswatchError):
    """A feed that could not be fetched or parsed."""


class SinkError(NewswatchError):
    """An output that refused or failed: a Kafka publish, a webhook secret or signature."""


class ServiceError(NewswatchError, RuntimeError):
    """A service that could not start: a dependency did not answer, a broker did not come up."""
