"""HTTP API: routers per resource, dependencies in ``deps``."""
