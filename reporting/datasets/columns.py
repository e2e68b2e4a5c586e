"""Column helpers shared by the built-in datasets: the same names, types and descriptions for
ids, customers, money and times everywhere."""

from __future__ import annotations

from billingsite.exports import BOOL, DATE, INT64, STRING, TIMESTAMP, Column


def ident(name: str = "id", what: str = "Tally's id of the row (stable).") -> Column:
    return Column(name, INT64, what, nullable=False)


def text(name: str, description: str, *, nullable: bool = True) -> Column:
    return Column(name, STRING, description, nullable=nullable)


def integer(name: str, description: str) -> Column:
    return Column(name, INT64, description)


def flag(name: str, description: str) -> Column:
    return Column(name, BOOL, description, nullable=False)


def day(name: str, description: str) -> Column:
    return Column(name, DATE, description)


def when(name: str, description: str) -> Column:
    return Column(name, TIMESTAMP, description + " (UTC).")


def money(name: str, description: str) -> Column:
    return Column(
        name,
        STRING,
        description + " Decimal string in major units; see `currency`.",
        currency_column="currency",
        nullable=False,
    )


def currency() -> Column:
    return Column("currency", STRING, "ISO 4217 currency code of the amounts.", nullable=False)


def customer() -> Column:
    return Column("customer", STRING, "The customer's external id.", nullable=True)


def customer_id() -> Column:
    return Column("customer_id", INT64, "Tally's id of the customer.", nullable=True)


def created() -> Column:
    return when("created_at", "When the row was created")


def updated() -> Column:
    return when("updated_at", "When the row last changed; the incremental cursor")
