"""Helpers for the sink tests: webhook settings aimed at the test receiver, and alerts.

The receiver itself is `tests.support.webhooks.Receiver` (fixture `receiver`); the `redis`
fixture (a client of the session redis-server) is in tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from newswatch.streams.embedded import free_port
from newswatch.streams.records import Alert
from newswatch.streams.settings import Settings, load_settings
from tests.support.webhooks import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhlIHJvdGF0aW9u"


def make_settings(redis_url: str, endpoints: list[dict[str, Any]], **webhooks: Any) -> Settings:
    """Webhook settings for the local receiver: the SSRF guard allows its address only."""
    options: dict[str, Any] = {
        "retry_schedule": [0, 5, 300],
        "time_scale": 1000.0,
        "allowed_networks": ["127.0.0.1/32"],
    }
    options.update(webhooks)
    return load_settings(redis_url=redis_url, webhooks={"endpoints": endpoints, **options})


def endpoint(receiver: Receiver, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": receiver.url(name), "secrets": [SECRET], "timeout": 2.0, **extra}


def alert(n: int, **extra: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": f"test_rule:article-{n}",
        "rule": "test_rule",
        "severity": "high",
        "title": f"Alert {n}",
        "entities": ["deepseek"],
        "themes": ["export_controls"],
        "article_id": f"article-{n}",
        "url": f"https://example.org/{n}",
    }
    fields.update(extra)
    return Alert(**fields)


#: The API token the auth tests configure (`api_token`).
TOKEN = "test-token-0123456789abcdef"


class NoTagger:
    """A tagger (`agents/tagging/protocols.ArticleTagger`) that finds nothing: the web views
    under test do not tag."""

    def __init__(self) -> None:
        from newswatch.agents.tagging import Catalogue

        self.catalogue = Catalogue()

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> object:
        from newswatch.agents.tagging import TagResult

        return TagResult([], [], [], lang or "und")


async def serve_worker_web(redis_url: str, **settings: object) -> tuple[web.AppRunner, str]:
    """The worker's own web application (`create_app`, views and middleware as in
    production, the newsroom mounted) on a loopback port; returns the runner and base URL."""
    from newswatch.agents.app import create_app  # Faust: only the tests that serve it load it

    config = load_settings(
        redis_url=redis_url, kafka_servers="127.0.0.1:9", web_port=free_port(), **settings
    )
    app = create_app(config, tagger=NoTagger(), rules=[])
    for setup in app.web_setup:  # the newsroom page, mounted as the worker mounts it
        setup(app.web.web_app)
    runner = web.AppRunner(app.web.web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config.web_port).start()
    return runner, f"http://127.0.0.1:{config.web_port}"
