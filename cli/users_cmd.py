"""`vocaliq users list|add|disable` and `vocaliq orgs list|add`: accounts at the console, audited."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from argon2 import PasswordHasher
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, update

from appliance.errors import ConfigError, NotFound, VocalIQError
from appliance.store.models import Call, Organization, RefreshToken, User, utcnow
from appliance.store.repositories import AuditLog
from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json
from cli.main import app
from cli.store_access import OrgOpt, actor, find_org, plain, store

users_app = typer.Typer(help="User accounts and their roles.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations (tenants) on this box.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(orgs_app, name="orgs")
ROLES = ("owner", "admin", "editor", "viewer", "auditor")
PasswordFileOpt = Annotated[Path | None, typer.Option("--password-file", help="File holding the password "
                                                      "(default: generate one and print it once).")]


class Conflict(VocalIQError):
    exit_code = 2


def _password(path: Path | None) -> tuple[str, bool]:
    if path is None:
        return secrets.token_urlsafe(12), True
    try:
        password = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if len(password) < 8:
        raise ConfigError("the password must be at least 8 characters")
    return password, False


def _email(value: str) -> str:
    email = value.strip().lower()
    if "@" not in email or email.startswith("@") or len(email) > 320:
        raise ConfigError(f"not an email address: {value!r}")
    return email


@users_app.command("list")
def users_list(data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None,
               json_out: JsonOpt = False) -> None:
    """Users (of one organization with --org), with role and state."""
    with store(data_dir, config) as (_, db), db.session() as s:
        query = select(User, Organization.name).join(Organization, Organization.id == User.organization_id)
        if org is not None:
            query = query.where(User.organization_id == find_org(s, org).id)
        rows = s.execute(query.order_by(User.organization_id, User.email)).all()
        out = [{"id": u.id, "email": u.email, "organization": name, "organization_id": u.organization_id,
                "role": u.role, "superadmin": u.is_superadmin, "disabled": u.disabled,
                "created_at": plain(u.created_at)} for u, name in rows]
    if json_out:
        print_json(out)
        return
    table = Table("id", "email", "organization", "role", "state")
    for u in out:
        state = "disabled" if u["disabled"] else "superadmin" if u["superadmin"] else "active"
        table.add_row(str(u["id"]), u["email"], u["organization"], u["role"], state)
    Console().print(table)


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="Login email.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")] = "viewer",
    password_file: PasswordFileOpt = None,
    data_dir: DataDirOpt = None, config: ConfigOpt = None, org: OrgOpt = None, json_out: JsonOpt = False,
) -> None:
    """Add a user to an organization."""
    if role not in ROLES:
        raise ConfigError(f"--role {role!r}: use one of {', '.join(ROLES)}")
    address = _email(email)
    password, generated = _password(password_file)
    with store(data_dir, config) as (_, db), db.session() as s:
        organization = find_org(s, org)
        if s.scalars(select(User.id).where(User.email == address)).first() is not None:
            raise Conflict(f"a user {address} already exists")
        user = User(organization_id=organization.id, email=address, role=role,
                    password_hash=PasswordHasher().hash(password))
        s.add(user)
        s.flush()
        AuditLog(s).append("user.create", actor=actor(), target=f"user:{user.id}", organization_id=organization.id,
                           detail={"email": address, "role": role})
        result = {"id": user.id, "email": address, "role": role, "organization": organization.name}
    if json_out:
        print_json({**result, "password": password if generated else None})
        return
    typer.echo(f"added {address} ({role}) to {result['organization']}")
    if generated:
        typer.echo(f"password (shown once): {password}")


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="Login email.")], data_dir: DataDirOpt = None,
                  config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Disable a user: no more logins, and their refresh tokens are revoked."""
    address = _email(email)
    with store(data_dir, config) as (_, db), db.session() as s:
        user = s.scalars(select(User).where(User.email == address)).first()
        if user is None:
            raise NotFound(f"no user {address}")
        user.disabled = True
        revoked = s.execute(update(RefreshToken).where(RefreshToken.user_id == user.id,
                                                       RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
        AuditLog(s).append("user.disable", actor=actor(), target=f"user:{user.id}",
                           organization_id=user.organization_id, detail={"email": address})
        count = revoked.rowcount  # type: ignore[attr-defined]
    if json_out:
        print_json({"email": address, "disabled": True, "refresh_tokens_revoked": count})
    else:
        typer.echo(f"disabled {address} ({count} refresh tokens revoked)")


@orgs_app.command("list")
def orgs_list(data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Organizations with their number of users and calls."""
    with store(data_dir, config) as (_, db), db.session() as s:
        users = dict(s.execute(select(User.organization_id, func.count()).group_by(User.organization_id)).all())
        calls = dict(s.execute(select(Call.organization_id, func.count()).group_by(Call.organization_id)).all())
        out = [{"id": o.id, "name": o.name, "users": users.get(o.id, 0), "calls": calls.get(o.id, 0),
                "created_at": plain(o.created_at)}
               for o in s.scalars(select(Organization).order_by(Organization.id))]
    if json_out:
        print_json(out)
        return
    table = Table("id", "name", "users", "calls", "created")
    for o in out:
        table.add_row(str(o["id"]), o["name"], str(o["users"]), str(o["calls"]), str(o["created_at"])[:16])
    Console().print(table)


@orgs_app.command("add")
def orgs_add(
    name: Annotated[str, typer.Argument(help="Organization name (unique).")],
    admin_email: Annotated[str, typer.Option("--admin-email", help="Its first admin's login.")],
    admin_password_file: Annotated[Path | None, typer.Option("--admin-password-file",
                                                             help="File holding that admin's password.")] = None,
    data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False,
) -> None:
    """Create an organization with its first admin (role admin)."""
    address = _email(admin_email)
    password, generated = _password(admin_password_file)
    with store(data_dir, config) as (_, db), db.session() as s:
        if s.scalars(select(Organization.id).where(Organization.name == name)).first() is not None:
            raise Conflict(f"an organization named {name!r} already exists")
        if s.scalars(select(User.id).where(User.email == address)).first() is not None:
            raise Conflict(f"a user {address} already exists")
        organization = Organization(name=name)
        s.add(organization)
        s.flush()
        s.add(User(organization_id=organization.id, email=address, role="admin",
                   password_hash=PasswordHasher().hash(password)))
        AuditLog(s).append("organization.create", actor=actor(), target=f"organization:{organization.id}",
                           organization_id=organization.id, detail={"name": name, "admin": address})
        org_id = organization.id
    if json_out:
        print_json({"id": org_id, "name": name, "admin_email": address,
                    "admin_password": password if generated else None})
        return
    typer.echo(f"created organization {name!r} (id {org_id}) with admin {address}")
    if generated:
        typer.echo(f"admin password (shown once): {password}")

