"""The feeds topic's records (sharded pollers): decoding, hostile records, file diffs."""

from __future__ import annotations

import orjson
import pytest

from newswatch.streams.poller import metrics
from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.sharding import _apply, decode_spec, diff_feeds, encode_spec
from newswatch.streams.topics import topic_configs

A = FeedSpec(id="a", url="https://a.example/feed.xml", lang="de")
B = FeedSpec(id="b", url="https://b.example/rss")


def test_round_trip_and_tombstone() -> None:
    assert decode_spec(b"a", encode_spec(A)) == ("a", A)
    assert decode_spec(b"a", None) == ("a", None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (None, b"{}"),
        (b"", b"{}"),
        (b"\xff\xfe", encode_spec(A)),
        (b"a", b"not json"),
        (b"a", b"[]"),
        (b"a", orjson.dumps({"id": "a", "url": "file:///etc/passwd"})),
        (b"a", orjson.dumps({"id": "a", "url": "https://x", "extra": 1})),
        (b"b", encode_spec(A)),  # key and spec disagree
        (b"a", orjson.dumps({"id": "a", "url": "https://x", "interval": -5})),
    ],
)
def test_unusable_records_are_skipped_and_counted(key: bytes | None, value: bytes) -> None:
    feeds = {"a": A}
    before = metrics.FEED_RECORDS_INVALID._value.get()
    assert _apply(feeds, key, value) is False
    assert feeds == {"a": A}  # nothing changed
    assert metrics.FEED_RECORDS_INVALID._value.get() == before + 1


def test_apply_adds_changes_and_removes() -> None:
    feeds: dict[str, FeedSpec] = {}
    assert _apply(feeds, b"a", encode_spec(A))
    changed = A.model_copy(update={"interval": 600.0})
    assert _apply(feeds, b"a", encode_spec(changed))
    assert feeds == {"a": changed}
    assert _apply(feeds, b"a", None)
    assert feeds == {}


def test_diff_between_file_versions() -> None:
    changed_b = B.model_copy(update={"name": "B"})
    C = FeedSpec(id="c", url="https://c.example/")
    assert diff_feeds([A, B], [changed_b, C]) == ([changed_b, C], ["a"])
    assert diff_feeds([A], [A]) == ([], [])


def test_feeds_topic_is_compacted() -> None:
    assert topic_configs()["feeds"] == {"cleanup.policy": "compact"}
