"""`newswatch tag` and `newswatch eval`: the tagging engine on the command line.

Neither needs Kafka or Redis. The catalogue is `--catalogue DIR`, else the settings'
`catalogue_dir`, else the shipped catalogue.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from newswatch.agents.tagging import CatalogueError, Tagger, TaggingError
from newswatch.agents.tagging.evaluate import GoldError, check_row, evaluate
from newswatch.streams.cli import settings_from

_CATALOGUE = click.option(
    "--catalogue",
    "catalogue_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Catalogue folder of *.yaml files (default: settings' catalogue_dir, else shipped).",
)


def _tagger(ctx: click.Context, catalogue_dir: Path | None) -> Tagger:
    if catalogue_dir is None:
        catalogue_dir = settings_from(ctx).catalogue_dir
    try:
        return Tagger.load(catalogue_dir)
    except CatalogueError as exc:
        raise click.ClickException(f"catalogue: {exc}") from None


def _emit(doc_id: Any, result: Any) -> None:
    out = {"id": doc_id, **result.to_dict()}
    sys.stdout.buffer.write(orjson.dumps(out) + b"\n")


def _check_input(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    if "id" not in doc or not isinstance(doc["id"], str | int) or isinstance(doc["id"], bool):
        raise ValueError("field 'id' missing or not a string")
    if not isinstance(doc.get("text"), str):
        raise ValueError("field 'text' missing or not a string")
    for name in ("title", "lang"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise ValueError(f"field {name!r} must be a string")
    return doc


@click.command("tag")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@_CATALOGUE
@click.option("--lang", help="Language of the plain-text FILES (default: detected).")
@click.pass_context
def tag(
    ctx: click.Context, files: tuple[Path, ...], catalogue_dir: Path | None, lang: str | None
) -> None:
    """Tag articles: JSON lines on stdin, or plain-text FILES.

    Each input line is {"id", "text", "title"?, "lang"?}; each output line is
    {"id", "entities", "themes", "mentions", "lang"}. A bad line is reported on stderr with its
    number and skipped; the exit status is 1 if any line or file failed.
    """
    tagger = _tagger(ctx, catalogue_dir)
    failures = 0
    if files:
        for path in files:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
                _emit(str(path), tagger.tag(text, lang=lang))
            except (OSError, TaggingError) as exc:
                click.echo(f"newswatch tag: {path}: {exc}", err=True)
                failures += 1
    else:
        for number, line in enumerate(sys.stdin.buffer, 1):
            if not line.strip():
                continue
            try:
                doc = _check_input(orjson.loads(line))
                result = tagger.tag(doc["text"], title=doc.get("title"), lang=doc.get("lang"))
            except (orjson.JSONDecodeError, ValueError) as exc:
                click.echo(f"newswatch tag: line {number}: {exc}", err=True)
                failures += 1
                continue
            _emit(doc["id"], result)
    sys.stdout.flush()
    if failures:
        click.echo(f"newswatch tag: {failures} input(s) failed", err=True)
        ctx.exit(1)


@click.command("eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_CATALOGUE
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--errors", is_flag=True, help="Also list the rows the tagger got wrong.")
@click.pass_context
def eval_cmd(
    ctx: click.Context, gold: Path, catalogue_dir: Path | None, as_json: bool, errors: bool
) -> None:
    """Precision, recall and F1 per label and per language against GOLD.jsonl.

    Gold rows: {"id", "text", "lang", "entities": [...], "themes": [...]} (title optional).
    """
    tagger = _tagger(ctx, catalogue_dir)
    rows = []
    for number, line in enumerate(gold.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(check_row(orjson.loads(line)))
        except (orjson.JSONDecodeError, GoldError) as exc:
            raise click.ClickException(f"{gold}: line {number}: {exc}") from None
    report = evaluate(tagger, rows)
    if as_json:
        data = report.as_dict()
        if errors:
            data["errors"] = report.errors
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{report.rows} rows from {gold}")
    header = f"{'':24} {'P':>6} {'R':>6} {'F1':>6} {'tp':>5} {'fp':>4} {'fn':>4}"

    def line_(name: str, c: Any) -> str:
        return (
            f"{name:24} {c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f} {c.tp:5} {c.fp:4} {c.fn:4}"
        )

    click.echo(header)
    click.echo(line_("ENTITIES (micro)", report.entities))
    click.echo(line_("THEMES (micro)", report.themes))
    click.echo("\nper label")
    for label, counts in sorted(report.by_label.items()):
        click.echo(line_(label, counts))
    click.echo("\nper language: entities | themes")
    for lang in sorted(report.by_lang_entities):
        e, t = report.by_lang_entities[lang], report.by_lang_themes[lang]
        click.echo(
            f"{lang:6} entities F1 {e.f1:6.3f} (P {e.precision:.3f} R {e.recall:.3f})   "
            f"themes F1 {t.f1:6.3f} (P {t.precision:.3f} R {t.recall:.3f})"
        )
    if errors:
        click.echo("\nerrors")
        for err in report.errors:
            click.echo(
                f"  {err['id']} [{err['lang']}] missing={err['missing']} extra={err['extra']}"
            )


COMMANDS = (tag, eval_cmd)
