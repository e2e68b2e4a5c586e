"""EU VAT identification numbers: the format of each member state's number.

Only the format is checked (country prefix and the national pattern, as the European
Commission's VIES documentation describes them); Tally calls no outside service, so an operator
who must confirm a number with VIES does so when entering it. Greece uses the prefix ``EL``.
"""

from __future__ import annotations

import re

# prefix -> pattern of the rest (letters upper-case, spaces and dots removed)
VAT_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
}
EU_COUNTRIES = frozenset({"GR" if p == "EL" else p for p in VAT_FORMATS})


def vat_prefix(country: str) -> str:
    return "EL" if country.upper() == "GR" else country.upper()


def normalize_vat_id(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def is_valid_eu_vat_id(value: str, country: str | None = None) -> bool:
    """True when ``value`` has the format of an EU VAT id (of ``country`` when given)."""
    vat_id = normalize_vat_id(value)
    prefix, rest = vat_id[:2], vat_id[2:]
    pattern = VAT_FORMATS.get(prefix)
    if pattern is None or re.fullmatch(pattern, rest) is None:
        return False
    return country is None or vat_prefix(country) == prefix
