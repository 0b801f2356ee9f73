"""What the worker needs of a tagger and its catalogue, as `typing.Protocol`s.

The worker (`agents/pipeline.py`), the rule engine's entity lookup
(`alerting/processing.py:catalogue_lookup`) and the benchmarks' stand-in taggers depend on
these few members only, not on `Tagger` itself: `Tagger` and `Catalogue` satisfy them, and
so does any test double that has a `tag()` method and a `catalogue` (an empty
`Catalogue()` will do). mypy checks both sides; nothing here runs at import time, so
modules that only annotate with these import them under `TYPE_CHECKING`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from newswatch.streams.names import NamedCatalogue
from newswatch.streams.records import Mention, ThemeHit


class TagOutput(Protocol):
    """What `tag()` returns (`TagResult` for the real engine)."""

    @property
    def entities(self) -> Sequence[str]: ...
    @property
    def themes(self) -> Sequence[ThemeHit]: ...
    @property
    def mentions(self) -> Sequence[Mention]: ...
    @property
    def lang(self) -> str | None: ...


class CatalogueEntity(Protocol):
    """The members of a catalogue entity the rules read (`catalogue.Entity`)."""

    @property
    def kind(self) -> str: ...
    @property
    def group(self) -> str | None: ...
    @property
    def parent(self) -> str | None: ...


class EntityCatalogue(NamedCatalogue, Protocol):
    """The members of a catalogue the worker reads (`catalogue.Catalogue`): its ids, an
    entity's place in the hierarchy for the rules, and the display names."""

    @property
    def entity_ids(self) -> list[str]: ...
    @property
    def theme_ids(self) -> list[str]: ...
    def entity(self, entity_id: str) -> CatalogueEntity:
        """The entity; KeyError when the catalogue has none of that id."""
        ...


class TextTagger(Protocol):
    """Anything that tags a text (what `ArticleProcessor` calls)."""

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> TagOutput: ...


class ArticleTagger(TextTagger, Protocol):
    """A tagging engine as the worker uses it (`tagger.Tagger`): it tags, and its catalogue
    feeds the rules' entity lookup, the display names and the metrics' label sets."""

    @property
    def catalogue(self) -> EntityCatalogue: ...
