"""Voice-to-voice pipeline benchmark: a synthesized caller talks to the Reception agent through the whole
audio pipeline (FileLeg in real time → VAD → endpointing → STT → flows/LLM → TTS), several calls in a row.

Prints one table: per-turn v2v and its stages, and the pipeline overhead
(v2v − endpoint wait − STT − time to first sentence − TTS first audio), p50/p95, and the machine.

    .venv/bin/python -m bench.pipeline --data-dir D [--calls 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

CALLER_LINES = [
    "I would like to book an appointment for tomorrow at 3 pm. My name is Anna Schmidt.",
    "Yes, please.",
    "When are you open?",
    "What is your address?",
    "No thanks, goodbye.",
]
STAGES = ["endpoint_wait_ms", "stt_ms", "first_sentence_ms", "llm_ttft_ms", "tts_first_audio_ms", "v2v_ms",
          "overhead_ms"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _synthesize(tts: Any, lines: list[str], gap_ms: float, lead_ms: float) -> Any:
    from appliance.audio import INTERNAL_RATE, concat, resample, silence

    parts = [silence(lead_ms)]
    for line in lines:
        frames = [resample(f, INTERNAL_RATE) async for f in tts.synthesize(line)]
        parts += [*frames, silence(gap_ms)]
    return concat(parts)


async def run(data_dir: Path, calls: int, models: Any = None) -> dict[str, Any]:
    from appliance.agents import AgentConfig, default_reception_agent
    from appliance.config import load_config
    from appliance.conversation import CallServices
    from appliance.conversation.filemode import converse_file

    settings = load_config(data_dir=data_dir)
    if models is None:
        from appliance.conversation.services import load_call_models

        models = load_call_models(settings)  # the registry's models, or the embedded defaults without it
    agent = AgentConfig.from_mapping(default_reception_agent())
    caller = await _synthesize(models.tts, CALLER_LINES, gap_ms=7000, lead_ms=7000)
    samples: dict[str, list[float]] = {k: [] for k in STAGES}
    for n in range(calls):
        result = await converse_file(caller, services=CallServices(models=models), agent=agent,
                                     call_id=f"bench-{n}", linger_ms=2500)
        for turn in result.turns[1:]:
            if turn.v2v_ms is None:
                continue
            for key in STAGES:
                value = getattr(turn, key)
                if value is not None:
                    samples[key].append(float(value))
    return {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "calls": calls,
        "turns": len(samples["v2v_ms"]),
        "figures": {k: {"p50": _pct(v, 0.5), "p95": _pct(v, 0.95), "mean": statistics.fmean(v) if v else None,
                        "n": len(v)} for k, v in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help="data dir with installed models")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="vocaliq-bench-"))
    report = asyncio.run(run(data_dir, args.calls))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"pipeline benchmark: {report['calls']} calls, {report['turns']} caller turns, {report['machine']}")
    print(f"{'figure':<22}{'unit':<6}{'p50':>10}{'p95':>10}{'n':>6}")
    for key, fig in report["figures"].items():
        print(f"{key.removesuffix('_ms'):<22}{'ms':<6}{fig['p50']:>10.1f}{fig['p95']:>10.1f}{fig['n']:>6}")


if __name__ == "__main__":
    main()
