"""What the admin verbs share: the box's database from `--data-dir`, choosing an organization, the audit actor."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.config import Settings
from appliance.errors import NotFound, StorageError, VocalIQError
from appliance.store.db import Database, open_database
from appliance.store.models import Organization
from cli.common import settings_from

OrgOpt = Annotated[str | None, typer.Option("--org", help="Organization name or id (default: the only one).")]


class Ambiguous(VocalIQError):
    exit_code = 2


@contextmanager
def store(data_dir: Path | None, config: Path | None) -> Iterator[tuple[Settings, Database]]:
    """Settings and the migrated database; StorageError with the fix if `vocaliq init` never ran."""
    settings = settings_from(data_dir, config)
    if not settings.storage.database_url and not settings.paths.db.exists():
        raise StorageError(f"no database in {settings.paths.root}: run `vocaliq init --data-dir "
                           f"{settings.paths.root}` first")
    db = open_database(settings)
    try:
        if not db.is_current():
            raise StorageError(f"database {db.safe_url} is not at the current schema: run `vocaliq init`")
        yield settings, db
    finally:
        db.close()


def find_org(session: Session, org: str | None) -> Organization:
    """`--org` by id or name; without it, the organization if there is exactly one."""
    if org is None:
        orgs = session.scalars(select(Organization).order_by(Organization.id).limit(2)).all()
        if len(orgs) == 1:
            return orgs[0]
        if not orgs:
            raise NotFound("no organization yet: run `vocaliq init`")
        raise Ambiguous("this box has several organizations: pass --org NAME|ID")
    row = session.get(Organization, int(org)) if org.isdigit() else None
    row = row or session.scalars(select(Organization).where(Organization.name == org)).first()
    if row is None:
        raise NotFound(f"no organization {org!r}")
    return row


def actor() -> str:
    """Who did it, for the audit log: the console user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def when(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    return value
