"""check-config never prints a credential: URL masking and the masked configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.streams.cli import main
from newswatch.streams.redact import MASK, mask_url
from newswatch.streams.settings import ConfigError, is_loopback_host, load_settings


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://user:hunter2@db:6379/0", "redis://user:********@db:6379/0"),
        ("redis://:hunter2@db:6379/0", "redis://:********@db:6379/0"),
        ("rediss://db:6380/1", "rediss://db:6380/1"),
        ("https://ghp_tokenvalue@git.example/x", "https://********@git.example/x"),
        (
            "https://api.example/hook?a=1&password=p1&token=t2&key=k3&secret=s4&sig=s5&api_key=k6",
            "https://api.example/hook?a=1&password=********&token=********&key=********"
            "&secret=********&sig=********&api_key=********",
        ),
        (
            "https://s3.example/o?X-Amz-Credential=c&X-Amz-Signature=s&X-Amz-Expires=60",
            "https://s3.example/o?X-Amz-Credential=********&X-Amz-Signature=********"
            "&X-Amz-Expires=60",
        ),
        ("https://api.example/h?access%5Ftoken=t", "https://api.example/h?access%5Ftoken=********"),
        ("https://app.example/cb#access_token=abc", "https://app.example/cb#********"),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/********",
        ),
        (
            "https://HOOKS.SLACK.COM/workflows/T1/A1/123/abc",
            "https://HOOKS.SLACK.COM/workflows/********",
        ),
        (
            "https://discord.com/api/webhooks/123/tokenpart",
            "https://discord.com/api/webhooks/********",
        ),
        (
            "https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x/y",
            "https://acme.webhook.office.com/********",
        ),
        (
            "unix:///run/redis.sock?db=0&password=pw",
            "unix:///run/redis.sock?db=0&password=********",
        ),
        ("https://siem.example/hooks", "https://siem.example/hooks"),
        ("http://[::1/broken", MASK),
        ("http://h:notaport/", MASK),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_check_config_masks_every_secret(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "redis_url: rediss://default:redis-pass-1@db:6380/0?password=redis-pass-2\n"
        "api_token: api-token-0123456789abcdef\n"
        "webhooks:\n  endpoints:\n"
        "    - name: slack\n      format: slack\n"
        "      url: https://hooks.slack.com/services/T1/B2/slack-path-secret\n"
        "    - name: siem\n      url: https://siem.example/in?token=query-token&team=x\n"
        "      secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]\n"
    )
    result = CliRunner().invoke(main, ["--config", str(config), "check-config"])
    assert result.exit_code == 0, result.output
    for secret in (
        "redis-pass-1",
        "redis-pass-2",
        "api-token-0123456789abcdef",
        "slack-path-secret",
        "query-token",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ):
        assert secret not in result.output
    assert "url: https://hooks.slack.com/services/********" in result.output
    assert "url: https://siem.example/in?token=********&team=x" in result.output
    assert "api_token: '********'" in result.output
    assert "whsec_********" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("worker.internal", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_api_beyond_loopback_needs_a_token_or_an_explicit_opt_out() -> None:
    with pytest.raises(ConfigError, match="NEWSWATCH_API_TOKEN") as caught:
        load_settings(web_host="0.0.0.0")
    assert "NEWSWATCH_API_ALLOW_UNAUTHENTICATED" in str(caught.value)
    token = "tok-0123456789abcdef"
    assert load_settings(web_host="0.0.0.0", api_token=token).api_token is not None
    assert load_settings(web_host="0.0.0.0", api_allow_unauthenticated=True).api_token is None
    assert load_settings(web_host="127.0.0.1").api_token is None


@pytest.mark.parametrize(
    ("token", "problem"),
    [("short-token", "at least 16"), ("has space in it 0123456789", "token characters")],
)
def test_api_token_is_checked(token: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        load_settings(api_token=token)
    assert token not in str(caught.value)


SECRET_PART = "Zq9sEcReT"  # stands for any credential; never in a masked URL


@settings(max_examples=300, deadline=None)
@given(
    url=st.text(max_size=60),
    user=st.from_regex(r"[a-z]{0,8}", fullmatch=True),
    name=st.sampled_from(["password", "token", "api_key", "X-Amz-Signature", "secret", "sig"]),
    place=st.sampled_from(["userinfo", "query", "fragment", "slack"]),
)
def test_mask_url_never_raises_and_hides_planted_secrets(
    url: str, user: str, name: str, place: str
) -> None:
    assert isinstance(mask_url(url), str)
    planted = {
        "userinfo": f"redis://{user}:{SECRET_PART}@db:6379/0",
        "query": f"https://h.example/p?a=1&{name}={SECRET_PART}&b=2",
        "fragment": f"https://h.example/cb#{name}={SECRET_PART}",
        "slack": f"https://hooks.slack.com/services/T1/B2/{SECRET_PART}",
    }[place]
    assert SECRET_PART not in mask_url(planted)
    assert SECRET_PART not in mask_url(planted + url.replace(SECRET_PART, ""))
