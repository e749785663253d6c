"""Runtime settings of the service, read once from the environment at the edge.

Every variable is prefixed ``AIGUILLEUR_`` (nested with ``__``), except
``DATABASE_URL`` which keeps its conventional name. Defaults are the
embedded sandbox: everything on loopback.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
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


class AmiNodeSettings(BaseModel):
    """One more Asterisk node the service follows over AMI (issue 13); unset fields: ``ami``'s."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="carried by the node's records (cdr.node)")
    host: str
    port: int = Field(5038, ge=1, le=65535)
    username: str | None = None
    secret: SecretStr | None = None
    log_dir: Path | None = Field(
        None, description="this node's Asterisk log dir (cdr-custom/, queue_log), read back to recover its calls "
        "that ended while the service was away; None: the first node takes ``asterisk_log_dir``, others none",
    )


DEFAULT_NODE = "a"  # cdr.correlator.DEFAULT_NODE: the single node's name, and old records'


class FastAgiSettings(BaseModel):
    """Where the FastAGI server listens (Asterisk dials ``agi://host:port/ivr``)."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)
    backup_host: str | None = Field(
        None, description="a second service instance's FastAGI address, tried when the first is unreachable "
        "(before the pyst2 fallback); None = no second instance",
    )
    backup_port: int = Field(4573, ge=1, le=65535)


class HttpSettings(BaseModel):
    """The web: where it listens, how it is reached (TLS), who may read ``/metrics``."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    tls_cert: Path | None = Field(None, description="PEM certificate (chain): the web serves HTTPS itself")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    behind_tls_proxy: bool = Field(
        False, description="a TLS-terminating reverse proxy is in front: session cookies are marked Secure",
    )
    metrics_token: SecretStr | None = Field(
        None, min_length=16,
        description="when set, /metrics needs 'Authorization: Bearer <token>'; unset, only loopback clients read it",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both (HTTPS) or neither (HTTP)")
        return self


class SipNodeSettings(BaseModel):
    """One Asterisk node behind the SIP front (a line of Kamailio's dispatcher list)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    host: str
    port: int = Field(ge=1, le=65535)
    priority: int = Field(
        ge=0, description="dispatcher priority: the highest node that answers probes takes every new call"
    )


def _default_nodes() -> list[SipNodeSettings]:
    return [
        SipNodeSettings(name="a", host="127.0.0.1", port=5060, priority=10),
        SipNodeSettings(name="b", host="127.0.0.3", port=5060, priority=5),
    ]


class SipFrontSettings(BaseModel):
    """Kamailio, the SIP front of the multi-node set-up (``kamailio_conf/``), on the regional number's address."""

    host: str = Field("127.0.0.5", description="where the operator trunk sends the regional number's calls")
    port: int = Field(5060, ge=1, le=65535)
    nodes: list[SipNodeSettings] = Field(default_factory=_default_nodes, min_length=1)
    probe_interval: int = Field(1, ge=1, le=60, description="seconds between OPTIONS probes of each node")
    invite_timeout_ms: int = Field(
        1000, ge=100, le=32000,
        description="a node that sends no reply at all to an INVITE this long is marked down; the call goes "
        "to the next node",
    )

    location_db_url: str = Field(
        "postgres://postgres@127.0.0.1:5432/aiguilleur_kamailio",
        description="Kamailio's registrar locations (usrloc through db_postgres): the same PostgreSQL server",
    )

    @model_validator(mode="after")
    def _distinct_nodes(self) -> SipFrontSettings:
        names = [node.name for node in self.nodes]
        addresses = [(node.host, node.port) for node in self.nodes]
        if len(set(names)) != len(names) or len(set(addresses)) != len(addresses):
            raise ValueError(f"nodes need distinct names and host:port, got {addresses} named {names}")
        return self


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
    trunk_contact_host: str = Field(
        "127.0.0.2", description="where calls out through the operator trunk go (callbacks); the real trunk's address"
    )
    trunk_contact_port: int | None = Field(
        5080, ge=1, le=65535,
        description="port of the trunk's outbound contact (the sandbox: a SIPp UAS playing the callers called "
        "back); None = no outbound contact, callbacks cannot reach callers",
    )
    front: SipFrontSettings = Field(
        default_factory=SipFrontSettings,
        description="the SIP front (Kamailio) before the nodes: its calls are the regional number's, as the trunk's",
    )


class SmtpSettings(BaseModel):
    """Where brochures and appointment confirmations are sent from (``AIGUILLEUR_SMTP__HOST`` ...)."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(
        "numero-unique@aiguilleur.invalid", validation_alias=AliasChoices("from", "sender"),
        description="the From address (AIGUILLEUR_SMTP__FROM)",
    )
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = Field(False, description="upgrade with STARTTLS (a real relay); loopback: plain")
    timeout: float = Field(10.0, gt=0)


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
    ami_nodes: list[AmiNodeSettings] = Field(
        default_factory=list,
        description="every Asterisk node followed over AMI (AIGUILLEUR_AMI_NODES as JSON); empty: the one "
        "node of ``ami``, named 'a'. The first node also takes the service's actions (logins, callbacks)",
    )
    node_lost_after: float | None = Field(
        600.0, gt=0,
        description="a node unreachable this many seconds has its open calls recorded lost_by_pbx (a node "
        "that comes back restarted has them recorded at once); None: only on its restart",
    )
    fastagi: FastAgiSettings = FastAgiSettings()
    http: HttpSettings = HttpSettings()
    pbx: PbxSettings = PbxSettings()
    smtp: SmtpSettings = SmtpSettings()
    def followed_nodes(self) -> list[tuple[str, AmiSettings]]:
        """(name, AMI settings) of every node to follow, in order; the first is the acting one."""
        if not self.ami_nodes:
            return [(DEFAULT_NODE, self.ami)]
        return [(node.name, self.ami.model_copy(update={
            "host": node.host, "port": node.port,
            "username": node.username or self.ami.username, "secret": node.secret or self.ami.secret,
        })) for node in self.ami_nodes]

    def node_log_dir(self, name: str) -> Path | None:
        """Node ``name``'s Asterisk log dir, read back by recovery; the first node's default: ``asterisk_log_dir``."""
        node = next((n for n in self.ami_nodes if n.name == name), None)
        if node is not None and node.log_dir is not None:
            return node.log_dir
        first = self.ami_nodes[0].name if self.ami_nodes else DEFAULT_NODE
        return self.asterisk_log_dir if name == first else None

    @model_validator(mode="after")
    def _distinct_ami_nodes(self) -> Settings:
        names = [node.name for node in self.ami_nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"AMI nodes need distinct names, got {names}")
        return self

    now: str | None = Field(
        None, description="ISO datetime to use as 'now' for opening hours (tests, demos); None = the real clock"
    )
