"""Per-article processing, the pure part of the tag agent: decode -> tag -> rules -> encode.

`ArticleProcessor.process_batch(values)` turns raw Kafka values into `Outcome`s: the encoded
TaggedArticle and Alert records to publish, or the reason a record belongs in the dead-letter
topic. It imports neither Faust nor Kafka, so `ProcessorPool` can run it in a child process:
the worker's event loop (Faust's per-record machinery, producers, the Redis sinks) then keeps
one core while tagging and rule evaluation use the other. The agent awaits the pool for each
batch and acknowledges the batch only after publishing its outcomes, so the delivery guarantee
is unchanged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newswatch.agents.alerting.engine import EntityInfo, EntityLookup, RuleEngine
from newswatch.agents.alerting.rules import load_rules
from newswatch.streams.procpool import ReplaceablePool
from newswatch.streams.records import (
    MAX_RECORD_BYTES,
    Article,
    RecordError,
    RecordTooLargeError,
    TaggedArticle,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record: published records, or a dead-letter reason."""

    reason: str | None = None  # set: dead letter (a `DEADLETTER_REASONS` value)
    error: str | None = None
    article_id: str = ""
    tagged: bytes = b""
    alerts: tuple[tuple[str, str, str, bytes], ...] = ()  # (id, rule, severity, JSON)
    entities: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    lang: str | None = None
    fetched_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reason is None


def _fitting(body: bytes, max_bytes: int = MAX_RECORD_BYTES) -> bytes:
    """An encoded alert, or RecordTooLargeError (alerts are small within the decode limits
    of their article; this guards records built some other way)."""
    if len(body) > max_bytes:
        raise RecordTooLargeError(f"alert: {len(body)} bytes exceeds {max_bytes}")
    return body


def tag_article(tagger: Any, article: Article) -> TaggedArticle:
    """Run the tagging engine over one article."""
    result = tagger.tag(article.text, title=article.title, lang=article.lang)
    return TaggedArticle(
        article=article,
        entities=list(result.entities),
        themes=list(result.themes),
        mentions=list(result.mentions),
        lang=result.lang or article.lang,
    )


def dead_letter_reason(exc: BaseException) -> str:
    """The dead-letter reason for an exception: a RecordError says which (its class), anything
    else raised while handling a record is "processing"."""
    return exc.reason if isinstance(exc, RecordError) else "processing"


def catalogue_lookup(catalogue: Any) -> EntityLookup:
    """EntityLookup over the tagging catalogue: kind, and groups of the entity and its parents."""
    cache: dict[str, EntityInfo | None] = {}

    def get(entity_id: str | None) -> Any:
        if catalogue is None or not entity_id:
            return None
        try:
            return catalogue.entity(entity_id)
        except (KeyError, LookupError):
            return None

    def lookup(entity_id: str) -> EntityInfo | None:
        if entity_id in cache:
            return cache[entity_id]
        entity = get(entity_id)
        info = None
        if entity is not None:
            groups: set[str] = set()
            node, seen = entity, set()
            while node is not None and id(node) not in seen:
                seen.add(id(node))
                group = getattr(node, "group", None)
                if isinstance(group, str):
                    groups.add(group)
                elif isinstance(group, list | tuple | set | frozenset):
                    groups.update(g for g in group if isinstance(g, str))
                node = get(getattr(node, "parent", None))
            info = EntityInfo(kind=getattr(entity, "kind", None), groups=frozenset(groups))
        cache[entity_id] = info
        return info

    return lookup


class ArticleProcessor:
    """Decode, tag and (when `engine` is given) evaluate the rules for raw article values."""

    def __init__(
        self, tagger: Any, engine: RuleEngine | None, max_bytes: int = MAX_RECORD_BYTES
    ) -> None:
        self.tagger = tagger
        self.engine = engine
        self.max_bytes = max_bytes

    def process(self, value: bytes) -> Outcome:
        """Never raises (but for BaseExceptions such as KeyboardInterrupt): whatever goes
        wrong with one record becomes a dead-letter Outcome with its reason."""
        article_id = ""
        try:
            article = Article.loads(value)
            article_id = article.id
            try:
                tagged = tag_article(self.tagger, article)
            except Exception:  # a tagger bug must not stop the stream
                log.exception("tagger failed on article %s", article.id)
                raise
            alerts: tuple[tuple[str, str, str, bytes], ...] = ()
            if self.engine is not None:
                try:
                    raised = self.engine.evaluate(tagged)
                except Exception:
                    log.exception("rule evaluation failed on article %s", article.id)
                    raise
                alerts = tuple((a.id, a.rule, a.severity, _fitting(a.dumps())) for a in raised)
            return Outcome(
                article_id=article.id,
                tagged=tagged.dumps_within(self.max_bytes),
                alerts=alerts,
                entities=tuple(dict.fromkeys(tagged.entities)),
                themes=tuple(dict.fromkeys(tagged.theme_ids)),
                lang=tagged.lang,
                fetched_at=article.fetched_at,
            )
        except Exception as exc:
            error = str(exc) if isinstance(exc, RecordError) else repr(exc)
            return Outcome(
                reason=dead_letter_reason(exc), error=error[:2000], article_id=article_id
            )

    def process_batch(self, values: list[bytes]) -> list[Outcome]:
        return [self.process(value) for value in values]


def load_processor(catalogue_dir: Path | None, rules_file: Path | None, rules: bool) -> Any:
    """An ArticleProcessor over the shipped (or given) catalogue and rules."""
    from newswatch.agents.tagging import Tagger
    tagger = Tagger.load(catalogue_dir)
    engine = None
    if rules:
        engine = RuleEngine(load_rules(rules_file), catalogue_lookup(tagger.catalogue))
    return ArticleProcessor(tagger, engine)


# ---- the child-process side ---------------------------------------------------------------

_CHILD: ArticleProcessor | None = None


def _init_child(
    catalogue_dir: Path | None,
    rules_file: Path | None,
    rules: bool,
    loader: Callable[..., ArticleProcessor] = load_processor,
) -> None:
    global _CHILD
    _exit_with_parent()
    _CHILD = loader(catalogue_dir, rules_file, rules)
    _CHILD.process(b"{}")  # warm up imports and lazy tables before the first batch


def _exit_with_parent(interval: float = 1.0) -> None:
    """A worker killed with SIGKILL cannot stop its pool: the child leaves when orphaned."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _process_in_child(values: list[bytes]) -> list[Outcome]:
    assert _CHILD is not None, "processor pool not initialised"
    return _CHILD.process_batch(values)


#: Times a record may be in the child when it dies before it is dead-lettered: with two batches
#: in flight, an innocent record can share a crash with the guilty one.
CRASHES_PER_RECORD = 3


class ProcessorPool:
    """`await pool.process_batch(values)` in a child process.

    When the child dies (a crash is logged and the pool restarted once), the batches it held
    are processed again in the new child one record at a time, so a record that kills the
    child (a native crash, the OOM killer) is found and dead-lettered ("processing") after
    `CRASHES_PER_RECORD` deaths instead of taking the worker down with it: processing it in the
    worker's own process, as a fallback, would crash the worker on every restart. Any other
    failure of the pool processes the batch in-process (`inline`).

    `loader(catalogue_dir, rules_file, rules)` builds the child's processor (a module-level
    function, as it crosses the process boundary; tests pass their own).
    """

    def __init__(
        self,
        catalogue_dir: Path | None,
        rules_file: Path | None,
        *,
        rules: bool,
        inline: Callable[[], ArticleProcessor],
        processes: int = 1,
        loader: Callable[..., ArticleProcessor] = load_processor,
    ) -> None:
        self._args = (catalogue_dir, rules_file, rules, loader)
        self._processes = processes
        self._inline_factory = inline
        self._inline: ArticleProcessor | None = None
        self._pools = ReplaceablePool(self._new_pool)

    @property
    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return self._pools.current

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Faust's consumer) that fork would copy badly.
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=self._args,
        )
        pool.submit(_process_in_child, [])  # start and warm the child now, not on batch one
        return pool

    async def process_batch(self, values: list[bytes]) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, _process_in_child, values)
        except BrokenProcessPool as exc:
            self._restart(pool, exc)
        except Exception as exc:  # the child's side failed as a whole (it never should)
            log.error("tagging process failed on a batch (%r); it runs in-process", exc)
            if self._inline is None:
                self._inline = self._inline_factory()
            return self._inline.process_batch(values)
        log.warning("the %d articles of a batch the crash hit run one at a time", len(values))
        return [await self._process_alone(value) for value in values]

    async def _process_alone(self, value: bytes) -> Outcome:
        loop = asyncio.get_running_loop()
        for _ in range(CRASHES_PER_RECORD):
            pool = self._pool
            try:
                (outcome,) = await loop.run_in_executor(pool, _process_in_child, [value])
                return outcome
            except BrokenProcessPool as exc:
                self._restart(pool, exc)
        log.error("the tagging process died %d times on one record", CRASHES_PER_RECORD)
        return Outcome(
            reason="processing",
            error=f"the tagging process died {CRASHES_PER_RECORD} times on this record",
        )

    def _restart(self, pool: concurrent.futures.ProcessPoolExecutor, exc: BaseException) -> None:
        # other batches in flight saw the same crash: the pool is replaced once
        if self._pools.replace(pool):
            log.error("tagging process died (%r); restarted it", exc)

    def close(self) -> None:
        self._pools.close()


class InlineProcessor:
    """The same interface as ProcessorPool, in the event loop's thread."""

    def __init__(self, processor: ArticleProcessor) -> None:
        self._processor = processor

    async def process_batch(self, values: list[bytes]) -> list[Outcome]:
        return self._processor.process_batch(values)

    def close(self) -> None:
        pass
