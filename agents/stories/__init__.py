"""The story engine: a pure library (no Faust, Kafka or Redis) grouping articles into stories.

from newswatch.agents.stories import StoryArticle, StoryEngine
engine = StoryEngine()                      # StoryEngine(StoryConfig(...)) to tune
result = engine.add(StoryArticle(id=..., title=..., text=..., lang=..., published=...,
                                 entities=tagged.entities, themes=tagged.theme_ids))
result.story_id, result.how, result.story   # the story's state after the article joined
data = engine.snapshot(); engine = StoryEngine.restore(data)
changes = engine.changes(); ...; engine.checkpointed()   # incremental: only what changed
engine = StoryEngine.restore_records(changes.header, records)
"""

from newswatch.agents.stories.engine import (
    Assignment,
    Changes,
    Story,
    StoryArticle,
    StoryConfig,
    StoryEngine,
    story_id_for,
)
from newswatch.agents.stories.gazetteer import Gazetteer, GazetteerError

__all__ = [
    "Assignment",
    "Changes",
    "Gazetteer",
    "GazetteerError",
    "Story",
    "StoryArticle",
    "StoryConfig",
    "StoryEngine",
    "story_id_for",
]
