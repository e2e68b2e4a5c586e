"""Reading settings from the environment: the helpers both settings modules share."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(
            f"{name} is not set. Run Tally through `bin/tally` (which starts embedded "
            f"PostgreSQL and Redis) or export {name}; see README.md, 'Configuration'."
        )
    return value


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in {"1", "true", "yes"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


TESTING = env_bool("TALLY_TESTING")
