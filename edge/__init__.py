"""Edge: the survey and counting pipelines, aggregation and the offline outbox."""
