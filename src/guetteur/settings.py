"""Process settings (pydantic-settings): read from `GUETTEUR_*` environment variables and from
an optional env file (`--config`, `$GUETTEUR_CONFIG`, or `./var/guetteur.env` when present).

Cameras, users and holds are database rows, not settings. In `production` mode the process
refuses to start with a missing or placeholder secret key, or with the audit key or the audit
anchor directory inside the data directory (whoever holds that directory could then rewrite
the audit trail and its checkpoints).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {"", "changeme", "change-me", "secret", "placeholder", "xxx", "dev"}
DEFAULT_CONFIG = Path("var/guetteur.env")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUETTEUR_", extra="forbid")

    mode: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets")
    data_dir: Path = Field(Path("var"), description="root of local state (db, keys, caches)")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means SQLite at DATA_DIR/guetteur.db")
    storage_dir: Path | None = Field(
        None, description="where segment files go; empty means DATA_DIR/segments")
    secret_key: str = Field(
        "", description="encrypts camera credentials at rest (any long random string)")
    http_host: str = Field("127.0.0.1", description="address the web server binds")
    http_port: int = Field(8080, ge=1, le=65535, description="port of the web server")
    node_name: str = Field("node-1", description="this node's name (unique in a cluster)")
    roles: str = Field(
        "all", description="what this node runs: all, or recorder, web, worker "
                           "comma-separated (decision 0011); other than all needs PostgreSQL")
    node_heartbeat_s: float = Field(5.0, gt=0, description="seconds between node heartbeats")
    segment_duration_s: int = Field(60, ge=2, le=600, description="target segment length")
    purge_interval_s: float = Field(60.0, gt=0, description="seconds between retention purges")
    reconcile_interval_s: float = Field(
        2.0, gt=0, description="seconds between checks of camera settings changed elsewhere")
    backoff_max_s: float = Field(30.0, gt=0, description="cap of reconnection backoff")
    rtsp_timeout_s: float = Field(5.0, gt=0, description="I/O timeout on camera connections")
    session_idle_s: int = Field(1800, gt=0, description="web session idle expiry")
    session_absolute_s: int = Field(43200, gt=0, description="web session absolute expiry")
    secure_cookies: bool = Field(
        False, description="set the Secure flag on cookies in any mode (always on in "
                           "production unless LAB_PLAIN_HTTP)")
    lab_plain_http: bool = Field(
        False, description="production mode only: send cookies without the Secure flag, for a "
                           "lab reached over plain HTTP; never on a real deployment (the "
                           "session cookie would cross the network in clear)")
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="largest request body accepted; larger ones get 413")
    trusted_proxies: str = Field(
        "", description="comma-separated addresses of reverse proxies whose X-Forwarded-For is "
                        "believed; empty: none (the client address is the TCP peer's)")
    metrics_allow: str = Field(
        "127.0.0.1/32,::1/128",
        description="comma-separated networks (CIDR) whose clients may read GET /metrics "
                    "without a token; empty: none")
    metrics_token: str = Field(
        "", description="bearer token that opens GET /metrics from any address "
                        "(`Authorization: Bearer …`); empty: only METRICS_ALLOW")
    ffmpeg_path: str = Field("ffmpeg", description="ffmpeg binary")
    max_clip_s: int = Field(6 * 3600, gt=0, description="longest clip a download may cover")
    max_export_s: int = Field(
        24 * 3600, gt=0, description="longest time range one evidence export may cover")
    export_approval: bool = Field(
        False, description="an evidence export waits for a second person's approval")
    plates_mode: Literal["commune", "police"] = Field(
        "commune", description="commune: plates are read only for a judicial case (CSI L233-1);"
                               " police: also continuously on designated cameras")
    plates_workers: int = Field(2, ge=1, le=64,
                                description="worker processes that read plates")
    disk_min_free_pct: float = Field(
        5.0, ge=0, le=50,
        description="free space kept on the footage storage's file system, in % of its size: "
                    "below it (or below DISK_MIN_FREE_BYTES, or DISK_MIN_FREE_MINUTES of "
                    "footage, whichever is largest) the oldest footage no hold or export "
                    "protects is deleted before its retention, and the register says so")
    disk_min_free_bytes: int = Field(
        2 * 1024**3, ge=0, description="free space kept on the footage storage, in bytes "
                                       "(see DISK_MIN_FREE_PCT)")
    disk_min_free_minutes: float = Field(
        10.0, ge=0, description="free space kept on the footage storage, in minutes of "
                                "footage at the current write rate (see DISK_MIN_FREE_PCT)")
    disk_reserve_bytes: int = Field(
        64 * 1024**2, ge=0,
        description="space preallocated in DATA_DIR (reserve-espace.bin) and released when "
                    "recording must stop on a full disk, so the database, the audit trail "
                    "and logins keep working; 0: none")
    disk_check_interval_s: float = Field(
        5.0, gt=0, description="seconds between two checks of the storage's free space")
    max_plates_s: int = Field(
        7 * 24 * 3600, gt=0, description="longest time range one plate analysis may cover")
    audit_key_file: Path | None = Field(
        None, description="Ed25519 key (PEM) that signs the audit checkpoints and keys the audit"
                          " chain; generated if absent; empty: DATA_DIR/keys/audit-ed25519.pem"
                          " (development only: production needs it outside DATA_DIR)")
    audit_anchor_dir: Path | None = Field(
        None, description="where the signed audit checkpoints are written, one file each, never"
                          " rewritten (make it append-only, outside DATA_DIR, backed up apart);"
                          " empty: DATA_DIR/audit-anchor (development only)")
    audit_checkpoint_interval_s: float = Field(
        300.0, gt=0, description="longest time new audit events wait for a signed checkpoint")
    audit_checkpoint_events: int = Field(
        100, ge=1, description="a signed checkpoint at least every this many audit events")
    s3_endpoint: str = Field(
        "", description="S3 object store URL for segments (e.g. http://seaweedfs:8333); empty: "
                        "segments stay on the local store, as on a single machine")
    s3_bucket: str = Field("guetteur-segments", description="bucket of the segments")
    s3_lock_bucket: str = Field(
        "guetteur-held", description="write-once bucket (Object Lock) that held footage is "
                                     "copied into while its hold lasts")
    s3_access_key: str = Field("", description="S3 access key")
    s3_secret_key: str = Field("", description="S3 secret key")
    s3_region: str = Field("us-east-1", description="S3 region name")
    upload_spool_max_bytes: int = Field(
        20 * 1024**3, gt=0, description="local spool of segments waiting for the object store; "
                                        "above 80 % an alert is raised")
    # --- cluster (issue 10, decision 0012); off by default: single node, no leases ---
    cluster: bool = Field(
        False, description="cluster mode: camera streams are recorded under leases in"
                           " PostgreSQL (ignored on SQLite, which stays single-node)")
    lease_ttl_s: float = Field(
        8.0, gt=0.5, le=30, description="camera lease lifetime; renewed every TTL/3; a lost"
                                        " node's cameras are taken over after at most this")

    @field_validator("database_url")
    @classmethod
    def _no_blank(cls, value: str) -> str:
        return value.strip()

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"GUETTEUR_METRICS_ALLOW: {exc} (CIDR list, e.g. "
                                     "10.0.0.0/8,127.0.0.1/32)") from None
        return value

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.mode == "production" and (
            self.secret_key.strip().lower() in PLACEHOLDERS or len(self.secret_key) < 32
        ):
            raise ValueError(
                "GUETTEUR_SECRET_KEY is missing or a placeholder: in production set it to a "
                "random string of at least 32 characters (e.g. `openssl rand -base64 48`)")
        if self.mode == "production":
            data = self.data_dir.resolve()
            for name, path in (("GUETTEUR_AUDIT_KEY_FILE", self.audit_key_path),
                               ("GUETTEUR_AUDIT_ANCHOR_DIR", self.audit_anchor_path)):
                if path == data or data in path.parents:
                    raise ValueError(
                        f"{name} ({path}) est dans le dossier de données {data} : en production, "
                        "quiconque détient ce dossier pourrait réécrire le journal d'audit et "
                        "ses points de contrôle. Placez la clé d'audit et le dossier d'ancrage "
                        "ailleurs (par ex. GUETTEUR_AUDIT_KEY_FILE=/etc/guetteur/audit-ed25519"
                        ".pem, GUETTEUR_AUDIT_ANCHOR_DIR=/var/lib/guetteur-ancrage), lisibles "
                        "par le service seul.")
        return self

    @property
    def cookie_secure(self) -> bool:
        """Whether cookies carry the Secure flag: always in production, unless the lab
        opt-out is set."""
        return self.secure_cookies or (self.mode == "production" and not self.lab_plain_http)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'guetteur.db').resolve()}"

    @property
    def exports_dir(self) -> Path:
        return (self.data_dir / "exports").resolve()

    @property
    def plates_dir(self) -> Path:
        return (self.data_dir / "plates").resolve()

    @property
    def evidence_key_path(self) -> Path:
        return (self.data_dir / "keys" / "evidence-ed25519.pem").resolve()

    @property
    def audit_key_path(self) -> Path:
        return (self.audit_key_file or self.data_dir / "keys" / "audit-ed25519.pem").resolve()

    @property
    def audit_anchor_path(self) -> Path:
        return (self.audit_anchor_dir or self.data_dir / "audit-anchor").resolve()

    @property
    def segments_dir(self) -> Path:
        return (self.storage_dir or self.data_dir / "segments").resolve()


NOT_SETTINGS = ("GUETTEUR_CONFIG", "GUETTEUR_TEST_", "GUETTEUR_SIM_")


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse a misspelt `GUETTEUR_*` variable instead of silently using a default (a typo in
    GUETTEUR_DATABASE_URL would otherwise record into a local SQLite file)."""
    env = os.environ if environ is None else environ
    known = {f"GUETTEUR_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("GUETTEUR_") and k not in known
                     and not k.startswith(NOT_SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")


def load_settings(config: Path | None = None, **overrides: object) -> Settings:
    """Settings from the environment and an env file, with explicit overrides on top."""
    check_environment()
    path = config or (Path(os.environ["GUETTEUR_CONFIG"]) if os.environ.get("GUETTEUR_CONFIG")
                      else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None))
    if path is not None and not path.exists():
        raise FileNotFoundError(f"configuration file {path} not found")
    return Settings(_env_file=path, **overrides)  # type: ignore[call-arg]
