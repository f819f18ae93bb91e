"""Tokens and API keys: random, shown once, stored only as a SHA-256 hash.

SHA-256 (not a slow password hash) is right here because the secrets are 256-bit random
values, not human passwords: there is nothing to brute-force, and ingest checks a token
on every batch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ROLES = ("viewer", "inspector", "admin")


def new_secret(prefix: str) -> str:
    """A fresh URL-safe secret such as ``vdt_…`` (device token) or ``vak_…`` (API key)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a secret, what the database keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def verify_secret(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def role_at_least(role: str, needed: str) -> bool:
    """Whether ``role`` grants what ``needed`` requires (viewer < inspector < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)
