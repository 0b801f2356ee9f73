"""`newswatch catalogue check`: which entities lack a name in which language.

Reads the catalogue (`--catalogue DIR`, else the settings' `catalogue_dir`, else the shipped
one) and prints, per entity, the covered languages (see agents/tagging/languages.py) it has
no alias in. Exit code 0 always unless the catalogue is broken (1), or with `--strict` when
a language of `--lang` is missing for any entity (1): a CI gate for a new model's names.
"""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from newswatch.agents.tagging import CatalogueError
from newswatch.agents.tagging.catalogue import load_catalogue
from newswatch.agents.tagging.languages import LANGUAGES, covered, missing
from newswatch.streams.cli import settings_from


@click.group("catalogue")
def catalogue() -> None:
    """Inspect the tagging catalogue."""


@catalogue.command("check")
@click.option(
    "--catalogue",
    "catalogue_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Catalogue folder of *.yaml files (default: settings' catalogue_dir, else shipped).",
)
@click.option(
    "--lang",
    "langs",
    multiple=True,
    help="Only these language codes (repeatable; default: all covered languages).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entity.")
@click.option("--strict", is_flag=True, help="Exit 1 when any entity lacks a language.")
@click.pass_context
def check(
    ctx: click.Context,
    catalogue_dir: Path | None,
    langs: tuple[str, ...],
    as_json: bool,
    strict: bool,
) -> None:
    """List, per entity, the languages lacking an alias (and where the names come from)."""
    unknown = [code for code in langs if code not in LANGUAGES]
    if unknown:
        raise click.BadParameter(
            f"unknown language(s) {unknown}; known: {', '.join(LANGUAGES)}", param_hint="--lang"
        )
    if catalogue_dir is None:
        catalogue_dir = settings_from(ctx).catalogue_dir
    try:
        cat = load_catalogue(catalogue_dir)
    except CatalogueError as exc:
        raise click.ClickException(f"catalogue: {exc}") from None
    wanted = list(langs) or list(LANGUAGES)
    gaps = 0
    for ent in sorted(cat.entities.values(), key=lambda e: e.id):
        lacking = missing(ent, wanted)
        gaps += len(lacking)
        if as_json:
            doc = {
                "entity": ent.id,
                "missing": lacking,
                "covered": sorted(covered(ent) & set(wanted)),
                "sources": dict(ent.sources),
            }
            click.echo(orjson.dumps(doc).decode())
        else:
            click.echo(f"{ent.id:<16} {len(wanted) - len(lacking):>2}/{len(wanted)}  "
                       f"missing: {' '.join(lacking) if lacking else '-'}")  # fmt: skip
    if not as_json:
        click.echo(f"{gaps} missing (entity, language) pairs over {len(cat.entities)} entities")
    if strict and gaps:
        ctx.exit(1)


COMMANDS = (catalogue,)
