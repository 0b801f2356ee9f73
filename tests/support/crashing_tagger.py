"""A processor for ProcessorPool tests whose child process dies on one kind of record.

Loaded in the spawned child by module name, `tests.support.crashing_tagger`: spawn passes the
parent's sys.path, which holds the repository root, to the child."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from newswatch.agents.alerting.processing import ArticleProcessor
from newswatch.streams.records import ThemeHit


@dataclass
class Result:
    entities: list[str]
    themes: list[ThemeHit]
    mentions: list = field(default_factory=list)
    lang: str | None = "en"


class CrashingTagger:
    """Kills its process outright (as a native crash would) on a text containing "segfault"."""

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> Result:
        if "segfault" in text:
            os._exit(139)
        return Result(["qwen"] if "Qwen" in text else [], [])


def load_crashing(
    catalogue_dir: Path | None, rules_file: Path | None, rules: bool
) -> ArticleProcessor:
    return ArticleProcessor(CrashingTagger(), None)
