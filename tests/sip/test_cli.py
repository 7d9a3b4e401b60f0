"""`vocaliq serve` and `vocaliq call` as a user runs them: two processes talking SIP over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.demo import free_port
from tests.sip.conftest import REPO, tone

CLI = "import sys, cli.sip_cmd; from cli.main import app; app(sys.argv[1:])"  # the telephony commands only


@pytest.mark.slow
async def test_vocaliq_call_reaches_a_running_vocaliq_serve_which_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "vocaliq.toml").write_text('[sip]\ntrusted_cidrs = ["127.0.0.1/32"]\ntransports = ["udp"]\n'
                                       '[server]\ndrain_seconds = 5\n')
    port = free_port()
    serve = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLI, "serve", "--data-dir", str(data), "--sip-port", str(port), "--host", "127.0.0.1",
        "--api-port", str(free_port()), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        banner = b""
        for _ in range(120):  # models load first
            line = await asyncio.wait_for(serve.stderr.readline(), 60)  # type: ignore[union-attr]
            if b"vocaliq serving" in line or not line:
                banner = line
                break
        assert b"vocaliq serving" in banner, banner
        call = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "call", f"sip:reception@127.0.0.1:{port}", "--play",
            str(tone(tmp_path / "t.wav", 440, 0.5)), "--record", str(tmp_path / "call.wav"), "--duration", "4",
            "--json", cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(call.communicate(), 60)
        report = json.loads(out.decode()[out.decode().index("{"):])
        assert call.returncode == 0 and report["answered"]
        assert report["received_voiced_ms"] > 1000  # the agent's greeting reached the caller
        assert (tmp_path / "call.wav").stat().st_size > 44 + 4 * 16000
    finally:
        if serve.returncode is None:
            os.kill(serve.pid, signal.SIGTERM)
        await asyncio.wait_for(serve.wait(), 30)
    assert serve.returncode == 0
    assert list((data / "recordings").glob("*/*.wav"))  # the call was recorded on the box


@pytest.mark.slow
async def test_vocaliq_call_out_greets_a_person_who_answers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    callee = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sip.softphone", "--listen", str(port),
        "--play", str(tone(tmp_path / "hi.wav", 300, 0.6)), "--hold", "8", "--duration", "40", cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "call-out", "--to", f"sip:+4930555@127.0.0.1:{port}", "--agent", "Reception",
            "--data-dir", str(data), "--json", cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        stdout, _ = await asyncio.wait_for(out.communicate(), 90)
    finally:
        callee.terminate()
        await callee.wait()
    text = stdout.decode()
    result = json.loads(text[text.index("{"):])
    assert out.returncode == 0
    assert result["amd"] == "human" and result["outcome"] == "caller_hangup"  # the callee hung up after 8 s
