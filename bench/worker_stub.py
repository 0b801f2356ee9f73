"""A keyword stand-in for the tagging engine, for worker benchmarks only.

`python bench/worker_stub.py` runs `newswatch worker` with it (settings from NEWSWATCH_*), so the
worker's Faust plumbing can be measured apart from the tagging engine's cost.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from newswatch.streams.records import ThemeHit

ENTITIES = {
    "deepseek": ("DeepSeek", "company"),
    "qwen": ("Qwen", "model"),
    "alibaba": ("Alibaba", "company"),
    "kimi": ("Kimi", "model"),
}
THEMES = {
    "export_controls": ("export control",),
    "chips": ("chip",),
    "open_source": ("open weights", "open-source"),
}


@dataclass(frozen=True)
class _Entity:
    id: str
    kind: str
    group: str = "chinese_ai"
    parent: str | None = None


class _Catalogue:
    """The catalogue members the worker reads (`agents/tagging/protocols.py`)."""

    entity_ids = sorted(ENTITIES)
    theme_ids = sorted(THEMES)

    def entity(self, entity_id: str) -> _Entity:
        if entity_id not in ENTITIES:
            raise KeyError(entity_id)
        return _Entity(entity_id, ENTITIES[entity_id][1])


@dataclass
class _Result:
    entities: list[str]
    themes: list[ThemeHit]
    mentions: list
    lang: str | None


class StubTagger:
    catalogue = _Catalogue()

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> _Result:
        body = f"{title or ''}\n\n{text}"
        low = body.lower()
        entities = [eid for eid, (name, _) in ENTITIES.items() if name.lower() in low]
        themes = [
            ThemeHit(tid, 3.0, [term])
            for tid, terms in THEMES.items()
            for term in terms
            if term in low
        ]
        return _Result(entities, themes, [], lang or "en")


if __name__ == "__main__":
    from newswatch.agents.app import run_worker
    from newswatch.streams.cli import setup_logging
    from newswatch.streams.settings import load_settings

    settings = load_settings()
    setup_logging(settings.log_level)
    sys.exit(run_worker(settings, tagger=StubTagger()))
