"""The poller tests' fixtures: a local feed server and a poller builder (tests.support.feeds)."""

from tests.support.feeds import feed_server, make_poller

__all__ = ["feed_server", "make_poller"]
