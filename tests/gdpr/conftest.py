"""A real data dir (initialise) on SQLite, or on the PostgreSQL at 127.0.0.1:5432 db `test` in a schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from appliance.config import Settings, load_config
from appliance.store.bootstrap import initialise
from appliance.store.db import Database, open_database

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Box:
    settings: Settings
    db: Database
    org: int


def _pg_schema() -> Iterator[str]:
    try:
        admin = create_engine(PG)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # no server here
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable: {type(exc).__name__}")
    schema = f"g_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


def make_box(tmp_path: Path, url: str = "") -> Box:
    settings = load_config(data_dir=tmp_path)
    if url:
        settings.storage.database_url = url
    org = initialise(settings, org_name="Praxis Dr. Weber").org_id
    return Box(settings, open_database(settings), org)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    b = make_box(tmp_path)
    yield b
    b.db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Box]:
    if request.param == "sqlite":
        b = make_box(tmp_path)
        yield b
        b.db.close()
        return
    for url in _pg_schema():
        b = make_box(tmp_path, url)
        yield b
        b.db.close()
