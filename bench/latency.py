"""Voice-to-voice latency on real calls, measured at the caller, side by side with a Pipecat pipeline.

Three sides get the same synthesized caller turns, call by call in turn (so background load hits all alike):

- **ours, SIP**: the appliance as `vocaliq demo` runs it (SIP on loopback, in-process SmolLM2) called by our
  softphone; v2v = last voiced caller frame leaving the caller's media port -> first voiced agent frame out
  of the caller's jitter buffer. Stage breakdown and pipeline overhead come from the call's event timeline.
- **ours, WS** and **Pipecat, WS**: our engine (bench.ws_agent) and a Pipecat 1.14 bot (bench.pipecat_side),
  each in a process of its own behind a Twilio Media Streams WebSocket (8 kHz µ-law), both on the same
  llama.cpp server (the same gguf); the same caller (bench.ws_caller) measures v2v at the WebSocket. The
  ratio ours/Pipecat is taken between these two: same boundary, same models, same endpointing silence.

    .venv/bin/python -m bench.latency [--turns 20] [--turns-per-call 5] [--no-pipecat] [--json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Summary, lines_for, machine, summarize, synthesize_lines, table

STAGES = ("endpoint_wait_ms", "stt_ms", "llm_ttft_ms", "first_sentence_ms", "tts_first_audio_ms", "v2v_ms",
          "overhead_ms")
SIDES = ("ours_sip", "ours_ws", "pipecat_ws")
LABELS = {"ours_sip": "ours, SIP (in-process LLM)", "ours_ws": "ours, WebSocket (LLM server)",
          "pipecat_ws": "Pipecat 1.14, WebSocket (LLM server)"}


@dataclass
class Side:
    name: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def v2v(self) -> list[float | None]:
        return [t.get("v2v_ms") for t in self.turns]


async def run_latency(turns: int = 20, turns_per_call: int = 5, *, pipecat: bool = True, warmup: bool = True,
                      keep: bool = False) -> dict[str, Any]:
    """Run the whole benchmark and return the report (see `report_text` for its table). `warmup`: first a
    one-turn call to every side that is not counted (first model runs page weights in and fill caches)."""
    from appliance.demo import _bootstrap, demo_settings

    root = Path(tempfile.mkdtemp(prefix="vocaliq-bench-"))
    sides = {name: Side(name) for name in (SIDES if pipecat else SIDES[:1])}
    load_before = os.getloadavg()
    started = time.monotonic()
    try:
        _bootstrap(root)
        settings = demo_settings(root)
        said = lines_for(turns)
        async with contextlib.AsyncExitStack() as stack:
            sip = await stack.enter_async_context(_SipSide.open(settings, root))
            wavs = await synthesize_lines(sip.tts, said, root / "caller")
            ws_urls: dict[str, str] = {}
            if pipecat:
                ws_urls = await _start_ws_sides(stack, root, sip.agent)
            if warmup:
                scratch = {name: Side(name) for name in sides}
                await sip.call(scratch["ours_sip"], wavs[:1], said[:1])
                for name, url in ws_urls.items():
                    await _ws_call(scratch[name], url, wavs[:1], said[:1])
            measure_from = time.monotonic()  # one clock for every process here (CLOCK_MONOTONIC)
            for first in range(0, turns, turns_per_call):
                chunk = list(range(first, min(turns, first + turns_per_call)))
                await sip.call(sides["ours_sip"], [wavs[i] for i in chunk], [said[i] for i in chunk])
                for name, url in ws_urls.items():
                    await _ws_call(sides[name], url, [wavs[i] for i in chunk], [said[i] for i in chunk])
            _attach_ws_stages(sides, root, measure_from)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return _report(sides, turns, turns_per_call, load_before, time.monotonic() - started,
                   str(root) if keep else "")


class _SipSide:
    """The appliance on SIP (as `vocaliq demo` runs it) and calls to it from our softphone."""

    def __init__(self, box: Any, root: Path) -> None:
        self.box = box
        self.root = root
        self.timelines: dict[str, Any] = {}
        self.legs: list[Any] = []
        self.calls = 0
        self.unsubscribe: list[Any] = []
        box.call_observers.append(self._observe)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Any, root: Path) -> Any:
        from appliance.demo import _start_appliance

        async with contextlib.AsyncExitStack() as stack:
            side = cls(await _start_appliance(stack, settings), root)
            try:
                yield side
            finally:
                for unsubscribe in side.unsubscribe:
                    unsubscribe()

    @property
    def tts(self) -> Any:
        return self.box.local.services.models.tts

    @property
    def agent(self) -> Any:
        return self.box.local.agent

    def _observe(self, leg: Any, agent: Any) -> None:
        from appliance.conversation.timeline import CallTimeline

        timeline = CallTimeline(leg.call_id)
        self.timelines[leg.call_id] = timeline
        self.legs.append(leg)
        self.unsubscribe.append(self.box.local.services.bus.subscribe(timeline.on_event))

    async def call(self, side: Side, wavs: list[Path], said: list[str]) -> None:
        from appliance.demo import _call

        self.calls += 1
        before = len(self.legs)
        try:
            caller = await _call(f"sip:reception@127.0.0.1:{self.box.sip_port}", wavs,
                                 self.root / f"sip-call-{self.calls}.wav")
        except Exception as exc:  # one failed call is reported, the benchmark goes on
            side.errors.append(f"SIP call {self.calls}: {exc}")
            return
        for _ in range(50):  # the agent side notices the BYE and finishes its last turn
            if len(self.legs) > before and self.legs[before].ended.is_set():
                break
            await asyncio.sleep(0.1)
        timeline = self.timelines.get(self.legs[before].call_id) if len(self.legs) > before else None
        records = timeline.turns if timeline is not None else {}
        for i, text in enumerate(said):
            played = caller["turns"][i] if i < len(caller["turns"]) else {}
            turn: dict[str, Any] = {"call": self.calls, "caller_said": text, "v2v_ms": played.get("v2v_ms")}
            rec = records.get(i + 1)
            if rec is not None:
                turn.update({"stt_heard": rec.user_text, "agent_said": rec.played_text, "intent": rec.intent,
                             "stages": {k: getattr(rec, k) for k in STAGES}})
            side.turns.append(turn)


async def _start_ws_sides(stack: contextlib.AsyncExitStack, root: Path, agent: Any) -> dict[str, str]:
    """The llama.cpp server, our engine on a WebSocket and the Pipecat bot, each a process of its own."""
    import datetime as dt

    from appliance.demo import free_port
    from bench.llm_server import MODEL_ALIAS, llama_server
    from bench.procs import child_server
    from models.packs import find_pack
    from models.vad.base import VADParams

    models_dir = root / "models"
    _, stt_dir = find_pack(models_dir, "stt")
    _, llm_dir = find_pack(models_dir, "llm")
    _, tts_dir = find_pack(models_dir, "tts")
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    url = await stack.enter_async_context(llama_server(llm_dir / "model.gguf", log=logs / "llama.log"))
    hangover_ms = VADParams().min_silence_ms
    system = agent.system_prompt.replace("{org}", agent.organization_name) or \
        f"You are the receptionist of {agent.organization_name}. Answer briefly."
    system += f" Today is {dt.date.today().strftime('%A, %B %d, %Y')}."  # as AgentTurn phrases it
    cfg = {"greeting": agent.greeting_text(), "system_prompt": system, "temperature": 0.3,
           "max_tokens": agent.max_reply_tokens, "whisper_dir": str(stt_dir), "llm_model": MODEL_ALIAS,
           "piper_dir": str(tts_dir), "piper_voice": "voice",
           "vad_threshold": agent.endpointing.vad_threshold, "vad_start_s": VADParams().min_speech_ms / 1000,
           "vad_stop_s": hangover_ms / 1000,
           "turn_timeout_s": (agent.endpointing.min_silence_ms - hangover_ms) / 1000}
    (root / "pipecat-agent.json").write_text(json.dumps(cfg, indent=2))
    ours_port, pc_port = free_port(), free_port()
    await stack.enter_async_context(child_server(
        "bench.ws_agent", "--data-dir", str(root), "--port", str(ours_port), "--llm-url", url,
        "--timelines", str(root / "ws-timelines.json"), log=logs / "ws_agent.log"))
    await stack.enter_async_context(child_server(
        "bench.pipecat_side", "--agent", str(root / "pipecat-agent.json"), "--port", str(pc_port),
        "--llm-url", url, "--metrics", str(root / "pipecat-metrics.json"), log=logs / "pipecat.log"))
    return {"ours_ws": f"ws://127.0.0.1:{ours_port}/ws", "pipecat_ws": f"ws://127.0.0.1:{pc_port}/ws"}


async def _ws_call(side: Side, url: str, wavs: list[Path], said: list[str]) -> None:
    from bench.ws_caller import place_ws_call

    report = await place_ws_call(url, wavs)
    if report.error:
        side.errors.append(f"{url}: {report.error}")
    side.extra["calls"] = calls = side.extra.get("calls", 0) + 1
    for i, text in enumerate(said):
        v2v = report.turns[i].v2v_ms if i < len(report.turns) else None
        side.turns.append({"call": calls, "caller_said": text, "v2v_ms": v2v})
    await asyncio.sleep(1.0)  # let the server finish the call before the next side speaks


def _attach_ws_stages(sides: dict[str, Side], root: Path, since: float) -> None:
    """Our WS calls' event timelines (written by bench.ws_agent) and Pipecat's own per-service metrics."""
    path = root / "ws-timelines.json"
    if "ours_ws" in sides and path.exists():
        calls = json.loads(path.read_text())[-sides["ours_ws"].extra.get("calls", 0):]  # after the warm-up
        ours = list(sides["ours_ws"].turns)
        by_call: dict[int, list[dict[str, Any]]] = {}
        for t in ours:
            by_call.setdefault(t["call"], []).append(t)
        for n, call in enumerate(calls, 1):
            records = {r["index"]: r for r in call["turns"]}
            for i, turn in enumerate(by_call.get(n, [])):
                rec = records.get(i + 1)
                if rec is not None:
                    turn.update({"stt_heard": rec["user_text"], "agent_said": rec["played_text"],
                                 "intent": rec["intent"], "stages": {k: rec.get(k) for k in STAGES}})
    metrics = root / "pipecat-metrics.json"
    if "pipecat_ws" in sides and metrics.exists():
        per: dict[str, list[float]] = {}
        for m in (m for m in json.loads(metrics.read_text()) if m["t"] >= since):
            per.setdefault(f"{m['processor'].split('#')[0]} {m['kind']}", []).append(m["ms"])
        sides["pipecat_ws"].extra["pipecat_metrics"] = {k: summarize(v).as_dict() for k, v in sorted(per.items())}


def _stage(side: Side, key: str) -> Summary:
    return summarize(t.get("stages", {}).get(key) for t in side.turns)


def _report(sides: dict[str, Side], turns: int, per_call: int, load_before: tuple[float, ...], wall_s: float,
            kept: str) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "turns": turns, "turns_per_call": per_call,
                           "load_avg_before": [round(x, 2) for x in load_before],
                           "load_avg_after": [round(x, 2) for x in os.getloadavg()], "wall_s": round(wall_s, 1),
                           "data_dir": kept, "sides": {}}
    for name, side in sides.items():
        entry: dict[str, Any] = {"label": LABELS[name], "v2v_ms": summarize(side.v2v()).as_dict(),
                                 "answered": sum(1 for v in side.v2v() if v is not None),
                                 "turns": side.turns, "errors": side.errors, **side.extra}
        if name.startswith("ours"):
            entry["stages_ms"] = {k: _stage(side, k).as_dict() for k in STAGES}
            edge = [t["v2v_ms"] - t["stages"]["v2v_ms"] for t in side.turns
                    if t.get("v2v_ms") is not None and t.get("stages", {}).get("v2v_ms") is not None]
            entry["edge_ms"] = summarize(edge).as_dict()
        out["sides"][name] = entry
    ours, theirs = out["sides"].get("ours_ws"), out["sides"].get("pipecat_ws")
    if ours and theirs and ours["v2v_ms"]["p50"] and theirs["v2v_ms"]["p50"]:
        out["ratio_ours_over_pipecat"] = {q: round(ours["v2v_ms"][q] / theirs["v2v_ms"][q], 2) for q in ("p50", "p95")}
        sip = out["sides"]["ours_sip"]["v2v_ms"]
        if sip["p50"]:
            out["ratio_ours_sip_over_pipecat_ws"] = {q: round(sip[q] / theirs["v2v_ms"][q], 2) for q in ("p50", "p95")}
    return out


def report_text(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str, Summary]] = []
    for side in report["sides"].values():
        rows.append((f"v2v at caller: {side['label']}", "ms", Summary(**side["v2v_ms"])))
    sip = report["sides"].get("ours_sip")
    if sip:
        for key in STAGES:
            rows.append((f"  ours SIP stage: {key.removesuffix('_ms')}", "ms", Summary(**sip["stages_ms"][key])))
        rows.append(("  ours SIP edge (caller v2v - event v2v)", "ms", Summary(**sip["edge_ms"])))
    ws = report["sides"].get("ours_ws")
    if ws:
        for key in ("stt_ms", "first_sentence_ms", "tts_first_audio_ms", "overhead_ms"):
            rows.append((f"  ours WS stage: {key.removesuffix('_ms')}", "ms", Summary(**ws["stages_ms"][key])))
    for key, fig in (report["sides"].get("pipecat_ws", {}).get("pipecat_metrics") or {}).items():
        rows.append((f"  Pipecat {key}", "ms", Summary(**fig)))
    footer = []
    if "ratio_ours_over_pipecat" in report:
        r = report["ratio_ours_over_pipecat"]
        footer.append(f"ratio ours/Pipecat at the WebSocket: p50 {r['p50']}, p95 {r['p95']}  (target p50 <= 0.8)")
    if "ratio_ours_sip_over_pipecat_ws" in report:
        r = report["ratio_ours_sip_over_pipecat_ws"]
        footer.append(f"ratio ours over SIP / Pipecat at the WebSocket: p50 {r['p50']}, p95 {r['p95']}")
    for side in report["sides"].values():
        missing = report["turns"] - side["answered"]
        if missing or side["errors"]:
            footer.append(f"{side['label']}: {missing} turn(s) unanswered; {'; '.join(side['errors'])[:300]}")
    footer.append(f"{report['turns']} caller turns per side, {report['turns_per_call']} per call, "
                  f"load average before/after {report['load_avg_before'][0]}/{report['load_avg_after'][0]}, "
                  f"{report['wall_s']:.0f} s")
    return table("voice-to-voice latency (end of caller speech -> first agent audio, at the caller)", rows, footer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--turns-per-call", type=int, default=5)
    parser.add_argument("--no-pipecat", action="store_true", help="only our SIP side")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--no-warmup", action="store_true", help="count the first (cold) call too")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir (recordings, logs)")
    args = parser.parse_args()
    report = asyncio.run(run_latency(args.turns, args.turns_per_call, pipecat=not args.no_pipecat,
                                     warmup=not args.no_warmup, keep=args.keep))
    if args.plot:
        from bench.plot import plot_latency

        plot_latency(report, args.plot)
    print(json.dumps(report, indent=2) if args.json else report_text(report))


if __name__ == "__main__":
    main()
