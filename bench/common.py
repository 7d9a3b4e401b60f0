"""What the latency and capacity benchmarks share: the caller's lines, their synthesized audio, percentiles,
the machine description and the one-table output (figure, unit, p50, p95, max, n)."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import AudioFrame, concat, rms_dbfs, split, write_wav

# What the caller says, in this order (cycled for more turns). Mostly small talk and questions that the agent
# answers with the LLM, one fixed answer (opening hours); nothing that starts a form or ends the call, so every
# turn is a plain question -> answer on both sides of the side-by-side.
CALLER_LINES = (
    "Hello, how are you today?",
    "Do you have parking near the office?",
    "What are your opening hours?",
    "Can you tell me where you are located?",
    "Is the doctor good with children?",
)
VOICED_DBFS = -40.0  # the softphone's threshold for "voiced" 20 ms frames (sip.softphone.VOICED_DBFS)


@dataclass(frozen=True, slots=True)
class Summary:
    p50: float | None
    p95: float | None
    max: float | None
    mean: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"p50": self.p50, "p95": self.p95, "max": self.max, "mean": self.mean, "n": self.n}


def summarize(values: Iterable[float | None]) -> Summary:
    """p50/p95 (linear interpolation), max and mean of the values that are not None."""
    data = np.array([v for v in values if v is not None], dtype=np.float64)
    if data.size == 0:
        return Summary(None, None, None, None, 0)
    return Summary(round(float(np.percentile(data, 50)), 1), round(float(np.percentile(data, 95)), 1),
                   round(float(data.max()), 1), round(float(data.mean()), 1), int(data.size))


def machine() -> str:
    """CPU model, cores, memory and Python: the line every benchmark table carries."""
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {os.cpu_count()} cpu{mem}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def lines_for(turns: int, lines: Sequence[str] = CALLER_LINES) -> list[str]:
    return [lines[i % len(lines)] for i in range(turns)]


def trim_to_voice(audio: AudioFrame, lead_ms: float = 200.0) -> AudioFrame:
    """The utterance cut after its last voiced 20 ms frame (Piper ends on a quiet tail), so "end of caller
    speech" is the moment the last voiced frame leaves the caller; `lead_ms` of silence stays in front."""
    frames = split(audio, 20)
    voiced = [i for i, f in enumerate(frames) if rms_dbfs(f) > VOICED_DBFS]
    if not voiced:
        return audio
    first = max(0, voiced[0] - int(lead_ms // 20))
    return concat(frames[first:voiced[-1] + 1])


async def synthesize_lines(tts: Any, lines: Sequence[str], out_dir: Path) -> list[Path]:
    """One 16 kHz WAV per distinct line (Piper, the agent's own voice: the same audio for every side)."""
    from appliance.demo import _synthesize

    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any call
    paths: dict[str, Path] = {}
    for text in dict.fromkeys(lines):
        path = out_dir / f"line-{len(paths) + 1}.wav"
        write_wav(path, trim_to_voice(await _synthesize(tts, text)))
        paths[text] = path
    return [paths[text] for text in lines]


def table(title: str, rows: Sequence[tuple[str, str, Summary]], footer: Sequence[str] = ()) -> str:
    """One table: figure, unit, p50, p95, max, n; then the machine."""
    def cell(v: float | None) -> str:
        return f"{v:>9.0f}" if v is not None else f"{'-':>9}"

    out = [title, f"{'figure':<44}{'unit':<6}{'p50':>9}{'p95':>9}{'max':>9}{'n':>5}"]
    out += [f"{name:<44}{unit:<6}{cell(s.p50)}{cell(s.p95)}{cell(s.max)}{s.n:>5}" for name, unit, s in rows]
    out += list(footer)
    out.append(f"machine: {machine()}")
    return "\n".join(out)
