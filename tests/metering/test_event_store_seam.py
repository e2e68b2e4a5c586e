"""Ingestion reaches the store only through metering.stores.event_store()."""

import pytest
from django.test import override_settings

from metering.stores import PostgresStore, event_store, register_store


def test_postgres_is_the_default_store():
    assert isinstance(event_store(), PostgresStore)


@override_settings(TALLY_EVENT_STORE="nosuch:/tmp/x")
def test_unknown_store_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown store 'nosuch'"):
        event_store()


def test_registered_store_is_built_from_its_url():
    built: list[str] = []

    def factory(url: str) -> PostgresStore:
        built.append(url)
        return PostgresStore()

    register_store("probe", factory)
    with override_settings(TALLY_EVENT_STORE="probe:/data/x"):
        event_store()
    assert built == ["probe:/data/x"]
