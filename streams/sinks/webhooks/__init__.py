"""Signed webhook deliveries (Standard Webhooks) with a durable Redis outbox and dead letters."""

from newswatch.streams.sinks.webhooks.dispatcher import WebhookDispatcher
from newswatch.streams.sinks.webhooks.outbox import DeadLetter, Outbox
from newswatch.streams.sinks.webhooks.signing import SecretError, decode_secret

__all__ = ["DeadLetter", "Outbox", "SecretError", "WebhookDispatcher", "decode_secret"]
