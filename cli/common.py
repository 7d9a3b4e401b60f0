"""Options and helpers shared by CLI commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from appliance.config import Settings, load_config

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", "-d", help="Data dir (DB, recordings, models). Env: VOCALIQ_DATA_DIR."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default <data-dir>/vocaliq.toml).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def settings_from(data_dir: Path | None, config: Path | None) -> Settings:
    """Load settings for a command; raises ConfigError (exit 2) with a one-line reason."""
    return load_config(data_dir=data_dir, config_path=config)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
