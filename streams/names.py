"""Display names for catalogue ids: "deepseek" -> "DeepSeek", "export_controls" -> "Export controls
on technology".

Records, metrics and filters keep the ids (stable, lowercase); people read names. Titles, the
`alerts tail` line, Slack messages and the newsroom page go through `DisplayNames`. An id the
catalogue does not know is shown as it is.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Named(Protocol):
    """A catalogue entry with a display name (`catalogue.Entity`, `catalogue.Theme`)."""

    @property
    def name(self) -> str: ...


class NamedCatalogue(Protocol):
    """What display names need of a catalogue (`agents.tagging.catalogue.Catalogue`)."""

    @property
    def entities(self) -> Mapping[str, Named]: ...
    @property
    def themes(self) -> Mapping[str, Named]: ...


@dataclass(frozen=True)
class DisplayNames:
    """id -> name for entities and themes."""

    entity_names: Mapping[str, str] = field(default_factory=dict)
    theme_names: Mapping[str, str] = field(default_factory=dict)

    def entity(self, entity_id: str) -> str:
        return self.entity_names.get(entity_id, entity_id)

    def theme(self, theme_id: str) -> str:
        return self.theme_names.get(theme_id, theme_id)

    def short_theme(self, theme_id: str) -> str:
        """The theme's name without its parenthesised gloss ("Market impact (stock …)")."""
        return self.theme(theme_id).split(" (", 1)[0]

    def entities(self, ids: Iterable[str]) -> list[str]:
        return [self.entity(i) for i in ids]

    def themes(self, ids: Iterable[str]) -> list[str]:
        return [self.short_theme(i) for i in ids]

    @classmethod
    def from_catalogue(cls, catalogue: NamedCatalogue) -> DisplayNames:
        return cls(
            {key: value.name or key for key, value in catalogue.entities.items()},
            {key: value.name or key for key, value in catalogue.themes.items()},
        )


@functools.lru_cache(maxsize=8)
def display_names(catalogue_dir: Path | None = None) -> DisplayNames:
    """The names of the shipped (or configured) catalogue, loaded once per process.

    A catalogue that cannot be read yields ids instead of names and a warning: names are a
    courtesy, not a reason to stop a sink or a CLI command."""
    try:
        from newswatch.agents.tagging.catalogue import load_catalogue

        return DisplayNames.from_catalogue(load_catalogue(catalogue_dir))
    except Exception as exc:
        log.warning("display names unavailable (catalogue %s): %s", catalogue_dir or "shipped", exc)
        return DisplayNames()
