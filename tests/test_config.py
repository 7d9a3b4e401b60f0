"""Configuration: file, env overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import default_toml, load_config
from appliance.errors import ConfigError


def test_the_file_init_writes_loads_with_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "vocaliq.toml").write_text(default_toml(tmp_path))
    settings = load_config(data_dir=tmp_path)
    assert settings.sip.port == 5060 and settings.models.llm == ["llamacpp"] and not settings.models.hosted_enabled
    assert settings.database_url == f"sqlite:///{tmp_path / 'vocaliq.db'}"


def test_env_override_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vocaliq.toml").write_text("[sip]\nport = 5070\n")
    monkeypatch.setenv("VOCALIQ_SIP__PORT", "5080")
    assert load_config(data_dir=tmp_path).sip.port == 5080


def test_bad_env_value_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCALIQ_ADMISSION__MAX_CONCURRENT_CALLS", "0")
    with pytest.raises(ConfigError, match=r"admission\.max_concurrent_calls"):
        load_config(data_dir=tmp_path)


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_path=tmp_path / "nope.toml")


def test_secret_files_are_created_private(tmp_path: Path) -> None:
    paths = load_config(data_dir=tmp_path).paths
    path = paths.write_secret("trunk-pbx", "hunter22")
    assert path.stat().st_mode & 0o777 == 0o600 and paths.read_secret("trunk-pbx") == "hunter22"
