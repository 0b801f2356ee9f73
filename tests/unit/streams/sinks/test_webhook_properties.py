"""Property tests: webhook rendering, receiver-side verification and the API token check
hold for any input.

- every format renders any alert to valid JSON (orjson's strict parser reads it back);
- no `<` or `>` of an alert string reaches Slack's mrkdwn unescaped: the only `<...>` in a
  Slack message is the link we build, around the alert's own http(s) URL;
- `verify_signature` raises `WebhookVerificationError` and nothing else, whatever the headers,
  body or secret; a correct signature over any id and body verifies.
"""

from __future__ import annotations

import base64
import contextlib
import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.streams.records import SEVERITIES, Alert
from newswatch.streams.sinks.api import bearer_problem
from newswatch.streams.sinks.verify import WebhookVerificationError, verify_signature
from newswatch.streams.sinks.webhooks.formats import escape_mrkdwn, render
from newswatch.streams.sinks.webhooks.signing import webhook_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates included (a hostile record can carry them).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)
mrkdwn_bait = st.sampled_from(
    ["<!channel>", "<!here>", "<@U024BE7LH>", "<http://evil.example|bank>", "&lt;", "<", ">", "|"]
)
hostile_text = st.lists(st.one_of(any_text, mrkdwn_bait), max_size=5).map("".join)
urls = st.one_of(
    st.none(),
    hostile_text,
    st.builds(lambda rest: "https://news.example/" + rest, hostile_text),
    st.builds(lambda rest: "http://" + rest, hostile_text),
)
numbers = st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-(2**80), 2**80))

alerts = st.builds(
    Alert,
    id=hostile_text,
    rule=hostile_text,
    severity=st.sampled_from(SEVERITIES),
    title=hostile_text,
    kind=st.sampled_from(["article", "spike"]),
    entities=st.lists(hostile_text, max_size=4),
    themes=st.lists(hostile_text, max_size=4),
    article_id=st.one_of(st.none(), hostile_text),
    url=urls,
    feed_id=st.one_of(st.none(), hostile_text),
    summary=hostile_text,
    count=st.one_of(st.none(), st.integers(-(2**80), 2**80)),
    baseline=numbers,
    created_at=st.floats(allow_nan=True, allow_infinity=True),
)


def _mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [element["text"] for element in block.get("elements", [])]
    return texts


@PROPERTY
@given(alert=alerts, fmt=st.sampled_from(["json", "cloudevents", "slack"]))
def test_every_format_renders_valid_json(alert: Alert, fmt: str) -> None:
    body, content_type = render(alert, fmt)
    parsed = orjson.loads(body)  # strict: valid UTF-8, valid JSON
    assert isinstance(parsed, dict) and content_type.endswith("json")
    if fmt == "cloudevents":
        assert parsed["specversion"] == "1.0" and parsed["type"] == "io.newswatch.alert.v1"


_OUR_LINK = re.compile(r"<(https?://[^<>|]*)\|")


@PROPERTY
@given(alert=alerts)
def test_slack_text_never_carries_markup_from_the_alert(alert: Alert) -> None:
    message = orjson.loads(render(alert, "slack")[0])
    texts = _mrkdwn_texts(message)
    headline = texts[1]
    link = _OUR_LINK.match(headline.split(" ", 2)[2])
    if link:
        assert alert.url is not None and alert.url.lower().startswith(("http://", "https://"))
        headline = headline.replace(link.group(0), "", 1).removesuffix(">")
    for text in [texts[0], headline, *texts[2:]]:
        assert "<" not in text and ">" not in text, text
    # Nothing is lost: each alert string appears, escaped, where it belongs.
    title = escape_mrkdwn(alert.title).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert texts[0].endswith(title)


header_values = st.one_of(
    any_text,
    st.binary(max_size=40),
    st.integers(),
    st.none(),
    st.builds(lambda: "v1,\u00e9\u00e9"),
    st.builds(lambda s: "v1," + s, any_text),
    st.builds(lambda n: str(n), st.integers(-(10**20), 10**20)),
)
header_names = st.one_of(
    st.sampled_from(["webhook-id", "Webhook-Timestamp", "webhook-signature", "WEBHOOK-ID"]),
    any_text,
)
secrets = st.one_of(
    st.just(SECRET),
    any_text,
    st.lists(any_text, max_size=3),
    st.builds(lambda raw: "whsec_" + base64.b64encode(raw).decode(), st.binary(max_size=70)),
    st.integers(),
    st.none(),
)
bodies = st.one_of(st.binary(max_size=200), any_text, st.integers(), st.none())


@PROPERTY
@given(
    secret=secrets,
    headers=st.dictionaries(header_names, header_values, max_size=5),
    body=bodies,
    tolerance=st.one_of(st.floats(), st.integers(), st.none()),
)
def test_verify_raises_only_its_own_error(
    secret: Any, headers: dict[Any, Any], body: Any, tolerance: Any
) -> None:
    with contextlib.suppress(WebhookVerificationError):
        verify_signature(secret, headers, body, tolerance=tolerance)


@PROPERTY
@given(
    msg_id=st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),
    body=st.binary(max_size=300),
    now=st.integers(0, 2**33),
)
def test_a_correct_signature_always_verifies(msg_id: str, body: bytes, now: int) -> None:
    headers = webhook_headers([KEY], msg_id, now, body)
    assert verify_signature(SECRET, headers, body, now=now) == msg_id
    tampered = body + b" "
    try:
        verify_signature(SECRET, headers, tampered, now=now)
    except WebhookVerificationError as exc:
        assert "no matching signature" in str(exc)
    else:
        raise AssertionError("a changed body verified")


@PROPERTY
@given(header=st.one_of(st.none(), any_text, st.builds(lambda s: "Bearer " + s, any_text)))
def test_bearer_check_never_raises_and_accepts_only_the_token(header: str | None) -> None:
    token = "api-token-0123456789abcdef"
    assert bearer_problem(header, token) in ("missing", "invalid")
    assert bearer_problem(f"Bearer {token}", token) is None
    assert bearer_problem(f"bearer  {token} ", token) is None
