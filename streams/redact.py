"""Hide the secret parts of URLs before they are printed or logged.

A URL can carry a credential in four places, and `mask_url` hides each:

- userinfo: `redis://user:PASSWORD@host` keeps the user; a lone `https://TOKEN@host` is hidden;
- query parameters whose name says credential (`password`, `token`, `key`, `secret`, `sig`,
  `api_key`, `X-Amz-Signature`, ...), by value; other parameters stay readable;
- the fragment (`#access_token=...` of implicit OAuth flows), whole;
- the path of webhook services whose path *is* the credential: Slack
  (`hooks.slack.com/services/...`), Discord (`/api/webhooks/...`), Microsoft Teams incoming
  webhooks (`*.webhook.office.com`).

A URL that cannot be parsed is hidden whole: better unreadable than leaked.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MASK = "********"

# Query parameter names (lowercase, after percent-decoding) that carry a credential.
_SECRET_PARAM = re.compile(
    r"pass|pwd|token|secret|key|sig|auth|credential|session|cookie|private|code|otp|nonce"
)

# host -> path prefixes after which the rest of the path is the credential.
_SECRET_PATHS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"^hooks\.slack\.com$"), ("/services/", "/workflows/", "/triggers/")),
    (re.compile(r"^(?:[\w-]+\.)?discord(?:app)?\.com$"), ("/api/webhooks/",)),
    (re.compile(r"^[\w.-]+\.webhook\.office\.com$"), ("/",)),
)


def mask_url(url: str) -> str:
    """`url` with every secret-bearing part replaced by `********` (see the module doc)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return MASK
    netloc = _netloc(parts.netloc)
    path = _mask_path(hostname.lower(), parts.path)
    query = _mask_query(parts.query)
    out = f"{parts.scheme}:" if parts.scheme else ""
    if netloc or url[len(out) :].startswith("//"):
        out += "//" + netloc  # keeps unix:///path as written (urlunsplit drops the //)
    out += path
    if query:
        out += "?" + query
    if parts.fragment:
        out += "#" + MASK
    return out


def _netloc(netloc: str) -> str:
    if "@" not in netloc:
        return netloc
    userinfo, _, host = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if colon:
        return f"{user}:{MASK}@{host}"
    return f"{MASK}@{host}"  # a lone userinfo is usually a token (https://TOKEN@host)


def _mask_path(hostname: str, path: str) -> str:
    for host_pattern, prefixes in _SECRET_PATHS:
        if host_pattern.match(hostname):
            for prefix in prefixes:
                if path.startswith(prefix) and len(path) > len(prefix):
                    return prefix + MASK
    return path


def _mask_query(query: str) -> str:
    if not query:
        return query
    out = []
    for item in re.split(r"([&;])", query):
        if item in ("&", ";"):
            out.append(item)
            continue
        name, sep, _ = item.partition("=")
        if sep and _SECRET_PARAM.search(unquote(name).lower()):
            out.append(f"{name}={MASK}")
        else:
            out.append(item)
    return "".join(out)
