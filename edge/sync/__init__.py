"""Offline-first sync: the durable ``outbox`` (SQLite), the ``worker`` that drains it to the
server, and its ``pacing`` (bandwidth cap, backoff)."""
