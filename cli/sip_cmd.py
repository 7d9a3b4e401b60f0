"""`vocaliq serve`, `vocaliq call`, `vocaliq call-out` and `vocaliq demo`: the telephony side from the shell."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from appliance.errors import SipError
from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json, settings_from
from cli.main import app


@app.command()
def serve(data_dir: DataDirOpt = None, config: ConfigOpt = None,
          sip_port: Annotated[int | None, typer.Option("--sip-port", help="SIP port (default [sip] port).")] = None,
          api_port: Annotated[int | None, typer.Option("--api-port", help="API port (default [server]).")] = None,
          host: Annotated[str | None, typer.Option("--host", help="Address for SIP and the API.")] = None) -> None:
    """Run the appliance: SIP, the API and call sessions in one process (SIGTERM drains, then stops)."""
    from appliance.logs import setup_logging
    from appliance.serve import serving

    settings = settings_from(data_dir, config)
    if sip_port is not None:
        settings.sip.port = sip_port
    if api_port is not None:
        settings.server.api_port = api_port
    if host is not None:
        settings.sip.host = settings.server.host = host
    setup_logging(settings.logging.level, settings.logging.json_format)

    async def run() -> None:
        async with serving(settings) as box:
            typer.echo(f"vocaliq serving: SIP on {settings.sip.host}:{box.sip_port}"
                       + (f", API on http://{settings.server.host}:{settings.server.api_port}"
                          if box.api_task is not None else ""), err=True)
            await box.wait()
            typer.echo("stopping: draining calls", err=True)

    asyncio.run(run())


@app.command()
def call(uri: Annotated[str, typer.Argument(help="Who to call, e.g. sip:reception@127.0.0.1:5060.")],
         play: Annotated[list[Path] | None, typer.Option("--play", help="WAV to play (repeatable).")] = None,
         record: Annotated[Path | None, typer.Option("--record", help="Write the call (stereo WAV).")] = None,
         dtmf: Annotated[str, typer.Option("--dtmf", help="DTMF digits to send after playing.")] = "",
         duration: Annotated[float, typer.Option("--duration", help="Stay on the line this long (s).")] = 5.0,
         json_out: JsonOpt = False) -> None:
    """A softphone for smoke tests: call a trunk or agent, play WAVs, send DTMF, record the answer."""
    from dataclasses import asdict

    from sip.softphone import place_call

    for path in play or []:
        if not path.is_file():
            raise typer.BadParameter(f"{path} does not exist", param_hint="--play")
    report = asyncio.run(place_call(uri, list(play or []), record=record, dtmf=dtmf, duration=duration))
    if json_out:
        print_json(asdict(report))
    elif report.answered:
        typer.echo(f"answered; heard {report.received_voiced_ms / 1000:.1f} s of voiced audio"
                   + (f"; recorded to {record}" if record else ""))
    if not report.answered:
        raise SipError(f"call to {uri} failed: {report.error}", report.status or 500)


@app.command("call-out")
def call_out(to: Annotated[str, typer.Option("--to", help="Number or SIP URI to call.")],
             agent: Annotated[str, typer.Option("--agent", help="Agent that speaks on the call.")],
             trunk: Annotated[str, typer.Option("--trunk", help="Trunk to place the call through.")] = "",
             via: Annotated[str, typer.Option("--via", help="sip (a trunk, this process runs the call) or "
                                              "twilio (the agent's Twilio account; vocaliq serve runs it).")] = "sip",
             from_number: Annotated[str, typer.Option("--from", help="Twilio: number to call from "
                                                      "(default: the agent's Twilio number).")] = "",
             data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Place an outbound call with an agent on it: through a SIP trunk (answering-machine detection applies) or
    the agent's Twilio account."""
    from appliance.serve import place_outbound

    if via not in ("sip", "twilio"):
        raise typer.BadParameter("choose sip or twilio", param_hint="--via")
    settings = settings_from(data_dir, config)
    if via == "twilio":
        from appliance.twilio.outbound import place_for_agent

        placed = asyncio.run(place_for_agent(settings, to=to, agent_name=agent, from_=from_number))
        result: dict[str, Any] = {"to": placed.to, "via": "twilio", "call_sid": placed.call_sid,
                                  "from": placed.from_, "outcome": f"queued at Twilio as {placed.call_sid}"}
    else:
        result = asyncio.run(place_outbound(settings, to=to, agent_name=agent, trunk=trunk))
    if json_out:
        print_json(result)
    else:
        typer.echo(f"call to {result['to']}: {result['outcome']}")


@app.command()
def demo(json_out: JsonOpt = False,
         keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary data dir and recordings.")] = False
         ) -> None:
    """Set up a throwaway appliance, call it over real SIP with a built-in caller, show every turn."""
    from appliance.demo import as_dict, run_demo

    if not json_out:
        typer.echo("Starting a demo appliance and calling it (models load first; this takes a few seconds)...")
    report = asyncio.run(run_demo(keep=keep))
    if json_out:
        print_json(as_dict(report))
    else:
        _print_demo(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_demo(report: Any) -> None:
    if report.greeting:
        typer.echo(f"\nagent (greeting): {report.greeting}")
    for i, turn in enumerate(report.turns, 1):
        typer.echo(f"\nturn {i}")
        typer.echo(f"  caller said : {turn.caller_said}")
        typer.echo(f"  STT heard   : {turn.stt_heard or '(nothing)'}")
        typer.echo(f"  agent said  : {turn.agent_said or '(nothing)'}")
        stages = "  ".join(f"{k.removesuffix('_ms')}={v:.0f}" for k, v in turn.stages_ms.items() if v is not None)
        typer.echo(f"  stages (ms) : {stages or '-'}")
        v2v = f"{turn.v2v_at_caller_ms:.0f} ms" if turn.v2v_at_caller_ms is not None else "NO ANSWER"
        typer.echo(f"  v2v at caller: {v2v}")
    if report.recording:
        typer.echo(f"\nrecording (caller left, agent right): {report.recording}")
    elif not report.error:
        typer.echo("\nthe call was recorded; run with --keep to keep the recording and data dir")
    if report.error:
        typer.secho(f"\ndemo failed: {report.error}", fg=typer.colors.RED, err=True)
    else:
        typer.echo("\nevery turn was answered" if report.ok else "\nsome turns were not answered")
