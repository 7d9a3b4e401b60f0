"""`vocaliq init`, `doctor` and `config show` through the real command (subprocess: real exit codes)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def vocaliq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=180,
                          env=env)


def test_init_then_doctor_exits_0_and_a_second_init_changes_nothing(tmp_path: Path) -> None:
    first = vocaliq("init", "--data-dir", str(tmp_path), "--org", "Praxis Dr. Weber", "--admin-email", "a@b.de")
    assert first.returncode == 0, first.stderr
    assert "admin login (shown once): a@b.de / " in first.stdout
    db = sqlite3.connect(tmp_path / "vocaliq.db")
    assert db.execute("select name from organizations").fetchall() == [("Praxis Dr. Weber",)]
    assert db.execute("select name from agents").fetchall() == [("Reception",)]
    assert db.execute("select did_pattern from routes").fetchall() == [("*",)]
    assert db.execute("select role, is_superadmin from users").fetchall() == [("owner", 1)]
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "secrets" / "jwt.key").stat().st_mode & 0o777 == 0o600
    doctor = vocaliq("doctor", "--data-dir", str(tmp_path), "--json")
    assert doctor.returncode == 0, doctor.stdout
    checks = {c["name"]: c["status"] for c in json.loads(doctor.stdout)["checks"]}
    assert checks["database"] == checks["models"] == checks["config"] == "ok"
    assert checks["gpu"] in ("ok", "warn")  # no GPU is a warning, never a failure
    again = vocaliq("init", "--data-dir", str(tmp_path))
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert "admin login" not in again.stdout


def test_init_takes_the_admin_password_from_a_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery\n")
    result = vocaliq("init", "--data-dir", str(tmp_path / "d"), "--admin-password-file", str(pw))
    assert result.returncode == 0 and "admin login" not in result.stdout
    from argon2 import PasswordHasher

    (stored,) = sqlite3.connect(tmp_path / "d" / "vocaliq.db").execute("select password_hash from users").fetchone()
    assert PasswordHasher().verify(stored, "correct horse battery")


@pytest.mark.parametrize(("content", "expected"), [
    ("bad = [\n", "is not valid TOML"),
    ("colour = 'blue'\n", "unknown key 'colour'"),
    ("[sip]\nport = 70000\n", "sip.port = 70000"),
])
def test_bad_config_gives_a_one_line_error_and_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "vocaliq.toml").write_text(content)
    result = vocaliq("config", "show", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and lines[0].startswith("error: ")


def test_doctor_fails_with_a_fix_hint_on_an_uninitialised_dir(tmp_path: Path) -> None:
    result = vocaliq("doctor", "--data-dir", str(tmp_path), "--json")
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["database"]["status"] == "fail" and "vocaliq init" in checks["database"]["fix"]


def test_config_show_redacts_secrets_and_env_overrides_win(tmp_path: Path) -> None:
    (tmp_path / "vocaliq.toml").write_text(
        '[sip]\nport = 5070\n[models.backends.hosted]\nkind = "openai"\nurl = "http://127.0.0.1:9"\n'
        'options = { api_key = "sk-very-secret" }\n')
    env = {**__import__("os").environ, "VOCALIQ_SIP__PORT": "5099"}
    result = vocaliq("config", "show", "--data-dir", str(tmp_path), "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sip"]["port"] == 5099
    assert "sk-very-secret" not in result.stdout and data["models"]["backends"]["hosted"]["options"]["api_key"] == "***"
