"""The unattended edge agent (``voirie edge run``): one pipeline → outbox → sync, with health.

``runner.Agent`` runs it; ``config`` is its TOML; ``survey`` and ``count`` are its two
modes (the survey engine and the counter, feeding the outbox); ``state`` what survives a
restart; ``health``, ``log``, ``sync`` and ``fleet`` the threads around the pipeline.
"""
