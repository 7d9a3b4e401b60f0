"""`vocaliq bench latency|capacity` with the smallest sizes, through the real command (subprocess: real exit
codes, real SIP on loopback, real models). Checks what a reader of the report relies on, never timings."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SUMMARY = {"p50", "p95", "max", "mean", "n"}


def vocaliq(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "cli.main", "bench", *args, "--json"], capture_output=True,
                          text=True, timeout=840, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.skipif(importlib.util.find_spec("pipecat") is None, reason="pipecat-ai not installed (bench extra)")
def test_latency_reports_every_side_per_stage_and_the_ratio_with_a_plot(tmp_path: Path) -> None:
    png = tmp_path / "latency.png"
    report = vocaliq("latency", "--turns", "1", "--turns-per-call", "1", "--no-warmup", "--plot", str(png))

    assert set(report["sides"]) == {"ours_sip", "ours_ws", "pipecat_ws"}
    for side in report["sides"].values():
        assert set(side["v2v_ms"]) == SUMMARY
        assert side["answered"] == 1, side["errors"]
        assert side["turns"][0]["caller_said"]
    sip = report["sides"]["ours_sip"]
    assert set(sip["stages_ms"]) >= {"endpoint_wait_ms", "stt_ms", "first_sentence_ms", "tts_first_audio_ms",
                                     "overhead_ms"}
    assert sip["turns"][0]["stt_heard"], "the agent heard the caller over SIP"
    assert set(sip["edge_ms"]) == SUMMARY
    assert set(report["ratio_ours_over_pipecat"]) == {"p50", "p95"}
    assert report["machine"] and report["load_avg_before"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_capacity_refuses_calls_beyond_admission_and_reports_each_step() -> None:
    report = vocaliq("capacity", "--max-callers", "1", "--turns", "1", "--probes", "2", "--admission", "1")

    assert report["admission_limit"] == 1
    (step,) = report["steps"]
    assert step["callers"] == 1 and step["answered"] == 1
    assert set(step["v2v_ms"]) == SUMMARY
    assert [p["status"] for p in step["probes"]] == [503, 503], "calls beyond admission get 503"
    assert 0.0 < step["frames_share_min"] <= 1.05
    assert report["max_concurrent_conversations"] in (0, 1)
