"""Concurrent conversations: how many callers can talk to the box at once before their latency suffers.

Steps of N = 1, 2, ... simultaneous callers (our softphone, one process each, starts `stagger` s apart), each
speaking `turns` synthesized utterances to the appliance over real SIP with the real models. A step passes
while p95 voice-to-voice (at the callers) stays within twice the single-call p95, every turn is answered,
and no caller audio is lost on the way in (frames reaching the agent >= 98 % of 50 per second of call).
At the admission limit, extra calls (bench.sip_probe) are placed while the admitted ones talk: they must
be refused (503/486) at once, and the admitted calls' latency is what the step reports.

    .venv/bin/python -m bench.capacity [--max-callers 4] [--turns 3] [--probes 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Summary, lines_for, machine, summarize, synthesize_lines, table

MIN_FRAME_SHARE = 0.98


@dataclass
class Step:
    callers: int
    v2v_ms: dict[str, Any]
    answered: int
    turns: int
    frames_share_min: float  # lowest share of expected caller frames that reached the agent, over the calls
    cpu_pct: float  # the appliance process, % of one core
    probes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passed: bool = False
    why: str = ""


class _FrameCounter:
    """Counts caller frames reaching each call's leg (wraps the media thread's hand-off, nothing else)."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, float]] = {}

    def observe(self, leg: Any, agent: Any) -> None:
        stats = self.calls[leg.call_id] = {"frames": 0, "first": 0.0, "last": 0.0}
        forward = leg.on_caller_audio

        def counted(pcm: bytes) -> None:
            now = time.monotonic()
            stats["frames"] += 1
            stats["first"] = stats["first"] or now
            stats["last"] = now
            forward(pcm)

        leg.on_caller_audio = counted  # the bridge port looks the method up per frame

    def min_share(self, ids: list[str]) -> float:
        """Frames that arrived over the 50 per second the media flow lasted (lowest call)."""
        shares = []
        for call_id in ids:
            s = self.calls.get(call_id)
            if s is not None and s["last"] - s["first"] > 2:
                shares.append((s["frames"] - 1) / (50 * (s["last"] - s["first"])))
        return round(min(shares), 3) if shares else 0.0


async def run_capacity(max_callers: int = 4, turns: int = 3, probes: int = 3, stagger_s: float = 1.0, *,
                       admission: int | None = None, keep: bool = False) -> dict[str, Any]:
    """Run the steps and return the report. `admission`: lower the box's `[admission] max_concurrent_calls`
    (default: as configured, capped by this pjsua2 build's PJSUA_MAX_CALLS)."""
    from appliance.demo import _bootstrap, _start_appliance, demo_settings
    from appliance.serve import gates
    from sip.endpoint import PJSUA_MAX_CALLS

    root = Path(tempfile.mkdtemp(prefix="vocaliq-capacity-"))
    steps: list[Step] = []
    counter = _FrameCounter()
    legs: list[Any] = []
    limit = 0
    try:
        _bootstrap(root)
        settings = demo_settings(root)
        if admission is not None:
            settings.admission.max_concurrent_calls = admission
        limit = gates(settings, []).max_calls
        async with contextlib.AsyncExitStack() as stack:
            box = await _start_appliance(stack, settings)
            box.call_observers += [counter.observe, lambda leg, agent: legs.append(leg)]
            wavs = await synthesize_lines(box.local.services.models.tts, lines_for(turns), root / "caller")
            uri = f"sip:reception@127.0.0.1:{box.sip_port}"
            await _step(uri, 1, wavs[:1], root, counter, legs, probes=0, stagger_s=0)  # warm-up, not counted
            single_p95: float | None = None
            for n in range(1, max_callers + 1):
                step = await _step(uri, n, wavs, root, counter, legs,
                                   probes=probes if n >= limit else 0, stagger_s=stagger_s)
                steps.append(step)
                p95 = step.v2v_ms["p95"]
                if n == 1:
                    single_p95 = p95
                _judge(step, single_p95)
                print(f"  N={n}: v2v p50 {step.v2v_ms['p50']} p95 {p95} ms, answered {step.answered}/{step.turns}, "
                      f"frames {step.frames_share_min:.1%}, cpu {step.cpu_pct} %"
                      + (f", probes {[p['status'] for p in step.probes]}" if step.probes else "")
                      + ("" if step.passed else f"  -> stop: {step.why}"), file=sys.stderr, flush=True)
                if not step.passed or n >= limit:
                    break
                await asyncio.sleep(2)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    best = max((s.callers for s in steps if s.passed), default=0)
    return {"max_concurrent_conversations": best, "admission_limit": limit, "pjsua_max_calls": PJSUA_MAX_CALLS,
            "turns_per_caller": turns, "stagger_s": stagger_s, "steps": [asdict(s) for s in steps],
            "load_avg": [round(x, 2) for x in os.getloadavg()], "machine": machine(),
            "data_dir": str(root) if keep else ""}


async def _step(uri: str, n: int, wavs: list[Path], root: Path, counter: _FrameCounter, legs: list[Any], *,
                probes: int, stagger_s: float) -> Step:
    from appliance.demo import _call

    first_leg = len(legs)
    cpu0, wall0 = time.process_time(), time.monotonic()

    async def caller(i: int) -> dict[str, Any]:
        await asyncio.sleep(i * stagger_s)
        return await _call(uri, wavs, root / f"cap-{n}-{i}.wav")

    callers = [asyncio.create_task(caller(i)) for i in range(n)]
    probe_task = None
    if probes:
        probe_task = asyncio.create_task(_probe(uri, probes, delay_s=n * stagger_s + 3))
    results = await asyncio.gather(*callers, return_exceptions=True)
    probe_results = await probe_task if probe_task is not None else []
    cpu = round(100.0 * (time.process_time() - cpu0) / (time.monotonic() - wall0), 1)
    for _ in range(50):
        if all(leg.ended.is_set() for leg in legs[first_leg:]):
            break
        await asyncio.sleep(0.1)
    v2v: list[float | None] = []
    errors = []
    for r in results:
        if isinstance(r, BaseException):
            errors.append(f"{type(r).__name__}: {r}")
            v2v += [None] * len(wavs)
        else:
            v2v += [t.get("v2v_ms") for t in r["turns"]] + [None] * (len(wavs) - len(r["turns"]))
    return Step(n, summarize(v2v).as_dict(), sum(v is not None for v in v2v), len(v2v),
                counter.min_share([leg.call_id for leg in legs[first_leg:]]), cpu, probe_results, errors)


async def _probe(uri: str, count: int, *, delay_s: float) -> list[dict[str, Any]]:
    from bench.procs import REPO

    await asyncio.sleep(delay_s)  # every admitted caller is in its conversation by now
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.sip_probe", uri, "--count", str(count),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                                                env=env)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    lines = out.decode().strip().splitlines()
    return list(json.loads(lines[-1])) if lines else [{"status": 0, "ms": None, "detail": "probe failed"}]


def _judge(step: Step, single_p95: float | None) -> None:
    p95 = step.v2v_ms["p95"]
    if step.answered < step.turns:
        step.why = f"{step.turns - step.answered} turn(s) unanswered"
    elif step.frames_share_min < MIN_FRAME_SHARE:
        step.why = f"caller frames lost: only {step.frames_share_min:.1%} reached the agent"
    elif p95 is None or single_p95 is None or p95 > 2 * single_p95:
        step.why = f"p95 {p95} ms > 2 x single-call p95 {single_p95} ms"
    elif step.probes and any(p["status"] not in (486, 503) for p in step.probes):
        step.why = f"calls beyond admission were not refused: {[p['status'] for p in step.probes]}"
    step.passed = not step.why


def report_text(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str, Summary]] = []
    footer = []
    single = report["steps"][0]["v2v_ms"] if report["steps"] else {}
    for s in report["steps"]:
        tag = "ok" if s["passed"] else "FAILED"
        rows.append((f"v2v, {s['callers']} concurrent caller(s) ({tag})", "ms", Summary(**s["v2v_ms"])))
        growth = "".join(f"{q} x{s['v2v_ms'][q] / single[q]:.2f} " for q in ("p50", "p95")
                         if s["v2v_ms"][q] and single.get(q))
        footer.append(f"  N={s['callers']}: {growth}of one caller; answered {s['answered']}/{s['turns']}, "
                      f"caller frames in >= {s['frames_share_min']:.1%}, appliance cpu {s['cpu_pct']} % of one core"
                      + (f"; {s['why']}" if s["why"] else ""))
        if s["probes"]:
            refused = [p for p in s["probes"] if p["status"] in (486, 503)]
            rows.append((f"  refused beyond admission ({len(refused)}/{len(s['probes'])})", "ms",
                         summarize(p["ms"] for p in refused)))
    footer.append(f"max concurrent conversations within 2x single-call p95: {report['max_concurrent_conversations']}"
                  f" (admission limit {report['admission_limit']}; this pjsua2 build holds "
                  f"{report['pjsua_max_calls']} calls per process)")
    return table("concurrent conversations (real models, real SIP, at the callers)", rows, footer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-callers", type=int, default=4)
    parser.add_argument("--turns", type=int, default=3, help="caller turns per call")
    parser.add_argument("--probes", type=int, default=3, help="calls placed beyond the admission limit")
    parser.add_argument("--stagger", type=float, default=1.0, help="seconds between the callers' starts")
    parser.add_argument("--admission", type=int, help="lower [admission] max_concurrent_calls for the run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(run_capacity(args.max_callers, args.turns, args.probes, args.stagger,
                                      admission=args.admission, keep=args.keep))
    print(json.dumps(report, indent=2) if args.json else report_text(report))


if __name__ == "__main__":
    main()
