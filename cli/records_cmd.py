"""`vocaliq agents list|show`, `vocaliq calls list|show`, `vocaliq appointments list`: read-only views."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from appliance.errors import NotFound
from appliance.store.models import Agent, Appointment, Call, CallEventRow, Organization, Recording, Turn, utcnow
from appliance.store.repositories import TenantRepo
from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json
from cli.main import app
from cli.store_access import OrgOpt, find_org, plain, store, when

agents_app = typer.Typer(help="The voice agents.", no_args_is_help=True)
calls_app = typer.Typer(help="Calls, with their turns and latencies.", no_args_is_help=True)
appointments_app = typer.Typer(help="Booked appointments.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")
app.add_typer(calls_app, name="calls")
app.add_typer(appointments_app, name="appointments")
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many rows.")]


def _row(obj: Any, *skip: str) -> dict[str, Any]:
    return {c.key: plain(getattr(obj, c.key)) for c in obj.__table__.columns if c.key not in skip}


def _org_filter(s: Session, org: str | None) -> int | None:
    return None if org is None else find_org(s, org).id


@agents_app.command("list")
def agents_list(data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None,
                json_out: JsonOpt = False) -> None:
    """Agents with language, voice, recording and knowledge switches."""
    with store(data_dir, config) as (_, db), db.session() as s:
        query = select(Agent, Organization.name).join(Organization, Organization.id == Agent.organization_id)
        org_id = _org_filter(s, org)
        if org_id is not None:
            query = query.where(Agent.organization_id == org_id)
        out: list[dict[str, Any]] = [
            {"id": a.id, "name": a.name, "organization": name, "language": a.language, "voice": a.voice,
             "recording": a.recording_enabled, "knowledge": a.knowledge_enabled}
            for a, name in s.execute(query.order_by(Agent.organization_id, Agent.name))]
    if json_out:
        print_json(out)
        return
    table = Table("id", "name", "organization", "language", "voice", "recording", "knowledge")
    for a in out:
        table.add_row(str(a["id"]), a["name"], a["organization"], a["language"], a["voice"] or "default",
                      "on" if a["recording"] else "off", "on" if a["knowledge"] else "off")
    Console().print(table)


@agents_app.command("show")
def agents_show(agent: Annotated[str, typer.Argument(help="Agent name or id.")], data_dir: DataDirOpt = None,
                config: ConfigOpt = None, org: OrgOpt = None, json_out: JsonOpt = False) -> None:
    """One agent's full configuration."""
    with store(data_dir, config) as (_, db), db.session() as s:
        repo = TenantRepo(s, Agent, find_org(s, org).id)
        row = repo.first(Agent.id == int(agent)) if agent.isdigit() else None
        row = row or repo.first(Agent.name == agent)
        if row is None:
            raise NotFound(f"no agent {agent!r}")
        out = _row(row)
    if json_out:
        print_json(out)
        return
    config_ = out.pop("config")
    for key, value in out.items():
        typer.echo(f"{key:18} {value}")
    typer.echo(f"{'config':18} {', '.join(sorted(config_)) or '-'}")


@calls_app.command("list")
def calls_list(data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None,
               number: Annotated[str | None, typer.Option("--number", help="Only calls from or to it.")] = None,
               limit: LimitOpt = 50, json_out: JsonOpt = False) -> None:
    """Latest calls first."""
    with store(data_dir, config) as (_, db), db.session() as s:
        query = select(Call, Agent.name).outerjoin(Agent, Agent.id == Call.agent_id)
        org_id = _org_filter(s, org)
        if org_id is not None:
            query = query.where(Call.organization_id == org_id)
        if number:
            query = query.where(or_(Call.caller == number, Call.callee == number))
        rows = s.execute(query.order_by(Call.started_at.desc()).limit(limit)).all()
        turns = dict(s.execute(select(Turn.call_id, func.count()).where(Turn.call_id.in_([c.id for c, _ in rows]))
                               .group_by(Turn.call_id)).all())
        out = [{"id": c.id, "organization_id": c.organization_id, "agent": agent, "direction": c.direction,
                "transport": c.transport, "caller": c.caller, "callee": c.callee, "status": c.status,
                "started_at": plain(c.started_at), "duration_s": c.duration_s, "end_reason": c.end_reason,
                "turns": turns.get(c.id, 0), "summary": c.summary} for c, agent in rows]
        started = {c.id: c.started_at for c, _ in rows}
    if json_out:
        print_json(out)
        return
    table = Table("started", "id", "dir", "caller", "callee", "agent", "s", "turns", "end", "summary")
    for c in out:
        table.add_row(when(started[c["id"]]), c["id"], c["direction"][:3], c["caller"], c["callee"], c["agent"] or "",
                      f"{c['duration_s']:.0f}", str(c["turns"]), c["end_reason"], c["summary"][:40])
    Console().print(table)


@calls_app.command("show")
def calls_show(call_id: Annotated[str, typer.Argument(help="Call id.")], data_dir: DataDirOpt = None,
               config: ConfigOpt = None, org: OrgOpt = None, json_out: JsonOpt = False) -> None:
    """One call: its row, turns with latencies, recordings and event count."""
    with store(data_dir, config) as (_, db), db.session() as s:
        org_id = _org_filter(s, org)
        call = s.get(Call, call_id)
        if call is None or (org_id is not None and call.organization_id != org_id):
            raise NotFound(f"no call {call_id}")
        out = _row(call)
        out["turns"] = [_row(t, "organization_id", "call_id") for t in
                        s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.index))]
        out["recordings"] = [_row(r, "organization_id", "call_id") for r in
                             s.scalars(select(Recording).where(Recording.call_id == call.id))]
        out["events"] = s.scalar(select(func.count()).select_from(CallEventRow)
                                 .where(CallEventRow.call_id == call.id))
    if json_out:
        print_json(out)
        return
    for key in ("id", "direction", "caller", "callee", "status", "started_at", "ended_at", "duration_s",
                "end_reason", "summary", "sentiment"):
        typer.echo(f"{key:12} {out[key]}")
    for t in out["turns"]:
        v2v = (t["latency"] or {}).get("v2v_ms")
        typer.echo(f"turn {t['index']:>2}  caller: {t['user_text']}")
        typer.echo(f"          agent:  {t['played_text']}{' [cut off]' if t['interrupted'] else ''}"
                   f"  ({t['intent'] or '-'}, v2v {v2v if v2v is not None else '-'} ms)")
    for r in out["recordings"]:
        typer.echo(f"recording    {r['path']} ({r['duration_s']:.1f} s)")
    typer.echo(f"events       {out['events']}")


@appointments_app.command("list")
def appointments_list(
    data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's calendar (name).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Past ones too (default: from now on).")] = False,
    limit: LimitOpt = 100, json_out: JsonOpt = False,
) -> None:
    """Appointments in start order (upcoming by default)."""
    with store(data_dir, config) as (_, db), db.session() as s:
        query = select(Appointment, Agent.name).join(Agent, Agent.id == Appointment.agent_id)
        org_id = _org_filter(s, org)
        if org_id is not None:
            query = query.where(Appointment.organization_id == org_id)
        if agent:
            query = query.where(Agent.name == agent)
        if not all_:
            query = query.where(Appointment.starts_at >= utcnow() - dt.timedelta(hours=1))
        rows = s.execute(query.order_by(Appointment.starts_at).limit(limit)).all()
        out = [{**_row(a, "organization_id"), "agent": name} for a, name in rows]
        starts = {a.id: a.starts_at for a, _ in rows}
    if json_out:
        print_json(out)
        return
    table = Table("starts", "agent", "name", "phone", "status", "notes")
    for a in out:
        table.add_row(when(starts[a["id"]]), a["agent"], a["name"], a["phone"], a["status"], a["notes"][:40])
    Console().print(table if out else "no appointments")
