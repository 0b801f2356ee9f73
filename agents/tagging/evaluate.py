"""Precision, recall and F1 of the tagger against labelled rows.

Gold rows: id, text, lang, entities, themes (title optional).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from newswatch.agents.tagging.tagger import Tagger
from newswatch.streams.errors import ConfigError


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: set[str], predicted: set[str]) -> None:
        self.tp += len(gold & predicted)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class Report:
    """Micro-averaged counts overall, per label and per language, for entities and themes."""

    rows: int = 0
    entities: Counts = field(default_factory=Counts)
    themes: Counts = field(default_factory=Counts)
    by_label: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_lang_entities: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_lang_themes: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "entities": self.entities.as_dict(),
            "themes": self.themes.as_dict(),
            "by_label": {k: v.as_dict() for k, v in sorted(self.by_label.items())},
            "by_lang": {
                lang: {
                    "entities": self.by_lang_entities[lang].as_dict(),
                    "themes": self.by_lang_themes[lang].as_dict(),
                }
                for lang in sorted(self.by_lang_entities)
            },
        }


class GoldError(ConfigError, ValueError):
    """A gold row that lacks a field or has one of the wrong type."""


def check_row(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise GoldError("expected a JSON object")
    for name in ("id", "text", "lang"):
        if not isinstance(row.get(name), str | int) or isinstance(row.get(name), bool):
            raise GoldError(f"field {name!r} missing or not a string")
    if not isinstance(row["text"], str):
        raise GoldError("field 'text' must be a string")
    for name in ("entities", "themes"):
        value = row.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise GoldError(f"field {name!r} must be a list of strings")
    return row


def evaluate(tagger: Tagger, rows: Iterable[dict[str, Any]]) -> Report:
    report = Report()
    for row in rows:
        check_row(row)
        lang = str(row["lang"])
        result = tagger.tag(row["text"], title=row.get("title"), lang=lang)
        pred_e, gold_e = set(result.entities), set(row["entities"])
        pred_t, gold_t = set(result.theme_ids), set(row["themes"])
        report.rows += 1
        report.entities.add(gold_e, pred_e)
        report.themes.add(gold_t, pred_t)
        report.by_lang_entities[lang].add(gold_e, pred_e)
        report.by_lang_themes[lang].add(gold_t, pred_t)
        for label in gold_e | pred_e | gold_t | pred_t:
            gold = gold_e | gold_t
            pred = pred_e | pred_t
            report.by_label[label].add(gold & {label}, pred & {label})
        if pred_e != gold_e or pred_t != gold_t:
            report.errors.append(
                {
                    "id": row["id"],
                    "lang": lang,
                    "missing": sorted((gold_e - pred_e) | (gold_t - pred_t)),
                    "extra": sorted((pred_e - gold_e) | (pred_t - gold_t)),
                }
            )
    return report
