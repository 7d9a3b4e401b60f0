"""A real data dir (initialise) on SQLite, or on the PostgreSQL at 127.0.0.1:5432 db `test` in a schema of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.config import Settings, load_config
from appliance.store.bootstrap import initialise
from appliance.store.db import Database, open_database
from tests.postgres import pg_schema_url


@dataclass
class Box:
    settings: Settings
    db: Database
    org: int


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
    for url in pg_schema_url():
        b = make_box(tmp_path, url)
        yield b
        b.db.close()
