"""Bench databases on the server DATABASE_URL points at (never the application database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def url_for(database: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{database}"))


def connect(database: str, *, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(url_for(database), autocommit=autocommit)


def database_exists(name: str) -> bool:
    with connect("postgres") as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


def recreate(name: str) -> None:
    with connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate(name: str) -> None:
    env = {**os.environ, "DATABASE_URL": url_for(name)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def django_setup(name: str) -> None:
    """Point this process's Django at the bench database (call before importing models)."""
    os.environ["DATABASE_URL"] = url_for(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
    import django

    django.setup()
