"""Runtime settings of the service, read once from the environment at the edge.

Every variable is prefixed ``AIGUILLEUR_`` (nested with ``__``), except
``DATABASE_URL`` which keeps its conventional name. Defaults are the
embedded sandbox: everything on loopback.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class AmiSettings(BaseModel):
    """Where and how the service logs in to Asterisk's manager interface."""

    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "aiguilleur"
    secret: SecretStr = SecretStr("aiguilleur-sandbox")
    ping_interval: float = Field(5.0, gt=0, description="seconds between keep-alive pings")
    pong_timeout: float = Field(3.0, gt=0, description="a ping unanswered this long means the link is dead")
    action_timeout: float = Field(5.0, gt=0)
    backoff_initial: float = Field(0.5, gt=0)
    backoff_max: float = Field(30.0, gt=0)


class FastAgiSettings(BaseModel):
    """Where the FastAGI server listens (Asterisk dials ``agi://host:port/ivr``)."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class PbxSettings(BaseModel):
    """How the generated Asterisk configuration binds (loopback by default)."""

    sip_host: str = "127.0.0.1"
    sip_port: int = Field(5060, ge=1, le=65535)
    rtp_start: int = Field(10000, ge=1024, le=65535)
    rtp_end: int = Field(10999, ge=1024, le=65535)
    line_contact_host: str = Field(
        "127.0.0.1", description="where line softphones are reached when they do not register"
    )
    line_contact_port: int | None = Field(
        5070, description="static contact port for every line (the sandbox SIPp UAS); None = lines register"
    )


class Settings(BaseSettings):
    """All runtime settings; build one with ``Settings()`` at the composition root."""

    model_config = SettingsConfigDict(
        env_prefix="AIGUILLEUR_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "AIGUILLEUR_DATABASE_URL"),
        description="None = the embedded default (local server on 127.0.0.1:5432, else a private one)",
    )
    hotline_file: Path = REPO_ROOT / "config" / "hotline.yaml"
    asterisk_conf_dir: Path = REPO_ROOT / "asterisk_conf"
    state_dir: Path = REPO_ROOT / "var"
    log_level: str = "info"
    asterisk_log_dir: Path | None = Field(
        None, description="Asterisk's log dir (cdr-custom/, queue_log) for recovery; Debian: /var/log/asterisk"
    )
    asterisk_etc_dirs: list[Path] = Field(
        default_factory=list,
        description="where a live rules apply rewrites queues.conf, queuerules.conf and extensions.conf "
        "(the running Asterisk's etc dir, e.g. /etc/asterisk); empty: only members are changed",
    )
    ami: AmiSettings = AmiSettings()
    fastagi: FastAgiSettings = FastAgiSettings()
    http: HttpSettings = HttpSettings()
    pbx: PbxSettings = PbxSettings()
    now: str | None = Field(
        None, description="ISO datetime to use as 'now' for opening hours (tests, demos); None = the real clock"
    )
