"""The multilingual tagging engine: a pure library (no Faust, Kafka or Redis).

from newswatch.agents.tagging import Tagger
tagger = Tagger.load()            # the shipped catalogue, or Tagger.load(Path("my/catalogue"))
result = tagger.tag(text, title=title, lang=None)
result.entities, result.themes, result.mentions, result.lang
"""

from newswatch.agents.tagging.catalogue import (
    Catalogue,
    CatalogueError,
    Entity,
    NearRule,
    Theme,
    load_catalogue,
)
from newswatch.agents.tagging.tagger import Tagger, TaggingError, TagResult

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Entity",
    "NearRule",
    "TagResult",
    "Tagger",
    "TaggingError",
    "Theme",
    "load_catalogue",
]
