"""Pairwise scoring of story assignments against gold labels, and the naive baseline.

Pairwise: every pair of articles is a positive when gold puts them in one story; a predicted
pair is one the engine put in one story. Precision, recall and F1 over pairs, overall and
split into same-language and cross-language pairs. Counting is by cluster sizes, so it stays
linear in the number of articles.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from newswatch.agents.stories.engine import StoryArticle, StoryConfig, StoryEngine
from newswatch.agents.tagging.evaluate import Counts
from newswatch.streams.errors import ConfigError

DAY = 86400.0


class GoldError(ConfigError, ValueError):
    """A gold row that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class GoldArticle:
    id: str
    title: str
    text: str
    lang: str
    published: float
    story: str
    feed: str = ""
    url: str | None = None


def check_row(row: Any) -> GoldArticle:
    """A gold row {"id","title","text","lang","published","story"} (feed, url optional)."""
    if not isinstance(row, dict):
        raise GoldError("expected a JSON object")
    for name in ("id", "title", "text", "lang", "story"):
        if not isinstance(row.get(name), str) or (name != "text" and not row[name]):
            raise GoldError(f"field {name!r} missing or not a non-empty string")
    published = row.get("published")
    if not isinstance(published, int | float) or isinstance(published, bool):
        raise GoldError("field 'published' must be epoch seconds")
    if not math.isfinite(published):
        raise GoldError("field 'published' must be finite")
    return GoldArticle(
        row["id"],
        row["title"],
        row["text"],
        row["lang"],
        float(published),
        row["story"],
        str(row.get("feed") or ""),
        row.get("url") if isinstance(row.get("url"), str) else None,
    )


#: Pair counts with precision, recall and F1: the tagging evaluation's counts, reused.
PairCounts = Counts


@dataclass
class PairReport:
    overall: PairCounts = field(default_factory=PairCounts)
    same_lang: PairCounts = field(default_factory=PairCounts)
    cross_lang: PairCounts = field(default_factory=PairCounts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "same_language": self.same_lang.as_dict(),
            "cross_language": self.cross_lang.as_dict(),
        }


def _pairs(groups: Iterable[Iterable[str]]) -> tuple[int, int]:
    """(all pairs, same-language pairs) of clusters given as lists of languages."""
    total = same = 0
    for langs in groups:
        langs = list(langs)
        n = len(langs)
        total += n * (n - 1) // 2
        same += sum(c * (c - 1) // 2 for c in Counter(langs).values())
    return total, same


def score(gold: Mapping[str, str], predicted: Mapping[str, str], lang: Mapping[str, str]):
    """Pairwise counts of `predicted` (article -> cluster) against `gold` (article -> story)."""
    ids = sorted(gold)
    missing = [i for i in ids if i not in predicted]
    if missing:
        raise GoldError(f"{len(missing)} article(s) without a prediction, e.g. {missing[0]!r}")

    def clusters(labels: Callable[[str], str]) -> list[list[str]]:
        grouped: dict[str, list[str]] = {}
        for i in ids:
            grouped.setdefault(labels(i), []).append(lang[i])
        return list(grouped.values())

    g_total, g_same = _pairs(clusters(gold.__getitem__))
    p_total, p_same = _pairs(clusters(predicted.__getitem__))
    b_total, b_same = _pairs(clusters(lambda i: f"{gold[i]}\x00{predicted[i]}"))
    report = PairReport()
    for counts, gt, pt, bt in (
        (report.overall, g_total, p_total, b_total),
        (report.same_lang, g_same, p_same, b_same),
        (report.cross_lang, g_total - g_same, p_total - p_same, b_total - b_same),
    ):
        counts.tp, counts.fp, counts.fn = bt, pt - bt, gt - bt
    return report


@dataclass(frozen=True, slots=True)
class Tagged:
    entities: tuple[str, ...]
    themes: tuple[str, ...]


def to_story_article(row: GoldArticle, tags: Tagged) -> StoryArticle:
    return StoryArticle(
        id=row.id,
        title=row.title,
        text=row.text,
        lang=row.lang,
        published=row.published,
        feed=row.feed,
        url=row.url,
        entities=tags.entities,
        themes=tags.themes,
    )


def engine_predictions(
    rows: list[GoldArticle], tags: Mapping[str, Tagged], config: StoryConfig | None = None
) -> dict[str, str]:
    """Story ids from the engine, articles fed in (published, id) order."""
    engine = StoryEngine(config)
    ordered = sorted(rows, key=lambda r: (r.published, r.id))
    return {r.id: engine.add(to_story_article(r, tags[r.id])).story_id for r in ordered}


def baseline_predictions(rows: list[GoldArticle], tags: Mapping[str, Tagged]) -> dict[str, str]:
    """Naive baseline: same entity set, same theme set, same 3-day bucket."""
    return {
        r.id: "|".join(
            (
                ",".join(sorted(tags[r.id].entities)),
                ",".join(sorted(tags[r.id].themes)),
                str(int(r.published // (3 * DAY))),
            )
        )
        for r in rows
    }
