"""Cursor pagination: stable under inserts, cheap at any depth (no OFFSET scans)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

if TYPE_CHECKING:  # rest_framework.generics imports this module (DEFAULT_PAGINATION_CLASS)
    from rest_framework import generics


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = "-id"

    def get_page_size(self, request: Request) -> int | None:
        """A ``limit`` that is not a positive integer is a 400, not silently the default."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) > 0):
            raise ValidationError({"limit": "A positive integer (at most 500; larger is capped)."})
        return super().get_page_size(request)

    def decode_cursor(self, request: Request) -> Any:
        """A cursor that was not issued by us is a bad request (400), not a missing page."""
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({"cursor": "Not a cursor from a previous page."}) from exc

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page: default {self.page_size}, larger than "
                    f"{self.max_page_size} is capped."
                )
        return parameters


def page_of(view: generics.GenericAPIView, rows: Any) -> list[Any]:
    """The page of ``rows`` that ``view``'s paginator answers. Every list view here paginates, so
    a view without a paginator is a programming error, not an unpaginated answer."""
    page = view.paginate_queryset(rows)
    if page is None:
        raise ImproperlyConfigured(f"{type(view).__name__} lists without a paginator.")
    return page
