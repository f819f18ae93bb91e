"""Alembic migrations of the server's database (see ``voirie.server.core.schema``)."""
