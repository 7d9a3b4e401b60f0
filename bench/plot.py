"""The latency report as a PNG: v2v distributions per side, and the stages of our median SIP turn as a waterfall.

    .venv/bin/python -m bench.plot report.json out.png     (report.json from `vocaliq bench latency --json`)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

COLORS = {"ours_sip": "#1f77b4", "ours_ws": "#2ca02c", "pipecat_ws": "#d62728"}
# (label, key in the turn's stages, colour): in the order they happen after the caller stops talking
WATERFALL = (
    ("VAD hangover + media in/out", "edge", "#bbbbbb"),
    ("endpoint wait (silence)", "endpoint_wait_ms", "#9edae5"),
    ("STT after end of turn", "stt_ms", "#ff9896"),
    ("LLM to first sentence", "first_sentence_ms", "#c5b0d5"),
    ("TTS first audio", "tts_first_audio_ms", "#98df8a"),
    ("pipeline overhead", "overhead_ms", "#ffbb78"),
)


def median_turn(turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The answered turn with stages whose caller-side v2v is the median one."""
    usable = sorted((t for t in turns if t.get("v2v_ms") is not None and t.get("stages", {}).get("v2v_ms")),
                    key=lambda t: t["v2v_ms"])
    return usable[len(usable) // 2] if usable else None


def waterfall_segments(turn: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """(label, start ms, length ms, colour) from the caller's end of speech. The media path and the VAD's
    hangover are drawn as one segment in front: they are what the caller sees beyond the event timeline."""
    stages = turn["stages"]
    edge = max(0.0, float(turn["v2v_ms"]) - float(stages["v2v_ms"]))
    start, out = 0.0, []
    for label, key, colour in WATERFALL:
        length = edge if key == "edge" else float(stages.get(key) or 0.0)
        length = max(0.0, length)
        out.append((label, start, length, colour))
        start += length
    return out


def plot_latency(report: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (dist, fall) = plt.subplots(2, 1, figsize=(10, 8.5), gridspec_kw={"height_ratios": [3, 2]})
    sides = report["sides"]
    names = [n for n in sides if any(t.get("v2v_ms") is not None for t in sides[n]["turns"])]
    data = [[t["v2v_ms"] for t in sides[n]["turns"] if t.get("v2v_ms") is not None] for n in names]
    if data:
        parts = dist.violinplot(data, orientation="horizontal", showmedians=True, showextrema=True)
        for body, name in zip(parts["bodies"], names, strict=True):
            body.set_facecolor(COLORS.get(name, "#888888"))
            body.set_alpha(0.45)
        for i, (name, values) in enumerate(zip(names, data, strict=True), start=1):
            dist.scatter(values, [i] * len(values), s=12, color=COLORS.get(name, "#888888"), zorder=3)
            fig_p = sides[name]["v2v_ms"]
            dist.annotate(f"p50 {fig_p['p50']:.0f}  p95 {fig_p['p95']:.0f} ms", (fig_p["p95"], i),
                          xytext=(8, 10), textcoords="offset points", fontsize=8)
        dist.set_yticks(range(1, len(names) + 1), [sides[n]["label"] for n in names], fontsize=9)
    dist.axvline(800, color="#444444", linestyle="--", linewidth=0.8)
    dist.axvline(1200, color="#444444", linestyle=":", linewidth=0.8)
    dist.text(800, 1.005, "target p50 ", transform=dist.get_xaxis_transform(), ha="right", fontsize=7,
              color="#444444")
    dist.text(1200, 1.005, " p95", transform=dist.get_xaxis_transform(), ha="left", fontsize=7, color="#444444")
    dist.set_xlim(left=0)
    dist.set_xlabel("voice-to-voice at the caller (ms): end of caller speech -> first agent audio")
    ratio = report.get("ratio_ours_over_pipecat")
    dist.set_title("Voice-to-voice latency, same utterances and models"
                   + (f"  (ours/Pipecat at the WebSocket: p50 x{ratio['p50']}, p95 x{ratio['p95']})" if ratio else ""),
                   fontsize=10, pad=14)
    dist.grid(axis="x", alpha=0.3)

    turn = median_turn(sides.get("ours_sip", {}).get("turns", []))
    if turn is not None:
        for label, start, length, colour in waterfall_segments(turn):
            fall.barh(label, length, left=start, color=colour, edgecolor="#555555", linewidth=0.5)
            fall.text(start + length + 15, label, f"{length:.0f}", va="center", fontsize=8)
        fall.invert_yaxis()
        fall.axvline(turn["v2v_ms"], color=COLORS["ours_sip"], linewidth=1)
        fall.set_title(f"Median SIP turn, {turn['v2v_ms']:.0f} ms at the caller: \"{turn['caller_said']}\"",
                       fontsize=10)
        fall.set_xlabel("ms after the caller's last voiced frame")
        fall.grid(axis="x", alpha=0.3)
    else:
        fall.set_axis_off()
    fig.text(0.01, 0.005, f"{report['machine']}; load avg {report['load_avg_before'][0]}", fontsize=7,
             color="#555555")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(plot_latency(json.loads(args.report.read_text()), args.out))


if __name__ == "__main__":
    main()
