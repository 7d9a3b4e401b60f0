"""`vocaliq models bench`: one table of real figures per configured backend; a broken backend is a row, not a crash."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from appliance.config import BackendConfig, Settings
from bench.models import format_table, run_bench


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_bench_measures_vad_and_embeddings_against_their_targets(model_settings: Settings,
                                                                      models_dir: Path) -> None:
    report = await run_bench(model_settings, roles=("vad", "embed"), budget_s=60, runs=2)
    rows = {(r.role, r.figure): r for r in report.rows}
    window = rows[("vad", "per 32 ms window")]
    assert window.n > 50 and window.p50 is not None and window.p50 > 0 and window.target == 1.0
    assert rows[("vad", "load")].p50 is not None
    assert rows[("embed", "passages/s (batch of 32)")].p50 is not None
    assert rows[("embed", "query latency")].n >= 2
    table = format_table(report)
    assert "per 32 ms window" in table and "machine:" in table and "cores usable" in table
    assert report.machine.strip() and report.cores_usable >= 1


async def test_an_unreachable_or_refused_backend_is_reported_as_a_row(model_settings: Settings,
                                                                      models_dir: Path) -> None:
    settings = model_settings.model_copy(deep=True)
    settings.models.llm = ["gpu-box", "cloud"]
    settings.models.backends = {
        "gpu-box": BackendConfig(kind="openai-compatible", url=f"http://127.0.0.1:{_dead_port()}/v1", timeout_s=5),
        "cloud": BackendConfig(kind="openai", url="https://api.openai.com/v1", api_key_file="openai.key"),
    }
    report = await run_bench(settings, roles=("llm",), budget_s=30, runs=1)
    notes = {r.backend: r.note for r in report.rows if r.note}
    assert "failed" in notes["gpu-box"] and "127.0.0.1" in notes["gpu-box"]
    assert notes["cloud"].startswith("not loaded") and "hosted_enabled" in notes["cloud"]


def test_cli_prints_the_bench_as_json(model_settings: Settings, models_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "models", "bench", "--json", "--only", "embed",
                             "--data-dir", str(model_settings.data_dir)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    figures = {row["figure"] for row in data["rows"]}
    assert {"load", "passages/s (batch of 32)", "query latency"} <= figures
    assert data["machine"] and data["load_average"]
    bad = subprocess.run([sys.executable, "-m", "cli.main", "models", "bench", "--only", "gpu",
                          "--data-dir", str(model_settings.data_dir)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--only" in bad.stderr
