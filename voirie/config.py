"""One strict base for every config file, and one way to say what is wrong in one.

Agent, counting and calibration configs and model manifests are typed by hand, so a typo
must be an error, not a silently ignored key: ``StrictConfig`` is frozen, refuses unknown
keys and refuses NaN/inf (a NaN threshold compares false with everything and would switch
a check off without a word).

``error_lines`` turns pydantic's ``ValidationError`` into one line per problem, each with
its file and key path, the form every command prints::

    edge.toml: server.heartbeat_s: Input should be greater than or equal to 5 (got 1)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Key paths whose values are never echoed (they would end up in logs).
SECRET_WORDS = ("token", "secret", "password")
_MAX_SHOWN = 80


class StrictConfig(BaseModel):
    """Base of every config model: frozen, unknown keys refused, NaN and infinity refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _shown(value: Any, path: str) -> str:
    if isinstance(value, dict) or any(word in path.lower() for word in SECRET_WORDS):
        return ""  # a whole section says nothing; a secret must not be printed
    text = repr(value)
    return f" (got {text[:_MAX_SHOWN - 3]}...)" if len(text) > _MAX_SHOWN else f" (got {text})"


def error_lines(error: ValidationError, source: str, *, key_prefix: str = "",
                skip_keys: Collection[str] = ()) -> list[str]:
    """One line per problem: ``SOURCE: key.path: message (got value)``.

    ``key_prefix`` makes paths full when the model is a section of a larger file;
    ``skip_keys`` drops loc parts that are not keys (a discriminated union's tag).
    """
    lines = []
    for item in error.errors():
        keys = [str(part) for part in item["loc"] if str(part) not in skip_keys]
        path = key_prefix + ".".join(keys) if keys else key_prefix.rstrip(".") or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {path}: {message}{_shown(item.get('input'), path)}")
    return lines


def report(title: str, lines: Sequence[str]) -> str:
    """``title (N problems):`` and the lines below it, indented."""
    count = f"{len(lines)} problem{'s' * (len(lines) != 1)}"
    return f"{title} ({count}):" + "".join(f"\n  {line}" for line in lines)


def error_report(error: ValidationError, source: str, title: str, **options: Any) -> str:
    """``report`` of ``error_lines``: the message of a config error."""
    return report(title, error_lines(error, source, **options))
