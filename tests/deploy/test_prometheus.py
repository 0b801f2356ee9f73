"""Prometheus configuration and alerting rules: promtool checks, a unit test for every rule,
annotations and runbooks, and metric names the code declares."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.support.deploy import (
    DEPLOY,
    STANDARD_METRICS,
    alerting_rules,
    declared_metrics,
    metrics_in,
    rule_files,
    which,
)
from tests.support.environment import unavailable

PROMETHEUS_DIR = DEPLOY / "prometheus"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "newswatch_test.yml"
SEVERITIES = {"critical", "warning", "info"}
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = which("promtool")
    if promtool is None:
        unavailable("promtool not on PATH (Debian package `prometheus`)")
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )


def test_promtool_check_config() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    files = [str(path.relative_to(PROMETHEUS_DIR)) for path in rule_files()]
    assert files, "no rule files under deploy/prometheus/rules"
    result = _promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerting_rules())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = _promtool("test", "rules", str(RULE_TESTS.relative_to(PROMETHEUS_DIR)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_unit_test_that_fires_it() -> None:
    spec = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    firing, quiet = set(), set()
    for case in spec["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names - firing == set(), "rules without a firing test case"
    assert names - quiet == set(), "rules without a test case where they stay quiet"
    assert (firing | quiet) - names == set(), "test cases for rules that do not exist"


def test_rule_names_are_unique() -> None:
    names = [rule["alert"] for rule in alerting_rules()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_rule_annotations_and_runbook(rule: dict) -> None:
    for key in REQUIRED_ANNOTATIONS:
        assert rule.get("annotations", {}).get(key), f"{rule['alert']}: no {key}"
    assert rule["labels"]["severity"] in SEVERITIES
    anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
    headings = re.findall(r"^#+\s+(.+)$", (DEPLOY / "README.md").read_text(), re.M)
    anchors = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
    assert anchor in anchors, f"deploy/README.md has no section #{anchor}"


def test_rules_use_only_declared_metrics() -> None:
    declared = declared_metrics()
    unknown = {
        (rule["alert"], name)
        for rule in alerting_rules()
        for name in metrics_in(rule["expr"])
        if name not in declared and not STANDARD_METRICS.match(name)
    }
    assert not unknown, (
        "alerting rules use metrics no module declares (renamed, or not landed yet): "
        f"{sorted(unknown)}"
    )


def test_scrape_jobs_match_rules() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    used = set()
    for rule in alerting_rules():
        used |= set(re.findall(r'job=~?"([\w-]+)"', rule["expr"]))
    assert used <= jobs, f"rules select jobs that are never scraped: {used - jobs}"


def test_kubernetes_scrape_config(tmp_path) -> None:
    """Debian's promtool is built without Kubernetes discovery: check the rest of the file
    (relabelling, rule files) with the discovery swapped for a static target."""
    config = yaml.safe_load((PROMETHEUS_DIR / "kubernetes.yml").read_text(encoding="utf-8"))
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")[0]["role"] == "endpoints"
        job["static_configs"] = [{"targets": ["pod:6066"]}]
    config["rule_files"] = [str(PROMETHEUS_DIR / "rules" / "*.yml")]
    path = tmp_path / "kubernetes.yml"
    path.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {job["job_name"] for job in config["scrape_configs"]} == {
        "newswatch-poller",
        "newswatch-worker",
    }
