"""The PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth) for tests: a schema of their own per use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_schema_url() -> Iterator[str]:
    """Yield a database URL whose search_path is a new schema, dropped afterwards; skip (with the reason) when
    the server is not reachable. Use as `for url in pg_schema_url(): ...` inside a fixture."""
    try:
        admin = create_engine(PG)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any connection failure means: no server here
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable: {type(exc).__name__}")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()
