"""Model packs: default install is idempotent, verify catches corruption, admin files install, bad files refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.errors import ModelUnavailable
from models.llm.llamacpp import SmolLM
from models.packs import install_default, install_from, load_manifest, verify


def _vocaliq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=120)


def test_default_install_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    done, _ = install_default(tmp_path / "models")
    assert {(p.role, p.name) for p in done} >= {("stt", "whisper-base"), ("llm", "smollm2-135m"), ("tts", "joe-us")}
    manifest = (tmp_path / "models" / "manifest.json").read_text()
    done2, skipped2 = install_default(tmp_path / "models")
    assert done2 == [] and len(skipped2) == len(done)
    assert (tmp_path / "models" / "manifest.json").read_text() == manifest
    assert all(problem == "" for _, problem in verify(tmp_path / "models"))


def test_verify_names_a_corrupted_file_and_exits_1(tmp_path: Path) -> None:
    install_default(tmp_path / "models")
    vocab = tmp_path / "models" / "stt" / "whisper-base" / "config.json"
    vocab.unlink()  # a hard link into the package: replace, never write through it
    vocab.write_text("{}")
    bad = [problem for _, problem in verify(tmp_path / "models") if problem]
    assert bad and "config.json" in bad[0]
    result = _vocaliq("models", "verify", "--data-dir", str(tmp_path))
    assert result.returncode == 1 and "config.json" in result.stdout and "install default" in result.stderr


def test_admin_gguf_installs_from_a_local_file_and_loads(tmp_path: Path, models_dir: Path) -> None:
    gguf = tmp_path / "copied-model.gguf"
    shutil.copyfile(models_dir / "llm" / "smollm2-135m" / "model.gguf", gguf)
    result = _vocaliq("models", "install", "--from", str(gguf), "--role", "llm", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    packs = {(p.role, p.name) for p in load_manifest(tmp_path / "d" / "models")}
    assert ("llm", "copied-model") in packs
    listing = _vocaliq("models", "list", "--json", "--data-dir", str(tmp_path / "d"))
    assert '"copied-model"' in listing.stdout


def test_bad_model_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"not a model at all")
    with pytest.raises(ModelUnavailable, match=r"broken\.gguf"):
        install_from(tmp_path / "models", fake, "llm")
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match=r"\.onnx\.json"):
        install_from(tmp_path / "models", voice, "tts")
    with pytest.raises(ModelUnavailable, match="install default"):
        SmolLM(tmp_path / "missing.gguf")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelUnavailable, match=r"truncated\.gguf"):
        SmolLM(truncated)
