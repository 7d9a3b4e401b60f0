"""`vocaliq demo`: a real phone call to a freshly set-up appliance, end to end, on this machine.

A temporary data dir with the embedded defaults, SIP on a free loopback port, and a built-in caller (our
softphone in a subprocess, a PJSIP endpoint of its own) that speaks three Piper-synthesized utterances. Per
turn we report what the caller said, what STT heard, what the agent said, the stage latencies from the
call's event stream, and the voice-to-voice latency measured at the caller (end of caller speech -> first
voiced agent audio received).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.agents import AgentConfig
from appliance.audio import AudioFrame, concat, resample, silence, write_wav
from appliance.config import Settings, load_config
from appliance.conversation.timeline import CallTimeline
from appliance.serve import Appliance, embedded_services
from sip.leg import SipCallLeg

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
UTTERANCES = (
    "Hi, what are your opening hours?",
    "I would like to book an appointment, please.",
    "My name is John Smith.",
)


@dataclass
class DemoTurn:
    caller_said: str
    stt_heard: str = ""
    agent_said: str = ""
    v2v_at_caller_ms: float | None = None
    stages_ms: dict[str, float | None] = field(default_factory=dict)


@dataclass
class DemoReport:
    greeting: str = ""
    turns: list[DemoTurn] = field(default_factory=list)
    recording: str = ""
    caller_recording: str = ""
    data_dir: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.turns) and all(t.v2v_at_caller_ms is not None for t in self.turns)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        for _ in range(50):
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            try:
                tcp.bind(("127.0.0.1", port))
                return port
            except OSError:
                udp.close()
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raise OSError("no free loopback port for SIP")


def demo_settings(data_dir: Path) -> Settings:
    settings = load_config(data_dir=data_dir)
    settings.sip.host = "127.0.0.1"
    settings.sip.port = free_port()
    settings.sip.transports = ["udp"]
    settings.sip.trusted_cidrs = ["127.0.0.1/32"]
    settings.sip.rtp_port_start = 40000
    settings.sip.rtp_port_range = 2000
    settings.server.host = "127.0.0.1"
    settings.server.api_port = free_port()
    settings.server.drain_seconds = 0
    return settings


async def _synthesize(tts: Any, text: str) -> AudioFrame:
    frames = [f async for f in tts.synthesize(text)]
    speech = resample(concat(frames), 16000) if frames else silence(500)
    return concat([silence(200), speech])


async def run_demo(data_dir: Path | None = None, *, keep: bool = False) -> DemoReport:
    """Run the whole demo; `data_dir` (default: a new temp dir, deleted unless `keep`)."""
    own_dir = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="vocaliq-demo-")) if data_dir is None else data_dir
    report = DemoReport(data_dir=str(root))
    try:
        _bootstrap(root)
        settings = demo_settings(root)
        timelines: dict[str, CallTimeline] = {}
        legs: list[SipCallLeg] = []

        def observe(leg: SipCallLeg, agent: AgentConfig) -> None:
            timeline = CallTimeline(leg.call_id)
            timelines[leg.call_id] = timeline
            legs.append(leg)
            box.local.services.bus.subscribe(timeline.on_event)

        async with contextlib.AsyncExitStack() as stack:
            box = await _start_appliance(stack, settings)
            box.call_observers.append(observe)
            wavs = []
            for i, text in enumerate(UTTERANCES):
                path = root / f"caller-{i + 1}.wav"
                write_wav(path, await _synthesize(box.local.services.models.tts, text))
                wavs.append(path)
            caller_rec = root / "caller-side.wav"
            caller = await _call(f"sip:reception@127.0.0.1:{box.sip_port}", wavs, caller_rec)
            for _ in range(50):  # the agent side notices the BYE and finishes the session
                if legs and legs[0].ended.is_set():
                    break
                await asyncio.sleep(0.1)
        _fill(report, caller, timelines, legs, caller_rec)
    except Exception as exc:  # the demo reports any failure as its result
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        if own_dir and not keep:
            shutil.rmtree(root, ignore_errors=True)
            report.recording = report.caller_recording = ""
    return report


async def _start_appliance(stack: contextlib.AsyncExitStack, settings: Settings) -> Appliance:
    """The appliance with the box's model manager (models.registry) when it is installed and can load the
    models into the demo's data dir; otherwise with the embedded defaults straight from their packages."""
    if importlib.util.find_spec("models.registry") is not None:
        try:
            return await stack.enter_async_context(Appliance(settings))
        except Exception as exc:
            log.warning("demo: the model registry could not start the appliance (%s); using embedded defaults",
                        exc)
    return await stack.enter_async_context(Appliance(settings, local=await embedded_services(settings)))


def _bootstrap(root: Path) -> None:
    """The `vocaliq init` steps a demo needs: data dir, DB schema, default org/agent/route."""
    root.mkdir(parents=True, exist_ok=True)
    from appliance.store.bootstrap import initialise

    initialise(load_config(data_dir=root), org_name="Demo Clinic")


async def _call(uri: str, wavs: list[Path], record: Path) -> dict[str, Any]:
    args = [sys.executable, "-m", "sip.softphone", uri, "--turns", "--record", str(record), "--reply-timeout", "25"]
    for wav in wavs:
        args += ["--play", str(wav)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    lines = out.decode().strip().splitlines()
    if not lines:
        raise RuntimeError(f"the demo caller failed: {err.decode()[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if not result.get("answered"):
        raise RuntimeError(f"the call was not answered: {result.get('error')}")
    return result


def _fill(report: DemoReport, caller: dict[str, Any], timelines: dict[str, CallTimeline],
          legs: list[SipCallLeg], caller_rec: Path) -> None:
    timeline = timelines[legs[0].call_id] if legs else None
    turns = timeline.turns if timeline is not None else {}
    if 0 in turns:
        report.greeting = turns[0].played_text
    for i, text in enumerate(UTTERANCES):
        played = caller["turns"][i] if i < len(caller["turns"]) else {}
        turn = DemoTurn(caller_said=text, v2v_at_caller_ms=played.get("v2v_ms"))
        record = turns.get(i + 1)
        if record is not None:
            turn.stt_heard, turn.agent_said = record.user_text, record.played_text
            turn.stages_ms = {k: getattr(record, k) for k in ("endpoint_wait_ms", "stt_ms", "llm_ttft_ms",
                                                               "first_sentence_ms", "tts_first_audio_ms", "v2v_ms")}
        report.turns.append(turn)
    if legs and legs[0].recording is not None:
        report.recording = str(legs[0].recording.path)
    report.caller_recording = str(caller_rec)


def as_dict(report: DemoReport) -> dict[str, Any]:
    data = asdict(report)
    data["ok"] = report.ok
    return data
