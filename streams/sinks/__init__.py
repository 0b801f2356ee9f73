"""Where alerts leave the pipeline: Redis (stream, live channel, indexes), signed webhooks,
and the read side of the HTTP API. No Faust here; the worker's agents call these."""
