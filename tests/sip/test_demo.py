"""`vocaliq demo` end to end with the real models: the product's first impression must work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.sip.conftest import REPO


@pytest.mark.slow
def test_demo_call_answers_every_turn_with_real_models() -> None:
    # The `demo` command exactly as `vocaliq demo --json` runs it (registering only the telephony commands, so
    # the test does not depend on the other areas' CLI modules).
    code = "import cli.sip_cmd; from cli.main import app; app(['demo', '--json'])"
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
