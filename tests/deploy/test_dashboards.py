"""Static checks of the provisioned Grafana dashboards: generated from build_dashboards.py,
unique ids, the provisioned datasource, defined variables, PromQL that parses, and metric names
that the code declares. The live check against a real Prometheus is test_dashboards_live.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import (
    DEPLOY,
    STANDARD_METRICS,
    dashboards,
    declared_metrics,
    metrics_in,
    panel_queries,
    substitute,
    variables_in,
    which,
)
from tests.support.environment import unavailable

PROVISIONING = DEPLOY / "grafana" / "provisioning"
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
                    "__range_ms", "__all", "__dashboard", "__from", "__to", "__name"}  # fmt: skip


def _datasource_uid() -> str:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    (datasource,) = config["datasources"]
    return datasource["uid"]


def _builder():
    # deploy/ and bench/ are plain folders, imported as namespace packages from the
    # repository root, which pytest puts on sys.path (tests/README.md).
    from deploy.grafana import build_dashboards

    return build_dashboards


def test_three_dashboards_are_provisioned() -> None:
    found = dashboards()
    titles = {dashboard["title"] for dashboard in found.values()}
    assert titles == {
        "newswatch / Overview",
        "newswatch / Pipeline health",
        "newswatch / Entity drill-down",
    }
    uids = [dashboard["uid"] for dashboard in found.values()]
    assert len(uids) == len(set(uids))


def test_committed_json_is_the_generator_output() -> None:
    rendered = _builder().render()
    for name, text in rendered.items():
        committed = (DEPLOY / "grafana" / "dashboards" / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"{name} differs from build_dashboards.py; run "
            "`.venv/bin/python deploy/grafana/build_dashboards.py`"
        )
    assert set(rendered) == set(dashboards())


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_panel_ids_unique_and_layout_fits(name: str) -> None:
    panels = dashboards()[name]["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not area & cells, f"{name}: panel {panel['title']!r} overlaps another"
        cells |= area


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_datasource_is_the_provisioned_one(name: str) -> None:
    uid = _datasource_uid()
    dashboard = dashboards()[name]
    for panel, target in panel_queries(dashboard):
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert target["datasource"]["uid"] == uid, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == uid, variable["name"]


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_variable_used_is_defined(name: str) -> None:
    dashboard = dashboards()[name]
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used: set[str] = set()
    for panel, target in panel_queries(dashboard):
        used |= variables_in(target["expr"]) | variables_in(panel["title"])
    undefined = used - defined - GRAFANA_BUILTINS
    assert not undefined, f"{name} uses undefined variables {undefined}"


def test_entity_dashboard_has_the_drill_down_variables() -> None:
    (entity,) = [d for d in dashboards().values() if d["uid"] == "newswatch-entity"]
    variables = {v["name"]: v for v in entity["templating"]["list"]}
    assert set(variables) == {"entity", "theme", "language"}
    for variable in variables.values():
        assert variable["definition"].startswith("label_values(")
        used = [t for _, t in panel_queries(entity) if f"${variable['name']}" in t["expr"]]
        assert used, f"variable {variable['name']} filters no panel"


def test_dashboards_use_only_declared_metrics() -> None:
    declared = declared_metrics()
    unknown = set()
    for name, dashboard in dashboards().items():
        for panel, target in panel_queries(dashboard):
            for metric in metrics_in(target["expr"]):
                if metric not in declared and not STANDARD_METRICS.match(metric):
                    unknown.add((name, panel["title"], metric))
        for variable in dashboard["templating"]["list"]:
            for metric in metrics_in(variable.get("definition", "").replace("label_values", "")):
                if metric.startswith("newswatch_") and metric not in declared:
                    unknown.add((name, f"${variable['name']}", metric))
    assert not unknown, (
        "dashboards use metrics no module declares (renamed, or not landed yet): "
        + "; ".join(f"{d} / {p}: {m}" for d, p, m in sorted(unknown))
    )


def test_every_query_parses(tmp_path: Path) -> None:
    promtool = which("promtool")
    if promtool is None:
        unavailable("promtool not on PATH (Debian package `prometheus`)")
    rules = []
    for name, dashboard in dashboards().items():
        for index, (_, target) in enumerate(panel_queries(dashboard)):
            record = f"check:{name.removesuffix('.json')}:{index}"
            rules.append({"record": record, "expr": substitute(target["expr"])})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
