"""HTTP fetching with aiohttp: conditional GET, manual redirects, timeouts, a body cap.

Redirects are followed by hand so we know whether *every* hop was permanent (301/308): only
then may the scheduler consider moving the stored URL, and only after seeing it repeatedly.
The body cap counts bytes after decompression and aborts the download as soon as it is passed,
so a gzip bomb costs at most `max_body_bytes` of memory, never its expanded size.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from newswatch.streams.errors import FeedError
from newswatch.streams.netguard import AddressPolicy, blocked_error, guarded_connector
from newswatch.streams.settings import PollerSettings

REDIRECTS = (301, 302, 303, 307, 308)
PERMANENT = (301, 308)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json;q=0.5,"
    " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


class FetchError(FeedError):
    """A failed fetch. `kind` is a bounded label (see metrics.ERROR_KINDS)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


@dataclass(slots=True)
class FetchResult:
    status: int  # 200 or 304 (errors raise FetchError)
    url: str  # the URL that finally answered
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    permanent_target: str | None = None  # set when every hop of a redirect chain was permanent
    elapsed: float = 0.0


def make_session(settings: PollerSettings) -> aiohttp.ClientSession:
    """One session for the process: pooled keep-alive connections, no cookies, our User-Agent.

    The connector's own limits are off; the scheduler enforces global and per-host concurrency
    itself (a feed waiting for its host must not hold a global slot). The connector is the SSRF
    guard's: every connection, redirect hops included, goes to an allowed address only.
    """
    connector = guarded_connector(
        AddressPolicy.from_settings("poller", settings),
        limit=0,
        limit_per_host=0,
        ttl_dns_cache=300,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        trust_env=False,
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, connect=settings.connect_timeout
        ),
    )


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    settings: PollerSettings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET `url` (conditionally when validators are given); raises FetchError."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(settings.total_timeout):
            result = await _fetch(session, url, settings, etag, last_modified)
    except TimeoutError:
        raise FetchError(
            "timeout", f"no complete answer within {settings.total_timeout:g}s"
        ) from None
    except aiohttp.ClientConnectorError as exc:
        if (blocked := blocked_error(exc)) is not None:
            raise FetchError("blocked_address", str(blocked)) from None
        raise FetchError("connect", f"cannot connect: {exc.os_error or exc}") from None
    except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise FetchError("other", f"bad response: {type(exc).__name__}: {exc}") from None
    except aiohttp.ClientError as exc:
        raise FetchError("connect", f"{type(exc).__name__}: {exc}") from None
    except (UnicodeError, ValueError) as exc:  # malformed URL or header
        raise FetchError("other", f"{type(exc).__name__}: {exc}") from None
    result.elapsed = time.monotonic() - started
    return result


async def _fetch(
    session: aiohttp.ClientSession,
    url: str,
    settings: PollerSettings,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    visited = {url}
    all_permanent = True
    hops = 0
    while True:
        async with session.get(url, headers=headers, allow_redirects=False) as resp:
            status = resp.status
            if status in REDIRECTS and "Location" in resp.headers:
                target = urljoin(url, resp.headers["Location"])
                if urlsplit(target).scheme not in ("http", "https"):
                    raise FetchError("other", "redirect to a non-HTTP URL", status=status)
                if target in visited:
                    raise FetchError("redirect_loop", "redirect loop", status=status)
                hops += 1
                if hops > settings.max_redirects:
                    raise FetchError(
                        "too_many_redirects",
                        f"more than {settings.max_redirects} redirects",
                        status=status,
                    )
                all_permanent = all_permanent and status in PERMANENT
                visited.add(target)
                url = target
                continue
            result = FetchResult(
                status=status,
                url=url,
                body=None,
                etag=resp.headers.get("ETag"),
                last_modified=resp.headers.get("Last-Modified"),
                content_type=resp.headers.get("Content-Type"),
                cache_control=resp.headers.get("Cache-Control"),
                expires=resp.headers.get("Expires"),
                permanent_target=url if hops and all_permanent else None,
            )
            if status == 304:
                return result
            if status in (429, 503):
                raise FetchError(
                    "rate_limited",
                    f"HTTP {status}",
                    status=status,
                    retry_after=resp.headers.get("Retry-After"),
                )
            if status >= 300:
                raise FetchError("http", f"HTTP {status}", status=status)
            result.body = await _read_capped(resp, settings.max_body_bytes)
            return result


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    declared = resp.headers.get("Content-Length")
    if (
        declared
        and declared.isdigit()
        and int(declared) > cap
        and not _headers_say_compressed(resp.headers)
    ):
        raise FetchError("too_large", f"Content-Length {declared} exceeds {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > cap:
            raise FetchError("too_large", f"body exceeds {cap} bytes after decompression")
        chunks.append(chunk)
    body = b"".join(chunks)
    if body[:2] == b"\x1f\x8b":
        body = gunzip_capped(body, cap)  # a .gz file served without Content-Encoding
    return body


def _headers_say_compressed(headers: CIMultiDictProxy[str]) -> bool:
    return bool(headers.get("Content-Encoding", "").strip())


def gunzip_capped(data: bytes, cap: int) -> bytes:
    """Decompress gzip data, refusing to produce more than `cap` bytes."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        out = decompressor.decompress(data, cap + 1)
    except zlib.error as exc:
        raise FetchError("other", f"corrupt gzip body: {exc}") from None
    if len(out) > cap:
        raise FetchError("too_large", f"body exceeds {cap} bytes after decompression")
    return out
