"""The edges and contracts of newswatch: settings, records, topics, poller, sinks, CLI.

Nothing here imports Faust; the Faust app lives in `newswatch.agents`.
"""
