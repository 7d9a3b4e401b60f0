"""Real models, loaded once per test session through the registry (packs assembled from registry packages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Settings, load_config
from models.registry import ModelSet, load_models


@pytest.fixture(scope="session")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_config(data_dir=tmp_path_factory.mktemp("models-data"))


@pytest.fixture(scope="session")
def models(model_settings: Settings) -> ModelSet:
    return load_models(model_settings)


@pytest.fixture(scope="session")
def models_dir(model_settings: Settings, models: ModelSet) -> Path:
    return model_settings.paths.models


# real loopback HTTP peers for the HTTP backends and chains (session-scoped, always stopped)
from tests.models.servers import llama_server, wire_server  # noqa: E402, F401
