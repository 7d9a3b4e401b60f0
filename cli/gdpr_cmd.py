"""`vocaliq gdpr export|erase`, `vocaliq retention run`, `vocaliq audit verify`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from appliance.errors import ConfigError, VocalIQError
from appliance.logs import mask_number
from appliance.store.repositories import AuditLog
from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json
from cli.main import app
from cli.store_access import OrgOpt, actor, find_org, store

gdpr_app = typer.Typer(help="Data subject requests: export or erase everything about a phone number.",
                       no_args_is_help=True)
retention_app = typer.Typer(help="Delete calls older than each organization's retention_days.",
                            no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(gdpr_app, name="gdpr")
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
PhoneOpt = Annotated[str | None, typer.Option("--phone", help="The subject's phone number (any spelling).")]
ContactOpt = Annotated[int | None, typer.Option("--contact", help="The subject's contact id.")]


class Aborted(VocalIQError):
    exit_code = 1


def _need_subject(phone: str | None, contact: int | None) -> None:
    if not phone and contact is None:
        raise ConfigError("give --phone NUMBER or --contact ID")


@gdpr_app.command("export")
def gdpr_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Zip file to write.")],
    phone: PhoneOpt = None, contact: ContactOpt = None, data_dir: DataDirOpt = None, config: ConfigOpt = None,
    org: OrgOpt = None, json_out: JsonOpt = False,
) -> None:
    """Everything about the subject as subject.json plus call recordings in a zip (audited)."""
    from appliance.gdpr import export_subject

    _need_subject(phone, contact)
    tmp = out.with_name(out.name + ".part")
    with store(data_dir, config) as (settings, db):
        with db.session() as s:
            org_id = find_org(s, org).id
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner-only
        try:
            with os.fdopen(fd, "wb") as fh:
                result = export_subject(db, settings.paths, org_id, fh, phone=phone, contact_id=contact,
                                        actor=actor())
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    if json_out:
        print_json({"out": str(out), "counts": result.counts, "files": result.files})
        return
    c = result.counts
    typer.echo(f"wrote {out}: {c['calls']} calls, {c['turns']} turns, {c['recording_files']} recordings, "
               f"{c['appointments']} appointments, {c['messages']} messages, {c['contacts']} contacts, "
               f"{c['deliveries']} webhook payloads, {c['knowledge_passages']} knowledge passages")


@gdpr_app.command("erase")
def gdpr_erase(
    phone: PhoneOpt = None, contact: ContactOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    delete_calls: Annotated[bool, typer.Option("--delete-calls", help="Delete the subject's call rows too "
                                               "(default: keep them as anonymous statistics).")] = False,
    data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None, json_out: JsonOpt = False,
) -> None:
    """Erase everything about the subject: rows, recordings, knowledge passages, webhook payloads (audited)."""
    from appliance.gdpr import erase_subject

    _need_subject(phone, contact)
    who = " and ".join(p for p in (mask_number(phone) if phone else "", f"contact {contact}" if contact else "") if p)
    if not yes:
        if not sys.stdin.isatty():
            raise Aborted("refusing to erase without --yes (no terminal to confirm on)")
        typer.confirm(f"Erase everything stored about {who}? This cannot be undone", abort=True)
    with store(data_dir, config) as (settings, db):
        with db.session() as s:
            org_id = find_org(s, org).id
        report = erase_subject(db, settings.paths, org_id, phone=phone, contact_id=contact, actor=actor(),
                               keep_statistics=not delete_calls)
    if json_out:
        print_json(report.to_dict())
        return
    c = report.counts
    typer.echo(f"erased {who}: {c['calls']} calls ({'deleted' if delete_calls else 'kept anonymous'}), "
               f"{c['turns']} turns, {report.recording_files} recording files, {c['appointments']} appointments, "
               f"{c['messages']} messages, {c['contacts']} contacts, {c['deliveries']} webhook payloads, "
               f"{report.knowledge_chunks} knowledge passages")
    if report.knowledge_documents:
        typer.echo("knowledge documents that lost passages (re-upload a cleaned copy): "
                   + ", ".join(report.knowledge_documents))
    for problem in report.problems:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be deleted.")] = False,
    data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None, json_out: JsonOpt = False,
) -> None:
    """Apply retention now (the server also runs it once a day)."""
    from appliance.gdpr import run_retention

    with store(data_dir, config) as (settings, db):
        org_id = None
        if org is not None:
            with db.session() as s:
                org_id = find_org(s, org).id
        results = run_retention(db, settings.paths, organization_id=org_id, dry_run=dry_run, actor=actor())
    if json_out:
        print_json([r.to_dict() for r in results])
        return
    verb = "would delete" if dry_run else "deleted"
    for r in results:
        if r.retention_days is None:
            typer.echo(f"organization {r.organization_id}: retention_days 0, calls kept")
        else:
            typer.echo(f"organization {r.organization_id}: keep {r.retention_days} days, {verb} {r.calls} calls, "
                       f"{r.recording_files} recordings, {r.deliveries} webhook payloads")


@audit_app.command("verify")
def audit_verify(data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Check the audit log's hash chain; exit 1 at the first entry that was changed or removed."""
    from sqlalchemy import func, select

    from appliance.store.models import AuditEntry

    with store(data_dir, config) as (_, db), db.session() as s:
        ok, bad = AuditLog(s).verify()
        entries = s.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if json_out:
        print_json({"ok": ok, "entries": entries, "first_bad_entry": bad})
    elif ok:
        typer.echo(f"audit log intact: {entries} entries, hash chain verified")
    else:
        typer.secho(f"audit log BROKEN at entry {bad}: it or its predecessor was changed or removed",
                    fg=typer.colors.RED, err=True)
    if not ok:
        raise typer.Exit(1)
