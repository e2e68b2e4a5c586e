"""Model validation as an ``AppError``: the one ``full_clean`` helper services call."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from billingsite.errors import AppError


def full_clean(
    obj: models.Model, *, exclude: list[str] | None = None, validate_unique: bool = True
) -> None:
    """``obj.full_clean()``; a ``ValidationError`` becomes a 400 ``validation_error`` whose
    details map each field (or ``non_field``) to its messages."""
    try:
        obj.full_clean(exclude=exclude, validate_unique=validate_unique)
    except ValidationError as exc:
        raise AppError(
            "validation_error", "The request is not valid.", details=validation_details(exc)
        ) from exc


def validation_details(exc: ValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else {"non_field": exc.messages}
