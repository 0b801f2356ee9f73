"""Shared helpers of the deploy tests: paths, the metric names the code declares, the metric
names a PromQL expression uses, the settings and commands the project has."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import yaml

from tests.support.environment import ROOT

DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus" / "rules"
SOURCE_TREES = (ROOT / "streams", ROOT / "agents")

# Series every Prometheus scrape adds, and the process collector of prometheus-client.
STANDARD_METRICS = re.compile(r"^(up|scrape_\w+|process_\w+|python_\w+)$")

_CONSTRUCTOR = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*(?:name\s*=\s*)?[\"'](newswatch_\w+)[\"']"
)
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}


def declared_metrics() -> dict[str, str]:
    """Exposed series name -> declaring file, for every `newswatch_*` metric in the sources.

    prometheus-client appends `_total` to counters (stripping one the author wrote) and
    `_bucket`/`_sum`/`_count` to histograms; the map holds the names Prometheus stores.
    """
    names: dict[str, str] = {}
    for tree in SOURCE_TREES:
        for path in sorted(tree.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for kind, name in _CONSTRUCTOR.findall(text):
                base = name.removesuffix("_total") if kind == "Counter" else name
                for suffix in _SUFFIXES[kind]:
                    names[base + suffix] = str(path.relative_to(ROOT))
    return names


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_IDENT = re.compile(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)")
_NOT_METRICS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and",
    "or", "unless", "le", "inf", "nan",
}  # fmt: skip


def metrics_in(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (functions, keywords and labels excluded)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(1)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in _NOT_METRICS:
            continue  # a function call or a keyword
        names.add(name)
    return names


def dashboards() -> dict[str, dict]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def panel_queries(dashboard: dict) -> Iterator[tuple[dict, dict]]:
    """(panel, target) for every query of every panel, rows included."""
    for panel in dashboard.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                if target.get("expr"):
                    yield inner, target


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.yml"))


def alerting_rules() -> list[dict]:
    rules = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


@cache
def settings_env_names() -> frozenset[str]:
    """Every top-level NEWSWATCH_* name that `Settings` accepts."""
    from newswatch.streams.settings import CONFIG_ENV, ENV_PREFIX, Settings

    return frozenset({ENV_PREFIX + name.upper() for name in Settings.model_fields} | {CONFIG_ENV})


def env_name_known(name: str) -> bool:
    """NEWSWATCH_POLLER__CONCURRENCY is known: `poller` is a field, `concurrency` one of its."""
    from newswatch.streams.settings import ENV_PREFIX, Settings

    if name in settings_env_names():
        return True
    top, _, nested = name.partition("__")
    field = Settings.model_fields.get(top.removeprefix(ENV_PREFIX).lower())
    if field is None or not nested:
        return False
    model = field.annotation
    for part in nested.lower().split("__"):
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return False
        model = fields[part].annotation
    return True


@cache
def cli_commands() -> frozenset[str]:
    from newswatch.streams.cli import main

    return frozenset(main.commands)


def which(name: str) -> str | None:
    return shutil.which(name)


_VARIABLE = re.compile(r"\$\{?(\w+)")


def variables_in(text: str) -> set[str]:
    """Grafana variables ($name or ${name}) used in a query or title."""
    return set(_VARIABLE.findall(text))


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Grafana's variables replaced as Grafana would, for a short-lived test Prometheus:
    $__rate_interval 1m, $__interval 15s, $__range 10m, other variables by `values` or ".*"
    (the dashboards' "All" value)."""
    values = values or {}
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
    expr = expr.replace("$__range", "10m")
    return _VARIABLE.sub(lambda m: values.get(m.group(1), ".*"), expr)
