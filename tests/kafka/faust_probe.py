"""A trivial Faust app for broker compatibility tests: one agent that prints every event.

Run as a worker in a subprocess (tests/integration/test_apache_kafka.py does):

    PROBE_BROKER=127.0.0.1:9092 PROBE_APP_ID=probe-1 PROBE_TOPIC=probe-in \
        python tests/kafka/faust_probe.py worker -l warning

Each event becomes one stdout line `event <value> <unix time>`; `started <unix time>` is
printed when the agent task starts. `PROBE_SETTINGS` (JSON) overrides Faust settings, e.g.
`{"broker_session_timeout": 10}`.
"""

from __future__ import annotations

import json
import os
import sys
import time

import faust

app = faust.App(
    os.environ["PROBE_APP_ID"],
    broker=f"kafka://{os.environ['PROBE_BROKER']}",
    store="memory://",
    web_enabled=False,
    topic_replication_factor=1,
    topic_partitions=1,
    **json.loads(os.environ.get("PROBE_SETTINGS") or "{}"),
)
source = app.topic(os.environ["PROBE_TOPIC"], value_serializer="raw")


def _say(line: str) -> None:
    # The real stdout: a Faust worker redirects sys.stdout into its log.
    sys.__stdout__.write(f"{line} {time.time():.3f}\n")
    sys.__stdout__.flush()


@app.agent(source)
async def echo(stream):
    _say("started")
    async for value in stream:
        _say(f"event {value.decode()}")


if __name__ == "__main__":
    app.main()
