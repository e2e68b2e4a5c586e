"""Cursor pagination: stable under inserts, cheap at any depth (no OFFSET scans)."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = "-id"
