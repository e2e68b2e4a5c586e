"""DRF's JSON parser with Tally's strict decoder (``billingsite.strictjson``), for every view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from billingsite.strictjson import JSONRejected, loads


class StrictJSONParser(JSONParser):
    """Refuses what ``strictjson.loads`` refuses (NaN, 1e309, lone surrogates, deep nesting)
    with DRF's ``parse_error``, which the error handler answers as 400 in the one error shape."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return loads(stream.read())
        except JSONRejected as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
