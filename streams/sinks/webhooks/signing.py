"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

`webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`,
one per secret, so a receiver rotating secrets accepts either. A `whsec_` secret's key is the
base64 decoding of what follows the prefix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from newswatch.streams.errors import ConfigError

PREFIX = "whsec_"


class SecretError(ConfigError, ValueError):
    """A webhook secret is not `whsec_` + base64."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret."""
    if not secret.startswith(PREFIX):
        raise SecretError("webhook secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("webhook secret: the part after 'whsec_' is not valid base64") from None
    if not key:
        raise SecretError("webhook secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    message = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def webhook_headers(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers (no signature header when there is no secret)."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if keys:
        headers["webhook-signature"] = signature_header(keys, msg_id, timestamp, body)
    return headers
