"""The exception tree (streams/errors.py): every error newswatch raises on purpose is a
NewswatchError under the right branch, and keeps the builtin base its callers catch."""

from __future__ import annotations

import pytest

from newswatch.agents.alerting.rules import RuleError
from newswatch.agents.stories.evaluate import GoldError as StoryGoldError
from newswatch.agents.stories.gazetteer import GazetteerError
from newswatch.agents.stories.story_input import BadItemsError
from newswatch.agents.tagging.catalogue import CatalogueError
from newswatch.agents.tagging.evaluate import GoldError as TagGoldError
from newswatch.agents.tagging.tagger import TaggingError
from newswatch.streams import errors, records, settings
from newswatch.streams.embedded import EmbeddedError
from newswatch.streams.endpoints import EndpointsError
from newswatch.streams.netguard import BlockedAddressError
from newswatch.streams.newsroom.query import FilterError
from newswatch.streams.poller.feeds import FeedsFileError
from newswatch.streams.poller.fetcher import FetchError
from newswatch.streams.poller.parsepool import ParseInterrupted
from newswatch.streams.poller.parser import FeedParseError
from newswatch.streams.poller.publisher import PublishError
from newswatch.streams.poller.service import PollerStartError
from newswatch.streams.sinks.api import QueryError
from newswatch.streams.sinks.stories import QueryError as StoryQueryError
from newswatch.streams.sinks.stories import StoryRecordError
from newswatch.streams.sinks.verify import WebhookVerificationError
from newswatch.streams.sinks.webhooks.signing import SecretError

TREE: list[tuple[type[Exception], type[Exception], tuple[type[Exception], ...]]] = [
    # class, its branch, the builtin bases callers (or pydantic/aiohttp) rely on
    (FeedsFileError, errors.ConfigError, (ValueError,)),
    (CatalogueError, errors.ConfigError, (ValueError,)),
    (RuleError, errors.ConfigError, (ValueError,)),
    (GazetteerError, errors.ConfigError, (ValueError,)),
    (StoryGoldError, errors.ConfigError, (ValueError,)),
    (TagGoldError, errors.ConfigError, (ValueError,)),
    (SecretError, errors.ConfigError, (ValueError,)),
    (records.NotARecordError, errors.RecordError, (ValueError,)),
    (BadItemsError, errors.RecordError, (ValueError,)),
    (records.SchemaVersionError, errors.RecordError, (ValueError,)),
    (records.OutOfRangeError, errors.RecordError, (ValueError,)),
    (records.RecordTooLargeError, errors.RecordError, (ValueError,)),
    (FetchError, errors.FeedError, ()),
    (FeedParseError, errors.FeedError, (ValueError,)),
    (PublishError, errors.SinkError, ()),
    (WebhookVerificationError, errors.SinkError, (ValueError,)),
    (PollerStartError, errors.ServiceError, (RuntimeError,)),
    (EmbeddedError, errors.ServiceError, (RuntimeError,)),
    (BlockedAddressError, errors.NewswatchError, (OSError,)),
    (QueryError, errors.NewswatchError, (ValueError,)),
    (TaggingError, errors.NewswatchError, (ValueError,)),
    (EndpointsError, errors.ConfigError, (ValueError,)),
    (FilterError, errors.NewswatchError, (ValueError,)),
    (ParseInterrupted, errors.FeedError, ()),
    (StoryQueryError, errors.NewswatchError, (ValueError,)),
    (StoryRecordError, errors.SinkError, (ValueError,)),
]


@pytest.mark.parametrize(
    ("cls", "branch", "builtins"), TREE, ids=lambda v: getattr(v, "__name__", "")
)
def test_each_error_sits_on_its_branch(
    cls: type[Exception], branch: type[Exception], builtins: tuple[type[Exception], ...]
) -> None:
    assert issubclass(cls, branch)
    assert issubclass(cls, errors.NewswatchError)
    for base in builtins:
        assert issubclass(cls, base), f"{cls.__name__} lost its {base.__name__} base"


def test_the_old_import_places_still_name_the_same_classes() -> None:
    assert settings.ConfigError is errors.ConfigError
    assert records.RecordError is errors.RecordError
    assert records.RecordError.reason == "decode"


def test_every_purpose_made_error_is_in_the_tree() -> None:
    """A new exception class in streams/ or agents/ must join the tree (and this list)."""
    import importlib
    import pkgutil

    import newswatch.agents
    import newswatch.streams

    listed = {cls for cls, _, _ in TREE} | {
        errors.NewswatchError,
        errors.ConfigError,
        errors.RecordError,
        errors.FeedError,
        errors.SinkError,
        errors.ServiceError,
    }
    outside = []
    for package in (newswatch.streams, newswatch.agents):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith(("._native", ".__main__")):
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__module__ == info.name
                    and not value.__name__.startswith("_")
                    and value not in listed
                ):
                    outside.append(f"{info.name}.{value.__name__}")
    assert not outside, f"exceptions outside the NewswatchError tree: {outside}"


def test_blocked_address_error_is_still_an_oserror_instance() -> None:
    """aiohttp wraps OSErrors of the connector; the multiple base must construct cleanly."""
    exc = BlockedAddressError("10.0.0.1", "private", "hint", host="example.org")
    assert isinstance(exc, OSError)
    assert isinstance(exc, errors.NewswatchError)
