"""The catalogue: entities, themes and context terms, loaded from YAML data files.

Every `*.yaml` file in the catalogue folder is read and merged, so a user extends the
catalogue by editing or dropping in a file; no code changes. See `catalogue/README` notes in
`agents/tagging/README.md` for the format.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newswatch.streams.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parent / "catalogue"
KINDS = ("company", "model", "product", "person", "chip")
_ID = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]  # base picked at run time
    """A safe loader refusing duplicate keys (a second `0.6:` would replace the first)."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class CatalogueError(ConfigError, ValueError):
    """A catalogue file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A thing we tag: a company, model, product, person or chip."""

    id: str
    kind: str
    name: str
    parent: str | None = None
    group: str | None = None
    aliases: tuple[str, ...] = ()
    # Aliases that also mean something else: accepted only with support (see tagger).
    ambiguous: tuple[str, ...] = ()
    # Case-sensitive spellings of an ambiguous alias that are accepted outright ("MiniMax").
    accept_forms: tuple[str, ...] = ()
    support: tuple[str, ...] = ()  # terms near an ambiguous alias that confirm it
    block: tuple[str, ...] = ()  # terms near an ambiguous alias that veto it
    stop: tuple[str, ...] = ()  # phrases that contain an alias but are not the entity
    versions: bool = False  # "Qwen2.5-Max", "Kimi k1.5": a version suffix extends a mention
    version_confirms: bool = True  # a version suffix confirms an ambiguous alias
    generic_support: bool = True  # generic AI context ("AI", "模型") confirms ambiguous aliases
    # Aliases (plain and ambiguous) by the key they were listed under: a language code,
    # "latin" (every Latin-script language) or "other" (by script); see languages.py.
    by_key: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sources: tuple[tuple[str, str], ...] = ()  # language -> where its names come from


@dataclass(frozen=True, slots=True)
class NearRule:
    """Term A within `within` words of term B adds `weight` (Europe Media Monitor style)."""

    a: tuple[str, ...]
    b: tuple[str, ...]
    within: int = 4
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Theme:
    """A theme: weighted evidence terms and proximity rules against a threshold."""

    id: str
    name: str
    threshold: float = 1.0
    terms: tuple[tuple[str, float], ...] = ()
    near: tuple[NearRule, ...] = ()
    stop: tuple[str, ...] = ()  # phrases that contain a term but are not evidence ("blue chip")
    requires: tuple[str, ...] = ()  # at least one must occur in the text (or requires_entity)
    requires_entity: bool = False  # any tagged entity also satisfies `requires`
    languages: tuple[str, ...] = ()  # languages given their own vocabulary in `theme_terms`
    entities: tuple[tuple[str, float], ...] = ()  # a mention of this entity is evidence


@dataclass
class Catalogue:
    """All entities, themes and generic context terms."""

    entities: dict[str, Entity] = field(default_factory=dict)
    themes: dict[str, Theme] = field(default_factory=dict)
    context: tuple[str, ...] = ()  # generic AI context terms
    sources: tuple[Path, ...] = ()

    @property
    def entity_ids(self) -> list[str]:
        return sorted(self.entities)

    @property
    def theme_ids(self) -> list[str]:
        return sorted(self.themes)

    def entity(self, entity_id: str) -> Entity:
        try:
            return self.entities[entity_id]
        except KeyError:
            raise KeyError(f"unknown entity {entity_id!r}") from None

    def theme(self, theme_id: str) -> Theme:
        return self.themes[theme_id]

    def group_members(self, group: str) -> set[str]:
        return {e.id for e in self.entities.values() if e.group == group}

    def related(self, entity_id: str) -> set[str]:
        """The entity, its parent and its children (context for disambiguation)."""
        ent = self.entities[entity_id]
        out = {entity_id}
        if ent.parent:
            out.add(ent.parent)
        out.update(e.id for e in self.entities.values() if e.parent == entity_id)
        return out


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Read and validate every `*.yaml` file of `directory` (default: the shipped one)."""
    directory = Path(directory) if directory is not None else SHIPPED_DIR
    if not directory.is_dir():
        raise CatalogueError(f"catalogue folder {directory} does not exist")
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise CatalogueError(f"catalogue folder {directory} holds no *.yaml files")
    cat = Catalogue(sources=tuple(files))
    context: list[str] = []
    names: list[tuple[Path, Any]] = []
    theme_terms: list[tuple[Path, Any]] = []
    for path in files:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CatalogueError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise CatalogueError(f"{path}: expected a mapping at the top level")
        unknown = set(data) - {"entities", "themes", "context", "names", "theme_terms"}
        if unknown:
            raise CatalogueError(f"{path}: unknown top-level keys {sorted(unknown)}")
        for raw in data.get("entities") or []:
            ent = _entity(path, raw)
            if ent.id in cat.entities:
                raise CatalogueError(f"{path}: duplicate entity id {ent.id!r}")
            cat.entities[ent.id] = ent
        for raw in data.get("themes") or []:
            theme = _theme(path, raw)
            if theme.id in cat.themes:
                raise CatalogueError(f"{path}: duplicate theme id {theme.id!r}")
            cat.themes[theme.id] = theme
        context.extend(_strings(path, "context", data.get("context") or []))
        names.append((path, data.get("names") or {}))
        theme_terms.append((path, data.get("theme_terms") or {}))
    cat.context = tuple(context)
    for path, entries in names:  # after every file: names may refer to any file's entities
        _merge_names(cat, path, entries)
    for path, entries in theme_terms:
        _merge_theme_terms(cat, path, entries)
    for ent in cat.entities.values():
        if ent.parent and ent.parent not in cat.entities:
            raise CatalogueError(f"entity {ent.id!r}: parent {ent.parent!r} is not an entity")
    for theme in cat.themes.values():
        for ent_id, _ in theme.entities:
            if ent_id not in cat.entities:
                raise CatalogueError(f"theme {theme.id!r}: unknown entity {ent_id!r}")
    return cat


_ENTITY_KEYS = {
    "id", "kind", "name", "parent", "group", "aliases", "ambiguous", "accept_forms", "support",
    "block", "stop", "versions", "version_confirms", "generic_support",
}  # fmt: skip
_THEME_KEYS = {"id", "name", "threshold", "terms", "near", "stop", "requires", "requires_entity",
               "entities"}  # fmt: skip


def _entity(path: Path, raw: Any) -> Entity:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path}: an entity must be a mapping, got {raw!r}")
    where = f"{path}: entity {raw.get('id')!r}"
    unknown = set(raw) - _ENTITY_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    ent_id = raw.get("id")
    if not isinstance(ent_id, str) or not _ID.match(ent_id):
        raise CatalogueError(f"{where}: id must be lowercase snake case")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise CatalogueError(f"{where}: kind must be one of {KINDS}, got {kind!r}")
    aliases = _strings(where, "aliases", raw.get("aliases") or [])
    ambiguous = _strings(where, "ambiguous", raw.get("ambiguous") or [])
    if not aliases and not ambiguous:
        raise CatalogueError(f"{where}: no aliases")
    by_key = _by_key(where, raw.get("aliases")) + _by_key(where, raw.get("ambiguous"))
    return Entity(
        id=ent_id,
        kind=kind,
        name=str(raw.get("name") or ent_id),
        parent=raw.get("parent"),
        group=raw.get("group"),
        aliases=tuple(aliases),
        ambiguous=tuple(ambiguous),
        accept_forms=tuple(_strings(where, "accept_forms", raw.get("accept_forms") or [])),
        support=tuple(_strings(where, "support", raw.get("support") or [])),
        block=tuple(_strings(where, "block", raw.get("block") or [])),
        stop=tuple(_strings(where, "stop", raw.get("stop") or [])),
        versions=bool(raw.get("versions", False)),
        version_confirms=bool(raw.get("version_confirms", True)),
        generic_support=bool(raw.get("generic_support", True)),
        by_key=by_key,
    )


def _by_key(where: str, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A per-language alias mapping as (key, aliases) pairs; a plain list counts as "latin"."""
    if isinstance(value, dict):
        return tuple((str(k), tuple(_strings(where, str(k), v or []))) for k, v in value.items())
    if isinstance(value, list):
        return (("latin", tuple(_strings(where, "aliases", value))),)
    return ()


SOURCES = ("kb", "translit", "press")  # knowledge-base label, transliteration rule, news text
_NAME_KEYS = {"source", "aliases", "ambiguous", "support", "block", "stop"}


def _merge_names(cat: Catalogue, path: Path, entries: Any) -> None:
    """Merge a `names:` section (aliases by language, with their source) into its entities.

    `names: {entity_id: {source, aliases: {lang: [...]}, ambiguous: {lang: [...]}, support,
    block, stop}}`; `source` is one of SOURCES (or several joined by "+"), for every
    language or as a mapping per language.
    """
    if not isinstance(entries, dict):
        raise CatalogueError(f"{path}: names must map an entity id to its names")
    for ent_id, raw in entries.items():
        where = f"{path}: names {ent_id!r}"
        if ent_id not in cat.entities:
            raise CatalogueError(f"{where}: unknown entity")
        if not isinstance(raw, dict) or set(raw) - _NAME_KEYS:
            raise CatalogueError(f"{where}: expected a mapping with keys {sorted(_NAME_KEYS)}")
        aliases = _by_key(where, raw.get("aliases") or {})
        ambiguous = _by_key(where, raw.get("ambiguous") or {})
        langs = {k for k, _ in aliases + ambiguous}
        source = raw.get("source")
        sources: dict[str, Any]
        sources = source if isinstance(source, dict) else dict.fromkeys(langs, source)
        for lang in langs:
            value = sources.get(lang)
            if not isinstance(value, str) or not set(value.split("+")) <= set(SOURCES):
                raise CatalogueError(
                    f"{where}: source of {lang!r} must be one of {SOURCES} (joined by '+'),"
                    f" got {value!r}"
                )
        ent = cat.entities[ent_id]
        flat = [a for _, group in aliases for a in group]
        flat_ambiguous = [a for _, group in ambiguous for a in group]
        cat.entities[ent_id] = dataclasses.replace(
            ent,
            aliases=ent.aliases + tuple(flat),
            ambiguous=ent.ambiguous + tuple(flat_ambiguous),
            support=ent.support + tuple(_strings(where, "support", raw.get("support") or [])),
            block=ent.block + tuple(_strings(where, "block", raw.get("block") or [])),
            stop=ent.stop + tuple(_strings(where, "stop", raw.get("stop") or [])),
            by_key=ent.by_key + aliases + ambiguous,
            sources=ent.sources + tuple(sorted((k, sources[k]) for k in langs)),
        )


def _theme(path: Path, raw: Any) -> Theme:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path}: a theme must be a mapping, got {raw!r}")
    where = f"{path}: theme {raw.get('id')!r}"
    unknown = set(raw) - _THEME_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    theme_id = raw.get("id")
    if not isinstance(theme_id, str) or not _ID.match(theme_id):
        raise CatalogueError(f"{where}: id must be lowercase snake case")
    terms: list[tuple[str, float]] = []
    raw_terms = raw.get("terms") or {}
    if not isinstance(raw_terms, dict):
        raise CatalogueError(f"{where}: terms must map a weight to a list of terms")
    for weight, items in raw_terms.items():
        w = _number(where, "terms weight", weight)
        terms.extend((t, w) for t in _strings(where, f"terms[{weight}]", items, phrases=True))
    rules = []
    for rule in raw.get("near") or []:
        if not isinstance(rule, dict) or not {"a", "b"} <= set(rule):
            raise CatalogueError(f"{where}: a near rule needs a and b, got {rule!r}")
        rules.append(
            NearRule(
                a=tuple(_strings(where, "near.a", rule["a"])),
                b=tuple(_strings(where, "near.b", rule["b"])),
                within=int(rule.get("within", 4)),
                weight=_number(where, "near.weight", rule.get("weight", 1.0)),
            )
        )
    entities = raw.get("entities") or {}
    if not isinstance(entities, dict):
        raise CatalogueError(f"{where}: entities must map an entity id to a weight")
    return Theme(
        id=theme_id,
        name=str(raw.get("name") or theme_id),
        threshold=_number(where, "threshold", raw.get("threshold", 1.0)),
        terms=tuple(terms),
        near=tuple(rules),
        stop=tuple(_strings(where, "stop", raw.get("stop") or [])),
        requires=tuple(_strings(where, "requires", raw.get("requires") or [])),
        requires_entity=bool(raw.get("requires_entity", False)),
        entities=tuple((str(k), _number(where, "entities", v)) for k, v in entities.items()),
    )


def _strings(where: object, name: str, value: Any, phrases: bool = False) -> list[str]:
    """A list of non-empty strings; a mapping (e.g. per language) is flattened.

    A `*` inside a multi-word term ("контрол* за экспорт*") is allowed only where `phrases`
    (theme terms); elsewhere only a leading or trailing `*` is meaningful."""
    if isinstance(value, dict):
        items: Iterable[Any] = [v for group in value.values() for v in (group or [])]
    elif isinstance(value, list):
        items = value
    else:
        raise CatalogueError(f"{where}: {name} must be a list (or a mapping of lists)")
    out = []
    for item in items:
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip(" *"):
            raise CatalogueError(f"{where}: {name}: {item!r} is not a non-empty string")
        if not phrases and "*" in item.strip().strip("*"):
            raise CatalogueError(
                f"{where}: {name}: {item!r}: a '*' inside a term is only allowed in theme terms"
            )
        out.append(item)
    return out


def _number(where: object, name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CatalogueError(f"{where}: {name} must be a number, got {value!r}") from None


def _merge_theme_terms(cat: Catalogue, path: Path, entries: Any) -> None:
    """Merge a `theme_terms:` section (a theme's vocabulary per language) into its themes.

    `theme_terms: {theme_id: {lang: {terms: {weight: [...]}, near: [...], requires: [...],
    stop: [...]}}}`, in the format of a theme's own fields; each language's near rules are
    rules of their own.
    """
    if not isinstance(entries, dict):
        raise CatalogueError(f"{path}: theme_terms must map a theme id to languages")
    for theme_id, by_lang in entries.items():
        where = f"{path}: theme_terms {theme_id!r}"
        if theme_id not in cat.themes:
            raise CatalogueError(f"{where}: unknown theme")
        if not isinstance(by_lang, dict):
            raise CatalogueError(f"{where}: expected a mapping of language codes")
        theme = cat.themes[theme_id]
        for lang, raw in by_lang.items():
            if not isinstance(raw, dict) or set(raw) - {"terms", "near", "requires", "stop"}:
                raise CatalogueError(
                    f"{where}: {lang!r}: expected a mapping with terms, near, requires, stop"
                )
            part = _theme(path, {"id": theme_id, **raw})
            theme = dataclasses.replace(
                theme,
                terms=theme.terms + part.terms,
                near=theme.near + part.near,
                requires=theme.requires + part.requires,
                stop=theme.stop + part.stop,
                languages=(*theme.languages, str(lang)),
            )
        cat.themes[theme_id] = theme
