"""Settings: environment beats file, bad keys are named, secrets are masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newswatch.streams.cli import main
from newswatch.streams.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("NEWSWATCH_"):
            monkeypatch.delenv(name)


def test_defaults_are_valid() -> None:
    settings = load_settings()
    assert settings.kafka_servers == []
    assert settings.redis_url is None
    assert settings.topic("articles") == "newswatch.articles.v1"


def test_fixed_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWATCH_KAFKA_SERVERS", "k1:9092, k2:9093")
    monkeypatch.setenv("NEWSWATCH_REDIS_URL", "redis://localhost:6379/1")
    settings = load_settings()
    assert settings.kafka_servers == ["k1:9092", "k2:9093"]
    assert settings.redis_dsn == "redis://localhost:6379/1"


def test_env_beats_file_and_nested_values_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "newswatch.yaml"
    config.write_text("topic_prefix: fromfile\npoller:\n  concurrency: 10\n  per_host: 3\n")
    monkeypatch.setenv("NEWSWATCH_POLLER__CONCURRENCY", "77")
    settings = load_settings(config)
    assert settings.topic_prefix == "fromfile"
    assert settings.poller.concurrency == 77
    assert settings.poller.per_host == 3


def test_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('topic_prefix = "t"\n[alerts]\nspike_ratio = 4.5\n')
    settings = load_settings(config)
    assert settings.topic_prefix == "t"
    assert settings.alerts.spike_ratio == 4.5


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"NEWSWATCH_KAFKA_SERVERS": "no-port"}, "kafka_servers"),
        ({"NEWSWATCH_REDIS_URL": "http://x"}, "redis_url"),
        ({"NEWSWATCH_POLLER__CONCURRENCY": "many"}, "poller.concurrency"),
        ({"NEWSWATCH_WEB_PORT": "70000"}, "web_port"),
        ({"NEWSWATCH_TOPIC_PREFX": "x"}, "NEWSWATCH_TOPIC_PREFX"),
    ],
)
def test_bad_values_name_the_key(
    env: dict[str, str], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings()


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("poller:\n  concurency: 3\n")
    with pytest.raises(
        ConfigError, match=r"poller\.concurency: unknown setting \(from config file\)"
    ):
        load_settings(config)


def test_broken_file_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("poller: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid"):
        load_settings(config)


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "redis_url: redis://user:hunter2@db:6379/0\n"
        "kafka_security:\n  protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n"
        "  sasl_username: svc\n  sasl_password: s3cret-pass\n"
        "webhooks:\n  endpoints:\n    - name: ops\n      url: https://hooks.example/x\n"
        "      secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]\n"
    )
    result = CliRunner().invoke(main, ["--config", str(config), "check-config"])
    assert result.exit_code == 0, result.output
    for secret in ("hunter2", "s3cret-pass", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert secret not in result.output
    assert "redis://user:********@db:6379/0" in result.output
    assert "sasl_username: svc" in result.output


def test_check_config_rejects_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWATCH_TOPIC_PARTITIONS", "0")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert "topic_partitions" in result.output


def test_ssrf_guard_is_on_by_default_for_every_client() -> None:
    settings = load_settings()
    for section in (settings.poller, settings.webhooks):
        assert section.allow_private_networks is False
        assert section.allowed_networks == []


@pytest.mark.parametrize(
    "value", ['["127.0.0.1/32", "fd00::/8"]', "127.0.0.1/32, fd00::/8", "127.0.0.1,fd00::/8"]
)
def test_allowed_networks_from_env_json_or_commas(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("NEWSWATCH_POLLER__ALLOWED_NETWORKS", value)
    monkeypatch.setenv("NEWSWATCH_WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true")
    settings = load_settings()
    assert [str(n) for n in settings.poller.allowed_networks] == ["127.0.0.1/32", "fd00::/8"]
    assert settings.webhooks.allow_private_networks is True
    assert settings.poller.allow_private_networks is False
    assert settings.masked()["poller"]["allowed_networks"] == ["127.0.0.1/32", "fd00::/8"]


def test_allowed_networks_from_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("webhooks:\n  allowed_networks: [10.20.0.0/16]\n")
    assert [str(n) for n in load_settings(config).webhooks.allowed_networks] == ["10.20.0.0/16"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1/8", "'127.0.0.1/8' is not a network in CIDR notation: 127.0.0.1/8 has host"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a network in CIDR notation"),
        ("intranet", "'intranet' is not a network in CIDR notation"),
        ('["10.0.0.0/8"', "not a JSON list of CIDRs"),
    ],
)
def test_bad_cidr_is_named_with_its_key(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "webhooks.allowed_networks" in text and message in text
    assert "NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS" in text


def test_allow_private_networks_must_be_a_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWATCH_POLLER__ALLOW_PRIVATE_NETWORKS", "maybe")
    with pytest.raises(ConfigError, match=r"poller\.allow_private_networks"):
        load_settings()


def test_story_alert_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.stories.alerts is True and settings.stories.update_sources == [5, 10, 25]
    monkeypatch.setenv("NEWSWATCH_STORIES__ALERTS", "false")
    monkeypatch.setenv("NEWSWATCH_STORIES__UPDATE_SOURCES", "[3, 50]")
    settings = load_settings()
    assert settings.stories.alerts is False and settings.stories.update_sources == [3, 50]
    with pytest.raises(ConfigError, match="update_sources"):
        load_settings(stories={"update_sources": [1]})
    with pytest.raises(ConfigError, match="breaking_sources"):
        load_settings(stories={"breaking_sources": 11})
