"""`vocaliq chat`, `vocaliq converse` and `vocaliq knowledge ...`: the conversation engine from the shell."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json, settings_from
from cli.main import app

AgentOpt = Annotated[str | None, typer.Option("--agent", "-a", help="Agent name (default: the org's first agent).")]
knowledge_app = typer.Typer(help="Manage the knowledge base the agent answers from.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")


def flush_call_rows() -> None:
    """Wait for the call recorder's queued DB writes before the process exits."""
    from appliance.conversation.recorder import flush

    flush()


def _fmt(turn: Any) -> str:
    parts = [f"{k.removesuffix('_ms')}={getattr(turn, k):.0f}ms" for k in
             ("endpoint_wait_ms", "stt_ms", "llm_ttft_ms", "tts_first_audio_ms", "v2v_ms")
             if getattr(turn, k) is not None]
    return " ".join(parts)


async def _script_lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _stdin_lines() -> AsyncIterator[str]:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line.rstrip("\n")


@app.command()
def chat(data_dir: DataDirOpt = None, config: ConfigOpt = None, agent: AgentOpt = None,
         script: Annotated[Path | None, typer.Option("--script", help="One caller line per line; no terminal.")]
         = None, json_out: JsonOpt = False) -> None:
    """Talk to an agent by text through the same session logic as a phone call ('#1' sends DTMF 1)."""
    from appliance.conversation.filemode import converse_text
    from appliance.conversation.services import local_services

    settings = settings_from(data_dir, config)
    if script is not None and not script.exists():
        raise typer.BadParameter(f"{script} does not exist", param_hint="--script")
    script_lines = script.read_text(encoding="utf-8").splitlines() if script is not None else []

    def show(text: str) -> None:
        if not json_out:
            typer.echo(f"agent> {text}")

    async def run() -> Any:
        async with local_services(settings, agent_name=agent) as local:
            lines = _script_lines(script_lines) if script is not None else _stdin_lines()
            if script is None and not json_out:
                typer.echo(f"Talking to {local.agent.name}. Type as the caller; Ctrl-D hangs up.")
            return await converse_text(lines, services=local.services, agent=local.agent,
                                       call_id=f"chat-{uuid.uuid4().hex[:12]}", on_text=show,
                                       backoffice=local.backoffice)

    result = asyncio.run(run())
    flush_call_rows()
    if json_out:
        print_json(result.to_dict())


@app.command()
def converse(in_wav: Annotated[Path, typer.Option("--in", help="Caller audio (WAV), played in real time.")],
             out_wav: Annotated[Path, typer.Option("--out", help="Where to write the agent's audio (WAV).")],
             data_dir: DataDirOpt = None, config: ConfigOpt = None, agent: AgentOpt = None,
             linger_ms: Annotated[float, typer.Option(help="Silence after the caller audio before hanging up.")]
             = 6000.0, json_out: JsonOpt = False) -> None:
    """Run a caller recording through the whole audio pipeline and record the agent."""
    from appliance.audio import read_wav, write_wav
    from appliance.conversation.filemode import converse_file
    from appliance.conversation.services import local_services

    settings = settings_from(data_dir, config)
    caller = read_wav(in_wav)

    async def run() -> Any:
        async with local_services(settings, agent_name=agent) as local:
            return await converse_file(caller, services=local.services, agent=local.agent,
                                       call_id=f"file-{uuid.uuid4().hex[:12]}", linger_ms=linger_ms,
                                       backoffice=local.backoffice)

    result = asyncio.run(run())
    flush_call_rows()
    if result.agent_audio is not None:
        write_wav(out_wav, result.agent_audio)
    if json_out:
        print_json(result.to_dict())
        return
    for turn in result.turns:
        if turn.user_text:
            typer.echo(f"caller> {turn.user_text}")
        cut = " [interrupted]" if turn.interrupted else ""
        typer.echo(f"agent>  {turn.played_text}{cut}")
        if turn.v2v_ms is not None:
            typer.echo(f"        {_fmt(turn)}")
    typer.echo(f"call ended: {result.outcome.reason}; agent audio written to {out_wav}")


def _knowledge(data_dir: Path | None, config: Path | None) -> tuple[Any, int | None]:
    from appliance.conversation.services import open_knowledge

    settings = settings_from(data_dir, config)
    org_id: int | None = None
    try:
        from appliance.conversation.backoffice import default_org_id

        org_id = default_org_id(settings)
    except ImportError:
        pass
    return open_knowledge(settings), org_id


@knowledge_app.command("add")
def knowledge_add(files: Annotated[list[Path], typer.Argument(help="TXT, MD, PDF or HTML files.")],
                  data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Add documents to the knowledge base."""
    kb, org = _knowledge(data_dir, config)
    added = []
    for path in files:
        if not path.is_file():
            raise typer.BadParameter(f"{path} is not a file")
        info = asyncio.run(kb.add_document(org, path.name, path.read_bytes()))
        added.append({"doc_id": info.doc_id, "name": info.name, "chunks": info.chunks})
        if not json_out:
            typer.echo(f"added {info.name} as {info.doc_id} ({info.chunks} chunks)")
    if json_out:
        print_json(added)


@knowledge_app.command("list")
def knowledge_list(data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List the documents in the knowledge base."""
    kb, org = _knowledge(data_dir, config)
    docs = asyncio.run(kb.list_documents(org))
    if json_out:
        print_json([{"doc_id": d.doc_id, "name": d.name, "chunks": d.chunks, "added_at": d.added_at} for d in docs])
        return
    for d in docs:
        typer.echo(f"{d.doc_id}  {d.name}  {d.chunks} chunks  {d.added_at}")
    if not docs:
        typer.echo("no documents")


@knowledge_app.command("remove")
def knowledge_remove(doc_id: str, data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Remove a document and all its chunks."""
    kb, org = _knowledge(data_dir, config)
    chunks = asyncio.run(kb.remove_document(org, doc_id))
    typer.echo(f"removed {doc_id} ({chunks} chunks)")


@knowledge_app.command("search")
def knowledge_search(query: str, data_dir: DataDirOpt = None, config: ConfigOpt = None,
                     k: Annotated[int, typer.Option("--k", help="How many chunks at most.")] = 3,
                     json_out: JsonOpt = False) -> None:
    """Show what the agent would retrieve for a question (score threshold applied)."""
    kb, org = _knowledge(data_dir, config)
    hits = asyncio.run(kb.search(org, query, k=k))
    if json_out:
        print_json(hits)
        return
    for hit in hits:
        typer.echo(f"{hit['score']:.3f}  {hit['name']}: {hit['text'][:200]}")
    if not hits:
        typer.echo("nothing relevant found")
