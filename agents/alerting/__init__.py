"""Alert rules and spike detection: pure libraries the worker's alert agent calls.

No Faust, Kafka or Redis here; the worker feeds tagged articles in and publishes what comes out.
"""

from newswatch.agents.alerting.engine import (
    EntityInfo,
    EntityLookup,
    RuleEngine,
    alert_id,
)
from newswatch.agents.alerting.rules import (
    Conditions,
    Rule,
    RuleError,
    RuleSet,
    default_rules_path,
    load_rules,
    parse_rules,
)
from newswatch.agents.alerting.spikes import SpikeConfig, is_spike, spike_alert

__all__ = [
    "Conditions",
    "EntityInfo",
    "EntityLookup",
    "Rule",
    "RuleEngine",
    "RuleError",
    "RuleSet",
    "SpikeConfig",
    "alert_id",
    "default_rules_path",
    "is_spike",
    "load_rules",
    "parse_rules",
    "spike_alert",
]
