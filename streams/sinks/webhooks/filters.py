"""Which alerts an endpoint wants: minimum severity AND (any listed entity) AND (any listed
theme); an empty list means no condition on that dimension."""

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
    return not (endpoint.themes and not set(endpoint.themes) & set(alert.themes))
