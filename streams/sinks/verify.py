"""Verify a newswatch webhook on the receiving side (Standard Webhooks, v1 HMAC-SHA256).

    from newswatch.streams.sinks.verify import verify_signature, WebhookVerificationError
    try:
        verify_signature("whsec_...", request.headers, await request.read())
    except WebhookVerificationError:
        return 400

Verify the raw body bytes exactly as received, before parsing JSON. Deduplicate on
`webhook-id`: a retry after a lost response carries the same id.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Mapping

from newswatch.streams.sinks.webhooks.signing import decode_secret, sign


class WebhookVerificationError(ValueError):
    """The request is not a valid, fresh newswatch webhook; the message says why."""


def verify_signature(
    secret: str | Iterable[str],
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = 300,
    now: float | None = None,
) -> str:
    """Check the signature and timestamp; returns the `webhook-id`.

    `secret` may be several secrets (during a rotation); any match passes. Raises
    WebhookVerificationError on a missing header, a timestamp more than `tolerance` seconds
    away from now, or no matching signature.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_ts = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not raw_ts or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance (replay?)")
    payload = body.encode() if isinstance(body, str) else body
    secrets = [secret] if isinstance(secret, str) else list(secret)
    offered = [part for part in signatures.split(" ") if part.startswith("v1,")]
    for key in (decode_secret(s) for s in secrets):
        expected = sign(key, msg_id, timestamp, payload)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise WebhookVerificationError("no matching signature")
