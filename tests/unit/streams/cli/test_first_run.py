"""The first-run pieces: display names in titles and lines, and up.json (mode, staleness)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from newswatch.agents.alerting import RuleEngine, SpikeConfig, parse_rules, spike_alert
from newswatch.agents.alerting.processing import catalogue_lookup
from newswatch.agents.tagging.catalogue import load_catalogue
from newswatch.streams import endpoints
from newswatch.streams.cli.alerts import format_alert
from newswatch.streams.names import DisplayNames, display_names
from newswatch.streams.records import Alert, Article, TaggedArticle, ThemeHit
from newswatch.streams.settings import load_settings

RULE = """
- id: cn_export
  severity: high
  when: {entity_groups: [chinese_ai], themes: [export_controls]}
  title: "{entities} x {themes}: {title}"
"""


def test_shipped_catalogue_names() -> None:
    names = display_names(None)
    assert names.entity("deepseek") == "DeepSeek"
    assert names.entity("huawei_ascend") == "Huawei Ascend"
    assert names.entity("not_in_catalogue") == "not_in_catalogue"
    assert names.short_theme("market_impact") == "Market impact"


def test_alert_titles_use_display_names_records_keep_ids() -> None:
    catalogue = load_catalogue()
    engine = RuleEngine(
        parse_rules(RULE), catalogue_lookup(catalogue), DisplayNames.from_catalogue(catalogue)
    )
    article = Article(id="a1", feed_id="f", title="Curbs tighten", fetched_at=1.0)
    tagged = TaggedArticle(
        article=article,
        entities=["deepseek", "huawei_ascend"],
        themes=[ThemeHit("export_controls", 3.0)],
    )
    (alert,) = engine.evaluate(tagged, now=2.0)
    assert alert.title == ("DeepSeek, Huawei Ascend x Export controls on technology: Curbs tighten")
    assert alert.entities == ["deepseek", "huawei_ascend"]


def test_spike_title_uses_the_label() -> None:
    config = SpikeConfig(window=3600, baseline=4 * 3600, ratio=3.0, min_count=5)
    alert = spike_alert("entity", "deepseek", 0.0, 12, [1, 1, 1, 1], config, label="DeepSeek")
    assert alert is not None and alert.title.startswith("Spike: DeepSeek in 12 articles")


def test_tail_line_names_and_one_line() -> None:
    alert = Alert(
        id="x",
        rule="cn_export",
        severity="high",
        title="Line one\nline\x1b[31m two",
        entities=["deepseek", "qwen"],
        themes=["export_controls"],
        url="https://n.example/1",
        created_at=0.0,
    )
    line = format_alert(alert, names=display_names(None))
    assert line == (
        "1970-01-01T00:00:00Z HIGH     cn_export [DeepSeek, Qwen | Export controls on technology]"
        " Line one line [31m two <https://n.example/1>"
    )


def _endpoints(pid: int) -> endpoints.Endpoints:
    return endpoints.Endpoints(
        pid=pid,
        redis_url="redis://127.0.0.1:6390/0",
        kafka_bootstrap=["127.0.0.1:9099"],
        web_host="127.0.0.1",
        worker_port=6066,
        poller_port=6067,
        supervisor_port=6068,
    )


def test_up_json_is_private_and_read_back(tmp_path: Path) -> None:
    path = endpoints.write(tmp_path, _endpoints(os.getpid()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert endpoints.read(tmp_path) == _endpoints(os.getpid()).__class__(
        **{**_endpoints(os.getpid()).__dict__, "started_at": endpoints.read(tmp_path).started_at}
    )
    settings, note = endpoints.with_endpoints(load_settings(state_dir=tmp_path))
    assert settings.redis_dsn == "redis://127.0.0.1:6390/0"
    assert settings.kafka_servers == ["127.0.0.1:9099"]
    assert note and str(path) in note
    endpoints.remove(tmp_path, pid=os.getpid() + 1)  # not ours: kept
    assert path.exists()
    endpoints.remove(tmp_path, pid=os.getpid())
    assert not path.exists()


def test_configured_redis_wins_and_stale_file_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    endpoints.write(tmp_path, _endpoints(dead.pid))
    settings, note = endpoints.with_endpoints(load_settings(state_dir=tmp_path))
    assert settings.redis_url is None and note and "not running" in note
    mine = load_settings(state_dir=tmp_path, redis_url="redis://elsewhere:1/0")
    assert endpoints.with_endpoints(mine) == (mine, None)
    (tmp_path / "up.json").write_text("{not json")
    settings, note = endpoints.with_endpoints(load_settings(state_dir=tmp_path))
    assert settings.redis_url is None and note and "not an up.json" in note


def test_status_without_up(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newswatch.streams.cli import main

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_STATE_DIR"] = str(tmp_path)
    result = CliRunner(env=env).invoke(main, ["status"])
    assert result.exit_code == 3 and "not running" in result.output
    dead = subprocess.Popen(["true"])
    dead.wait()
    endpoints.write(tmp_path, _endpoints(dead.pid))
    result = CliRunner(env=env).invoke(main, ["status"])
    assert result.exit_code == 3 and f"pid {dead.pid}, which is gone" in result.output


def test_second_up_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newswatch.streams.cli import main

    endpoints.write(tmp_path, _endpoints(os.getpid()))  # a live `up` (this process)
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_STATE_DIR"] = str(tmp_path)
    result = CliRunner(env=env).invoke(main, ["up"])
    assert (
        result.exit_code == 1
        and f"already runs with this state directory (pid {os.getpid()}" in result.output
    )
