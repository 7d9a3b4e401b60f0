"""`vocaliq demo` end to end with the real models: the product's first impression must work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sip.conftest import REPO


@pytest.mark.slow
def test_demo_call_answers_every_turn_with_real_models(tmp_path: Path) -> None:
    # The `demo` command exactly as `vocaliq demo --json` runs it (registering only the telephony commands, so
    # the test does not depend on the other areas' CLI modules).
    code = "import cli.sip_cmd; from cli.main import app; app(['demo', '--json', '--keep'])"
    proc = subprocess.run([sys.executable, "-c", code],
                          cwd=REPO, capture_output=True, text=True, timeout=280)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["ok"], json.dumps(report, indent=2) + proc.stderr[-3000:]
    assert proc.returncode == 0
    assert report["greeting"]
    assert len(report["turns"]) == 3
    for turn in report["turns"]:
        assert turn["agent_said"] and turn["v2v_at_caller_ms"] is not None
    heard = " ".join(t["stt_heard"].lower() for t in report["turns"])
    assert "hours" in heard and "appointment" in heard  # STT understood the caller over SIP
    # What the caller actually heard (left channel of its recording), through the real STT.
    heard_by_caller = _transcribe_left(Path(report["caller_recording"]), tmp_path)
    shutil.rmtree(report["data_dir"], ignore_errors=True)
    assert "appointment" in heard_by_caller and "name" in heard_by_caller, heard_by_caller


def _transcribe_left(path: Path, tmp: Path) -> str:
    import numpy as np
    from faster_whisper import WhisperModel

    from appliance.demo_models import whisper_dir
    from tests.sip.conftest import read_stereo

    left, _, rate = read_stereo(path)
    assert rate == 16000
    model = WhisperModel(str(whisper_dir(tmp / "models")), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe((left / 32768.0).astype(np.float32), language="en", beam_size=1)
    return " ".join(s.text for s in segments).lower()
