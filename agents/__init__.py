"""Processing: the Faust app and agents, and the pure libraries they call.

Only `newswatch.agents.app` and `newswatch.agents.pipeline` import Faust. The tagging engine
(`newswatch.agents.tagging`) and the alert rules (`newswatch.agents.alerting`) are pure.
"""
