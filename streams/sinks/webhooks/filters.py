"""Which alerts an endpoint wants: minimum severity AND (any listed entity) AND (any listed
theme); an empty list means no condition on that dimension.

Updates of story alerts (kind "story_update") pass the same filters as the alert they update,
and then only when the endpoint takes updates (`story_updates`) and the update says something
it asked for: a new language, a higher severity or "breaking" always qualify; source-count
thresholds only when one of the endpoint's `story_update_sources` is among them."""

from __future__ import annotations

from newswatch.streams.records import SEVERITIES, Alert
from newswatch.streams.settings import WebhookEndpoint

_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def wants(endpoint: WebhookEndpoint, alert: Alert) -> bool:
    """Does the endpoint want this alert delivered on its own?"""
    return endpoint.alerts and matches(endpoint, alert)


def matches(endpoint: WebhookEndpoint, alert: Alert) -> bool:
    """Does the alert pass the endpoint's filters (for alerts and for its digests)?"""
    if _RANK.get(alert.severity, 0) < _RANK[endpoint.min_severity]:
        return False
    if endpoint.entities and not set(endpoint.entities) & set(alert.entities):
        return False
    if endpoint.themes and not set(endpoint.themes) & set(alert.themes):
        return False
    return alert.kind != "story_update" or wants_update(endpoint, alert)


def wants_update(endpoint: WebhookEndpoint, alert: Alert) -> bool:
    if not endpoint.story_updates:
        return False
    thresholds = {str(t) for t in endpoint.story_update_sources}
    for reason in alert.reasons:
        kind, _, value = reason.partition(":")
        if kind != "sources" or value in thresholds:
            return True
    return False
