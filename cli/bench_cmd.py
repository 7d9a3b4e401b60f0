"""`vocaliq bench latency|capacity`: voice-to-voice latency (with Pipecat side by side) and concurrent calls,
measured on real calls over loopback with the real models (see docs/performance.md)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonOpt, print_json
from cli.main import app

bench_app = typer.Typer(help="Benchmarks on this machine: latency at the caller and concurrent calls.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("latency")
def latency(turns: Annotated[int, typer.Option("--turns", min=1, help="Caller turns per side.")] = 20,
            turns_per_call: Annotated[int, typer.Option("--turns-per-call", min=1, help="Turns per call.")] = 5,
            pipecat: Annotated[bool, typer.Option("--pipecat/--no-pipecat",
                                                  help="Also run the Pipecat side by side (bench extra).")] = True,
            warmup: Annotated[bool, typer.Option("--warmup/--no-warmup",
                                                 help="One uncounted call per side first.")] = True,
            plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of the results.")] = None,
            keep: Annotated[bool, typer.Option("--keep", help="Keep the temp data dir (recordings, logs).")] = False,
            json_out: JsonOpt = False) -> None:
    """Voice-to-voice latency at the caller over real SIP, per stage, and side by side with Pipecat."""
    from bench.latency import report_text, run_latency

    if pipecat and importlib.util.find_spec("pipecat") is None:
        raise typer.BadParameter("pipecat-ai is not installed: pip install -e '.[bench]' (or use --no-pipecat)",
                                 param_hint="--pipecat")
    if not json_out:
        typer.echo(f"Calling the box {turns} times per side (models load first; a few minutes)...", err=True)
    report = asyncio.run(run_latency(turns, turns_per_call, pipecat=pipecat, warmup=warmup, keep=keep))
    if plot is not None:
        from bench.plot import plot_latency

        report["plot"] = str(plot_latency(report, plot))
    if json_out:
        print_json(report)
    else:
        typer.echo(report_text(report))
        if plot is not None:
            typer.echo(f"plot: {plot}")
    if not any(side["answered"] for side in report["sides"].values()):
        raise typer.Exit(1)


@bench_app.command("capacity")
def capacity(max_callers: Annotated[int, typer.Option("--max-callers", min=1, help="Highest step.")] = 4,
             turns: Annotated[int, typer.Option("--turns", min=1, help="Caller turns per call.")] = 3,
             probes: Annotated[int, typer.Option("--probes", min=0,
                                                 help="Calls placed beyond the admission limit.")] = 3,
             admission: Annotated[int | None, typer.Option("--admission", min=1,
                                                           help="Lower the admission limit for the run.")] = None,
             json_out: JsonOpt = False) -> None:
    """Concurrent conversations until p95 v2v passes 2x the single call; calls beyond admission refused."""
    from bench.capacity import report_text, run_capacity

    if not json_out:
        typer.echo("Raising the number of simultaneous callers (a few minutes)...", err=True)
    report = asyncio.run(run_capacity(max_callers, turns, probes, admission=admission))
    if json_out:
        print_json(report)
    else:
        typer.echo(report_text(report))
    if not report["steps"]:
        raise typer.Exit(1)
