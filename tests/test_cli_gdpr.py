"""The console admin verbs through the real command (subprocess: real exit codes) on a real initialised data dir:
users, orgs, agents, calls, appointments, gdpr export/erase, retention, audit verify."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from appliance.store.models import Appointment
from tests.gdpr.conftest import Box, make_box
from tests.gdpr.rawscan import files_holding
from tests.gdpr.seed import seed_caller

PHONE = "+4917612345678"
PHRASE = "my cat Mr Whiskers needs his annual shot"


def vocaliq(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args, "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """One box for the module: a call from PHONE (turns, message, recording) and an appointment."""
    b = make_box(tmp_path_factory.mktemp("box"))
    asyncio.run(seed_caller(b, call_id="call-1", phone=PHONE, name="Tilda Tester", phrase=PHRASE))
    with b.db.session() as s:
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
        s.add(Appointment(organization_id=b.org, agent_id=1, name="Tilda Tester", phone=PHONE, starts_at=start,
                          ends_at=start + dt.timedelta(minutes=30)))
    yield b
    b.db.close()


def test_users_are_added_listed_and_disabled_with_a_password_shown_once(box: Box) -> None:
    data = box.settings.paths.root
    added = as_json(vocaliq(data, "users", "add", "Clerk@Praxis.de", "--role", "editor", "--json"))
    assert isinstance(added, dict) and added["email"] == "clerk@praxis.de" and len(added["password"]) >= 12
    again = vocaliq(data, "users", "add", "clerk@praxis.de")
    assert again.returncode == 2 and again.stderr.strip() == "error: a user clerk@praxis.de already exists"
    bad_role = vocaliq(data, "users", "add", "x@praxis.de", "--role", "god")
    assert bad_role.returncode == 2 and "--role 'god'" in bad_role.stderr
    assert as_json(vocaliq(data, "users", "disable", "clerk@praxis.de", "--json"))["disabled"] is True
    users = as_json(vocaliq(data, "users", "list", "--json"))
    assert {(u["email"], u["role"], u["disabled"]) for u in users} == {
        ("admin@localhost", "owner", False), ("clerk@praxis.de", "editor", True)}
    table = vocaliq(data, "users", "list")
    assert table.returncode == 0 and "disabled" in table.stdout and added["password"] not in table.stdout


def test_orgs_are_added_with_their_first_admin_and_commands_then_need_org(box: Box) -> None:
    data = box.settings.paths.root
    made = as_json(vocaliq(data, "orgs", "add", "Kanzlei Adler", "--admin-email", "chef@adler.de", "--json"))
    assert isinstance(made, dict) and made["admin_password"]
    orgs = as_json(vocaliq(data, "orgs", "list", "--json"))
    assert [(o["name"], o["users"]) for o in orgs] == [
        ("Praxis Dr. Weber", 2), ("Kanzlei Adler", 1)]
    adler = as_json(vocaliq(data, "users", "list", "--org", "Kanzlei Adler", "--json"))
    assert [(u["email"], u["role"]) for u in adler] == [("chef@adler.de", "admin")]
    ambiguous = vocaliq(data, "agents", "show", "Reception")
    assert ambiguous.returncode == 2 and "pass --org" in ambiguous.stderr
    assert vocaliq(data, "agents", "show", "Reception", "--org", "Kanzlei Adler").returncode == 1  # not theirs


def test_agents_calls_and_appointments_are_listed_and_shown(box: Box) -> None:
    data = box.settings.paths.root
    agents = as_json(vocaliq(data, "agents", "list", "--json"))
    assert [a["name"] for a in agents] == ["Reception"]
    agent = as_json(vocaliq(data, "agents", "show", "1", "--org", "1", "--json"))
    assert isinstance(agent, dict) and agent["name"] == "Reception" and "greeting" in agent
    calls = as_json(vocaliq(data, "calls", "list", "--number", PHONE, "--json"))
    assert [(c["id"], c["caller"]) for c in calls] == [("call-1", PHONE)]
    detail = as_json(vocaliq(data, "calls", "show", "call-1", "--json"))
    assert isinstance(detail, dict) and any(PHRASE in t["user_text"] for t in detail["turns"])
    assert detail["recordings"][0]["path"].endswith("call-1.wav") and detail["events"] > 0
    shown = vocaliq(data, "calls", "show", "call-1")
    assert shown.returncode == 0 and PHRASE in shown.stdout
    missing = vocaliq(data, "calls", "show", "nope")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no call nope"
    booked = as_json(vocaliq(data, "appointments", "list", "--org", "1", "--json"))
    assert [(a["name"], a["agent"]) for a in booked] == [("Tilda Tester", "Reception")]


def test_gdpr_export_then_erase_then_audit_verify(box: Box, tmp_path: Path) -> None:
    data = box.settings.paths.root
    out = tmp_path / "tilda.zip"
    exported = vocaliq(data, "gdpr", "export", "--phone", "0049 176 12345678", "--out", str(out), "--org", "1")
    assert exported.returncode == 0, exported.stderr
    assert "1 calls" in exported.stdout and "1 recordings" in exported.stdout
    assert out.stat().st_mode & 0o777 == 0o600
    doc = json.loads(zipfile.ZipFile(out).read("subject.json"))
    assert doc["calls"][0]["id"] == "call-1" and doc["appointments"][0]["name"] == "Tilda Tester"
    refused = vocaliq(data, "gdpr", "erase", "--phone", PHONE, "--org", "1")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    erased = as_json(vocaliq(data, "gdpr", "erase", "--phone", PHONE, "--org", "1", "--yes", "--json"))
    assert isinstance(erased, dict) and erased["counts"]["appointments"] == 1 and erased["recording_files"] == 1
    assert as_json(vocaliq(data, "calls", "list", "--number", PHONE, "--json")) == []
    assert files_holding(data, PHRASE.encode()) == []
    verified = as_json(vocaliq(data, "audit", "verify", "--json"))
    assert isinstance(verified, dict) and verified["ok"] is True
    with closing(sqlite3.connect(data / "vocaliq.db")) as db:
        actions = [r[0] for r in db.execute("select action from audit_log")]
    assert {"gdpr.export", "gdpr.erase"} <= set(actions)


def test_audit_verify_fails_when_an_entry_was_changed(box: Box) -> None:
    data = box.settings.paths.root
    with closing(sqlite3.connect(data / "vocaliq.db")) as db, db:
        db.execute("update audit_log set actor = 'someone else' where id = 1")
    result = vocaliq(data, "audit", "verify")
    assert result.returncode == 1 and "BROKEN at entry 1" in result.stderr
    with closing(sqlite3.connect(data / "vocaliq.db")) as db, db:
        db.execute("update audit_log set actor = 'system' where id = 1")
    assert vocaliq(data, "audit", "verify").returncode == 0


def test_retention_run_reports_per_organization(box: Box) -> None:
    with closing(sqlite3.connect(box.settings.paths.db)) as db, db:
        db.execute("insert into settings (organization_id, key, value) values (1, 'retention_days', '30')")
    preview = as_json(vocaliq(box.settings.paths.root, "retention", "run", "--dry-run", "--json"))
    assert [(r["organization_id"], r["retention_days"], r["calls"]) for r in preview] == [
        (1, 30, 0), (2, 365, 0)]


def test_admin_verbs_on_a_dir_without_a_database_say_to_run_init(tmp_path: Path) -> None:
    result = vocaliq(tmp_path, "users", "list")
    assert result.returncode == 1 and "run `vocaliq init" in result.stderr
