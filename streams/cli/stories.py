"""`newswatch stories cluster` and `newswatch stories eval`: the story engine offline
(`stories tail`, which follows the stories in Redis, is in story_tail.py).

Neither needs Kafka or Redis. Articles are tagged with the tagging engine (the settings'
catalogue), unless an input line brings its own "entities" and "themes", then fed to the
story engine in (published, id) order, as a stream that arrived in publication order would.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from newswatch.agents.stories import StoryArticle, StoryEngine
from newswatch.agents.stories.evaluate import (
    GoldError,
    PairReport,
    Tagged,
    baseline_predictions,
    check_row,
    engine_predictions,
    score,
)
from newswatch.agents.tagging import CatalogueError, Tagger, TaggingError
from newswatch.streams.cli import settings_from
from newswatch.streams.cli.story_tail import tail


def _tagger(ctx: click.Context) -> Tagger:
    try:
        return Tagger.load(settings_from(ctx).catalogue_dir)
    except CatalogueError as exc:
        raise click.ClickException(f"catalogue: {exc}") from None


def _labels(doc: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {name!r} must be a list of strings")
    return tuple(value)


def _check_input(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        raise ValueError("field 'id' missing or not a non-empty string")
    if not isinstance(doc.get("title", ""), str) or not isinstance(doc.get("text", ""), str):
        raise ValueError("fields 'title' and 'text' must be strings")
    if not (doc.get("title") or doc.get("text")):
        raise ValueError("an article needs a 'title' or a 'text'")
    for name in ("lang", "feed", "url"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise ValueError(f"field {name!r} must be a string")
    published = doc.get("published")
    if not isinstance(published, int | float) or isinstance(published, bool):
        raise ValueError("field 'published' must be epoch seconds")
    if not 0 <= published < 1e11:
        raise ValueError("field 'published' out of range")
    return doc


def _to_article(doc: dict[str, Any], tagger: Tagger) -> StoryArticle:
    entities, themes = _labels(doc, "entities"), _labels(doc, "themes")
    if entities is None or themes is None:
        result = tagger.tag(doc.get("text", ""), title=doc.get("title"), lang=doc.get("lang"))
        entities = entities if entities is not None else tuple(result.entities)
        themes = themes if themes is not None else tuple(result.theme_ids)
    return StoryArticle(
        id=doc["id"],
        title=doc.get("title", ""),
        text=doc.get("text", ""),
        lang=doc.get("lang"),
        published=float(doc["published"]),
        feed=doc.get("feed") or "",
        url=doc.get("url"),
        entities=entities,
        themes=themes,
    )


@click.group("stories")
def stories() -> None:
    """Group articles into stories (near-duplicates and the same event across languages)."""


@stories.command("cluster")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--states",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the final state of every story as JSON lines to this file.",
)
@click.option(
    "--order",
    type=click.Choice(["published", "input"]),
    default="published",
    show_default=True,
    help="Feed articles by (published, id), or in input order as they come (streams: for "
    "large backfills already in order, memory stays bounded).",
)
@click.pass_context
def cluster(ctx: click.Context, file: Any, states: Path | None, order: str) -> None:
    """Assign every article of FILE (JSON lines, "-" for stdin) to a story.

    Input lines: {"id", "title", "text", "lang", "published"} (published: epoch seconds;
    optional "feed", "url", and "entities"/"themes" to skip tagging). Output lines, in input
    order: {"id", "story"}. A bad line is reported on stderr with its number and skipped; the
    exit status is 1 if any line failed.
    """
    tagger = _tagger(ctx)
    engine = StoryEngine()
    out = sys.stdout.buffer
    final: dict[str, dict[str, Any]] = {}
    failures = 0

    def assign(article: StoryArticle) -> str:
        result = engine.add(article)
        for story in result.closed:
            if states is not None:
                final[story["id"]] = story
        return result.story_id

    articles: list[StoryArticle] = []
    for number, line in enumerate(file, 1):
        if not line.strip():
            continue
        try:
            article = _to_article(_check_input(orjson.loads(line)), tagger)
        except (orjson.JSONDecodeError, ValueError, TaggingError) as exc:
            click.echo(f"newswatch stories cluster: line {number}: {exc}", err=True)
            failures += 1
            continue
        if order == "input":
            out.write(orjson.dumps({"id": article.id, "story": assign(article)}) + b"\n")
        else:
            articles.append(article)
    if order == "published":
        assigned = {a.id: assign(a) for a in sorted(articles, key=lambda a: (a.published, a.id))}
        for article in articles:
            out.write(orjson.dumps({"id": article.id, "story": assigned[article.id]}) + b"\n")
    out.flush()
    if states is not None:
        for story in engine.open_stories():
            final[story["id"]] = story
        with states.open("wb") as handle:
            for story in sorted(final.values(), key=lambda s: (s["first_seen"], s["id"])):
                handle.write(orjson.dumps(story) + b"\n")
    if failures:
        click.echo(f"newswatch stories cluster: {failures} line(s) failed", err=True)
        ctx.exit(1)


def _report_lines(name: str, report: PairReport) -> list[str]:
    lines = []
    for label, c in (
        ("overall", report.overall),
        ("same-language", report.same_lang),
        ("cross-language", report.cross_lang),
    ):
        lines.append(
            f"{name:9} {label:15} P {c.precision:.3f}  R {c.recall:.3f}  F1 {c.f1:.3f}"
            f"  (tp {c.tp}, fp {c.fp}, fn {c.fn})"
        )
    return lines


@stories.command("eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--errors", is_flag=True, help="Also list split and merged gold stories.")
@click.pass_context
def eval_cmd(ctx: click.Context, gold: Path, as_json: bool, errors: bool) -> None:
    """Pairwise precision, recall and F1 of the engine and the naive baseline on GOLD.jsonl.

    Gold rows: {"id", "title", "text", "lang", "published", "story"} (feed, url optional).
    The baseline puts articles together that share their entity set, theme set and 3-day
    bucket.
    """
    tagger = _tagger(ctx)
    rows = []
    for number, line in enumerate(gold.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(check_row(orjson.loads(line)))
        except (orjson.JSONDecodeError, GoldError) as exc:
            raise click.ClickException(f"{gold}: line {number}: {exc}") from None
    if len({r.id for r in rows}) != len(rows):
        raise click.ClickException(f"{gold}: duplicate article ids")
    tags = {}
    for row in rows:
        result = tagger.tag(row.text, title=row.title, lang=row.lang)
        tags[row.id] = Tagged(tuple(result.entities), tuple(result.theme_ids))
    truth = {r.id: r.story for r in rows}
    langs = {r.id: r.lang for r in rows}
    predicted = engine_predictions(rows, tags)
    engine_report = score(truth, predicted, langs)
    baseline_report = score(truth, baseline_predictions(rows, tags), langs)
    if as_json:
        data: dict[str, Any] = {
            "articles": len(rows),
            "stories": len(set(truth.values())),
            "languages": sorted(set(langs.values())),
            "engine": engine_report.as_dict(),
            "baseline": baseline_report.as_dict(),
        }
        if errors:
            data["errors"] = _errors(truth, predicted)
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(
        f"{len(rows)} articles, {len(set(truth.values()))} gold stories, "
        f"{len(set(langs.values()))} languages from {gold}"
    )
    for text in _report_lines("engine", engine_report) + _report_lines("baseline", baseline_report):
        click.echo(text)
    if errors:
        for item in _errors(truth, predicted):
            click.echo(f"  {item['kind']:6} {item['detail']}")


def _errors(truth: dict[str, str], predicted: dict[str, str]) -> list[dict[str, str]]:
    """Gold stories split over several predicted ones, predicted ones merging gold stories."""
    out = []
    by_gold: dict[str, dict[str, list[str]]] = {}
    by_pred: dict[str, set[str]] = {}
    for aid in sorted(truth):
        by_gold.setdefault(truth[aid], {}).setdefault(predicted[aid], []).append(aid)
        by_pred.setdefault(predicted[aid], set()).add(truth[aid])
    for story, parts in sorted(by_gold.items()):
        if len(parts) > 1:
            detail = " | ".join(",".join(ids) for ids in parts.values())
            out.append({"kind": "split", "detail": f"{story}: {detail}"})
    for pred, stories_ in sorted(by_pred.items()):
        if len(stories_) > 1:
            out.append({"kind": "merge", "detail": f"{pred}: {','.join(sorted(stories_))}"})
    return out


stories.add_command(tail)

COMMANDS = (stories,)
