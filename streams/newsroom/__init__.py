"""The newsroom: the page people read alerts on, served by the worker at `/` of its web port.

- `query.py`: pure filtering, facet counts and search over a window of recent alerts;
- `store.py`: Redis reads (the alert stream) and the shared reader state (acknowledged alerts);
- `mutes` live in `newswatch.streams.sinks.mutes` because the webhook sink respects them too;
- `live.py`: one Redis pub/sub subscription per process fanned out to Server-Sent Events clients;
- `atom.py`: the Atom feed of the same filtered list;
- `web.py`: the aiohttp handlers (`add_routes(router, newsroom)`), templates and static files.
"""
