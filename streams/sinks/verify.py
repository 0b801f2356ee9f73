"""Verify a newswatch webhook on the receiving side (Standard Webhooks, v1 HMAC-SHA256).

    from newswatch.streams.sinks.verify import verify_signature, WebhookVerificationError
    try:
        verify_signature("whsec_...", request.headers, await request.read())
    except WebhookVerificationError:
        return 400

Verify the raw body bytes exactly as received, before parsing JSON. Deduplicate on
`webhook-id`: a retry after a lost response carries the same id.

`verify_signature` raises `WebhookVerificationError` and nothing else for anything a sender
controls (headers of any type or encoding, any body); a receiver needs one `except`. A bad
*secret* (the receiver's own configuration) is reported the same way, with a message that says
so.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Mapping

from newswatch.streams.errors import SinkError
from newswatch.streams.sinks.webhooks.signing import SecretError, decode_secret, sign


class WebhookVerificationError(SinkError, ValueError):
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
    WebhookVerificationError, and only that, on a missing or malformed header, a timestamp
    more than `tolerance` seconds away from now, no matching signature, or an unusable secret.
    """
    try:  # any object with .items(): dict, aiohttp/multidict, werkzeug Headers, ...
        lowered = {str(name).lower(): value for name, value in headers.items()}
    except Exception as exc:  # not a mapping: report it, never crash the receiver
        raise WebhookVerificationError(f"headers could not be read: {type(exc).__name__}") from None
    msg_id = _header(lowered, "webhook-id")
    raw_ts = _header(lowered, "webhook-timestamp")
    signatures = _header(lowered, "webhook-signature")
    if not msg_id or not raw_ts or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    raw_ts = raw_ts.strip()
    if not raw_ts.isascii() or not raw_ts.isdigit() or len(raw_ts) > 12:
        raise WebhookVerificationError("webhook-timestamp is not an integer")
    timestamp = int(raw_ts)
    if now is None:
        now = time.time()
    if not isinstance(tolerance, int | float) or not isinstance(now, int | float):
        raise WebhookVerificationError("tolerance and now must be numbers")
    if not abs(now - timestamp) <= tolerance:  # `not <=` also refuses a NaN tolerance
        raise WebhookVerificationError("webhook-timestamp outside the tolerance (replay?)")
    if isinstance(body, str):
        payload = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, bytes | bytearray | memoryview):
        payload = bytes(body)
    else:
        raise WebhookVerificationError("body must be bytes or str")
    try:
        msg_id.encode("utf-8")
    except UnicodeEncodeError:
        raise WebhookVerificationError("webhook-id is not valid text") from None
    offered = [
        part[3:].encode("ascii")
        for part in signatures.split(" ")
        if part.startswith("v1,") and part.isascii()
    ]
    for key in _keys(secret):
        expected = sign(key, msg_id, timestamp, payload)[3:].encode("ascii")
        # compare_digest on bytes: it refuses non-ASCII str with TypeError.
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise WebhookVerificationError("no matching signature")


def _header(headers: Mapping[str, object], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise WebhookVerificationError(f"{name} is not ASCII") from None
    if not isinstance(value, str):
        raise WebhookVerificationError(f"{name} must be a string")
    return value


def _keys(secret: object) -> list[bytes]:
    secrets = [secret] if isinstance(secret, str) else secret
    try:
        items = list(secrets)  # type: ignore[call-overload]  # any object: TypeError is the check
    except TypeError:
        raise WebhookVerificationError("secret must be a whsec_ string or a list of them") from None
    keys = []
    for item in items:
        if not isinstance(item, str):
            raise WebhookVerificationError("secret must be a whsec_ string or a list of them")
        try:
            keys.append(decode_secret(item))
        except SecretError as exc:
            raise WebhookVerificationError(f"receiver misconfigured: {exc}") from None
    if not keys:
        raise WebhookVerificationError("receiver misconfigured: no secret given")
    return keys
