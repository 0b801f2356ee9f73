"""Local feed server for bench/poller.py (run as its own process).

/feed/{i}.xml answers with feed i: `--items` RSS items of ~1.5 KB each. A request whose
If-None-Match carries the feed's ETag gets 304, except for the share `--changed` of feeds,
which always answer 200 with a new item on top (so the poller has something to parse).
"""

from __future__ import annotations

import argparse
import itertools

from aiohttp import web

LOREM = (
    "DeepSeek, Qwen and Kimi models were discussed alongside export controls on advanced chips. "
    * 12
)


def feed_body(i: int, items: int, generation: int = 0) -> bytes:
    parts = []
    for k in range(items):
        guid = f"feed{i}-g{generation}-{k}"
        parts.append(
            f"<item><title>Feed {i} story {k} gen {generation}</title>"
            f"<link>http://site{i % 97}.example/{guid}</link><guid>{guid}</guid>"
            f"<pubDate>Tue, 10 Jun 2025 {k % 24:02d}:{k % 60:02d}:00 GMT</pubDate>"
            f"<description>{LOREM}</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {i}</title><link>http://site{i}.example/</link>"
        f"<language>en</language>{''.join(parts)}</channel></rss>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--changed", type=float, default=1.0, help="share of feeds answering 200")
    args = parser.parse_args()
    changed_every = max(1, round(1 / args.changed)) if args.changed > 0 else 0
    template = feed_body(0, args.items)
    counter = itertools.count(1)

    async def handle(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        etag = f'"feed-{i}"'
        changed = changed_every and i % changed_every == 0
        if not changed and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        if changed and args.changed < 1:
            body = feed_body(i, 1, generation=next(counter))  # one new item per request
        else:
            body = template.replace(b"feed0-", f"feed{i}-".encode())
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/feed/{i}.xml", handle)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=1024)


if __name__ == "__main__":
    main()
