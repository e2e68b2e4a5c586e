"""The export datasets registry: stable, documented tables that ``reporting`` writes as CSV and
Parquet files and serves through ``/api/v1/exports``.

It lives in the base layer so that any app can register its own datasets from its
``AppConfig.ready()`` with ``register_dataset(Dataset(...))`` without importing ``reporting``
(which sits above every app): ``reporting`` registers the built-in ones (customers, invoices,
...), an app added below it (e.g. ``revenue`` with ``journal_entries``) registers its own.

A dataset is a name, a schema version, columns (name, Arrow type, description) and a ``page``
function that reads rows in one stable order: by a cursor key (e.g. ``(updated_at, id)``, or an
append-only id), strictly after ``after``, with the key's time in ``[since, until)``. Every
reader (files and API) pages through the same function, so they see the same rows.

Invariants:
- a column's type is one of ``ARROW_TYPES``; money columns are decimal strings (never floats)
  and name the column that holds their currency (``currency_column``);
- times are aware datetimes, written in UTC;
- ``page`` returns at most ``limit`` rows, in ascending key order, each key greater than
  ``after``; a changed row moves to a later key (its ``updated_at`` moves), so an incremental
  reader that remembers the last key sees it again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from billingsite.money import amount_of, format_amount, format_decimal, is_rounded

# The Arrow types a column may have, by their Arrow names (``str(pyarrow type)``).
STRING = "string"
INT64 = "int64"
BOOL = "bool"
DATE = "date32[day]"
TIMESTAMP = "timestamp[us, tz=UTC]"
ARROW_TYPES = frozenset({STRING, INT64, BOOL, DATE, TIMESTAMP})

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Key = tuple[Any, ...]
Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    currency_column: str = ""  # set on money columns: the column holding their currency
    nullable: bool = True

    @property
    def is_money(self) -> bool:
        return bool(self.currency_column)


class PageFunc(Protocol):
    def __call__(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        after: Key | None,
        limit: int,
    ) -> list[tuple[Key, Row]]: ...


@dataclass(frozen=True)
class Dataset:
    name: str
    version: int
    description: str
    columns: tuple[Column, ...]
    cursor: str  # what the key is, for the docs, e.g. "updated_at, id"
    key_types: tuple[str, ...]  # "timestamp" | "date" | "int" | "str" per key part
    page: PageFunc
    owner: str = ""  # the app that registered it

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError(f"Dataset {self.name!r}: " + "; ".join(problems))

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _problems(dataset: Dataset) -> list[str]:
    problems = []
    if not NAME.match(dataset.name):
        problems.append("the name must be lower-case letters, digits and _")
    names = [c.name for c in dataset.columns]
    if len(set(names)) != len(names):
        problems.append("column names repeat")
    for column in dataset.columns:
        if column.type not in ARROW_TYPES:
            problems.append(f"{column.name}: type {column.type!r} not in {sorted(ARROW_TYPES)}")
        if column.is_money and (column.type != STRING or column.currency_column not in names):
            problems.append(f"{column.name}: money is a string column next to its currency")
    if set(dataset.key_types) - {"timestamp", "date", "int", "str"}:
        problems.append("key_types must be timestamp, date, int or str")
    return problems


_registry: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> Dataset:
    """Add a dataset (from an ``AppConfig.ready()``); a second one with the same name is an
    error unless it is the same object (``ready()`` may run twice in tests)."""
    existing = _registry.get(dataset.name)
    if existing is not None and existing is not dataset and existing.owner != dataset.owner:
        raise ValueError(f"Dataset {dataset.name!r} is already registered by {existing.owner}.")
    _registry[dataset.name] = dataset
    return dataset


def registered_datasets() -> list[Dataset]:
    return sorted(_registry.values(), key=lambda d: d.name)


def dataset_named(name: str) -> Dataset | None:
    return _registry.get(name)


# --- Values: how rows spell money and time --------------------------------------------------


def money_text(amount: Decimal | int | Any, currency: str) -> str:
    """A money amount as a decimal string in major units, exact: the currency's places when it
    is rounded to them ("12.50", "1000" JPY), every stored place otherwise. Never a float."""
    value = amount_of(amount, currency)
    if is_rounded(value, currency):
        return format_amount(value, currency)
    return format_decimal(value.normalize())


def decimal_text(value: Decimal | None) -> str | None:
    """A quantity as a plain decimal string without trailing zeros ("1.5", "100")."""
    if value is None:
        return None
    normal = Decimal(value).normalize()
    return format_decimal(normal.quantize(Decimal(1)) if normal == normal.to_integral() else normal)


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def encode_key(key: Key) -> list[Any]:
    """A key as JSON values (times as ISO 8601 strings), for cursors and the cursor table."""
    out: list[Any] = []
    for part in key:
        if isinstance(part, datetime | date):
            out.append(part.isoformat())
        else:
            out.append(part)
    return out


def decode_key(dataset: Dataset, raw: Sequence[Any]) -> Key:
    """The inverse of ``encode_key`` for ``dataset``'s key types; ``ValueError`` when it does not
    fit (a tampered or foreign cursor)."""
    if not isinstance(raw, list | tuple) or len(raw) != len(dataset.key_types):
        raise ValueError("wrong key length")
    parsers: dict[str, Callable[[Any], Any]] = {
        "timestamp": _parse_time,
        "date": lambda v: date.fromisoformat(str(v)),
        "int": _parse_int,
        "str": _parse_str,
    }
    return tuple(parsers[kind](part) for kind, part in zip(dataset.key_types, raw, strict=True))


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("a key time needs a zone")
    return parsed


def _parse_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an int")
    return value


def _parse_str(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise ValueError("not a string")
    return value
