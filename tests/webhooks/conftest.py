from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.config import Settings, load_config
from appliance.store.bootstrap import initialise
from appliance.store.db import Database, open_database


@dataclass
class Box:
    settings: Settings
    db: Database
    org: int


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    settings = load_config(data_dir=tmp_path)
    org = initialise(settings, org_name="Kanzlei Adler").org_id
    db = open_database(settings)
    yield Box(settings, db, org)
    db.close()
