"""Standard Webhooks signing and the receiver-side verification helper."""

from __future__ import annotations

import base64
import time

import pytest

from newswatch.streams.sinks.verify import WebhookVerificationError, verify_signature
from newswatch.streams.sinks.webhooks.signing import (
    SecretError,
    decode_secret,
    sign,
    webhook_headers,
)
from tests.support.environment import ROOT

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_" + base64.b64encode(b"the new secret after rotation").decode()
OTHER = "whsec_" + base64.b64encode(b"somebody else").decode()
BODY = b'{"specversion":"1.0","id":"rule:a1"}'


def signed(secrets: list[str], ts: int | None = None, body: bytes = BODY) -> dict[str, str]:
    keys = [decode_secret(s) for s in secrets]
    return webhook_headers(keys, "rule:a1", int(time.time()) if ts is None else ts, body)


def test_known_vector_from_the_spec_libraries() -> None:
    # The test vector of the standard-webhooks reference implementations.
    key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    sig = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_matches_the_standardwebhooks_package() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    headers = signed([SECRET])
    verifier = standardwebhooks.Webhook(SECRET)
    assert verifier.verify(BODY.decode(), headers) == {"specversion": "1.0", "id": "rule:a1"}


@pytest.mark.parametrize(
    ("signer", "verifier", "body", "age", "valid"),
    [
        pytest.param([SECRET], SECRET, BODY, 0, True, id="valid"),
        pytest.param([SECRET], SECRET, BODY + b" ", 0, False, id="tampered-body"),
        pytest.param([SECRET], SECRET, BODY, 301, False, id="stale-timestamp"),
        pytest.param([SECRET], SECRET, BODY, -301, False, id="future-timestamp"),
        pytest.param([SECRET], SECRET, BODY, 299, True, id="old-but-within-tolerance"),
        pytest.param([SECRET, NEW_SECRET], NEW_SECRET, BODY, 0, True, id="rotated-new"),
        pytest.param([SECRET, NEW_SECRET], SECRET, BODY, 0, True, id="rotated-old"),
        pytest.param([SECRET, NEW_SECRET], OTHER, BODY, 0, False, id="rotated-wrong"),
        pytest.param([NEW_SECRET], SECRET, BODY, 0, False, id="after-rotation-old-key"),
        pytest.param([SECRET], OTHER, BODY, 0, False, id="wrong-secret"),
    ],
)
def test_signature_matrix(
    signer: list[str], verifier: str, body: bytes, age: int, valid: bool
) -> None:
    now = 1_800_000_000
    headers = signed(signer, ts=now - age)
    if valid:
        assert verify_signature(verifier, headers, body, now=now) == "rule:a1"
    else:
        with pytest.raises(WebhookVerificationError):
            verify_signature(verifier, headers, body, now=now)


def test_rotation_signs_once_per_secret() -> None:
    header = signed([SECRET, NEW_SECRET])["webhook-signature"]
    parts = header.split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)


def test_receiver_may_hold_several_secrets() -> None:
    headers = signed([NEW_SECRET])
    assert verify_signature([SECRET, NEW_SECRET], headers, BODY) == "rule:a1"


def test_headers_are_case_insensitive_and_body_may_be_text() -> None:
    headers = {k.title(): v for k, v in signed([SECRET]).items()}
    assert verify_signature(SECRET, headers, BODY.decode()) == "rule:a1"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    headers = signed([SECRET])
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_signature(SECRET, headers, BODY)


def test_tampered_id_is_rejected() -> None:
    headers = signed([SECRET]) | {"webhook-id": "rule:other"}
    with pytest.raises(WebhookVerificationError, match="no matching"):
        verify_signature(SECRET, headers, BODY)


def test_non_integer_timestamp_is_rejected() -> None:
    headers = signed([SECRET]) | {"webhook-timestamp": "soon"}
    with pytest.raises(WebhookVerificationError, match="integer"):
        verify_signature(SECRET, headers, BODY)


def test_no_secret_no_signature_header() -> None:
    assert "webhook-signature" not in webhook_headers([], "x", 1, b"{}")


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!"])
def test_bad_secrets(bad: str) -> None:
    with pytest.raises(SecretError):
        decode_secret(bad)


def test_the_receiver_guide_snippet_verifies() -> None:
    """The dependency-free snippet in docs/webhooks.md must keep working."""

    guide = (ROOT / "docs" / "webhooks.md").read_text()
    snippet = guide.split("Without newswatch")[1].split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    headers = signed([SECRET, NEW_SECRET])
    assert verify(SECRET, headers, BODY)
    assert verify(NEW_SECRET, headers, BODY)
    assert not verify(OTHER, headers, BODY)
    assert not verify(SECRET, headers, BODY + b"x")
    assert not verify(SECRET, signed([SECRET], ts=int(time.time()) - 600), BODY)
