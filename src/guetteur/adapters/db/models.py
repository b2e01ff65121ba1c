"""Tables of Guetteur. Each column says why it exists when the name does not.

Changing a table means a new Alembic revision in `migrations/versions/` (tests check that the
migrated schema matches these models).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Partner(Base):
    """A landlord under convention whose residences host cameras streaming to the CSU."""

    __tablename__ = "partner"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_utc_us: Mapped[int] = mapped_column(BigInteger)


class Camera(Base):
    __tablename__ = "camera"
    __table_args__ = (
        # The 30-day cap of CSI L252-5 is also a database rule, so no path can bypass it.
        CheckConstraint("retention_days BETWEEN 1 AND 30", name="retention_days_range"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    main_url: Mapped[str] = mapped_column(Text, comment="without credentials")
    sub_url: Mapped[str | None] = mapped_column(Text)
    credentials_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="Fernet token of {username,password}; never returned by the API")
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"), comment="NULL: owned by the city")
    site: Mapped[str | None] = mapped_column(String(128))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    purposes: Mapped[str] = mapped_column(Text, default="[]", comment="JSON list of strings")
    authorisation_ref: Mapped[str | None] = mapped_column(
        String(128), comment="prefectoral authorisation reference")
    authorisation_expiry: Mapped[object | None] = mapped_column(Date)
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    recorder_node: Mapped[str | None] = mapped_column(
        String(64), comment="recorder node that records it; NULL: any (single node)")
    plates_continuous: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        comment="police mode only: plates read continuously on this camera")
    config_version: Mapped[int] = mapped_column(
        Integer, default=1, comment="bumped on every change; recorders restart on a new value")
    created_utc_us: Mapped[int] = mapped_column(BigInteger)
    updated_utc_us: Mapped[int] = mapped_column(BigInteger)


class StreamStatus(Base):
    """Latest state of each recorded stream, written by the recorder, read by status and UI."""

    __tablename__ = "stream_status"
    camera_id: Mapped[int] = mapped_column(
        ForeignKey("camera.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(8), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), comment="recording|reconnecting|disabled")
    since_utc_us: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text, comment="redacted: no credentials")
    node: Mapped[str | None] = mapped_column(String(64))
    updated_utc_us: Mapped[int] = mapped_column(BigInteger)


class StorageStatus(Base):
    """Free space of each node's footage storage, written by its space guard (decision 0009),
    read by `guetteur status` in another process."""

    __tablename__ = "storage_status"
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), comment="ok|early_purge|low|full")
    since_utc_us: Mapped[int] = mapped_column(BigInteger)
    free_bytes: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    min_free_bytes: Mapped[int] = mapped_column(
        BigInteger, comment="the watermark: below it footage is deleted before its retention")
    message: Mapped[str] = mapped_column(Text, comment="in French, for administrators")
    last_early_purge_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    updated_utc_us: Mapped[int] = mapped_column(BigInteger)


class Segment(Base):
    __tablename__ = "segment"
    __table_args__ = (
        Index("ix_segment_camera_stream_start", "camera_id", "stream", "start_utc_us"),
        Index("ix_segment_end", "end_utc_us"),
        UniqueConstraint("storage_key", name="storage_key"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="RESTRICT"))
    stream: Mapped[str] = mapped_column(String(8))
    start_utc_us: Mapped[int] = mapped_column(BigInteger)
    end_utc_us: Mapped[int] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), comment="path under the storage root")
    codec: Mapped[str] = mapped_column(String(32), comment="MSE codec string, e.g. avc1.4d4028")
    init_size_bytes: Mapped[int] = mapped_column(
        Integer, comment="bytes of ftyp+moov: HLS EXT-X-MAP byte range")
    clock_drift_ms: Mapped[int] = mapped_column(
        Integer, default=0, comment="wall clock minus media clock at the segment's end")
    recovered: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="indexed after a crash from a file cut mid-write")
    store: Mapped[str] = mapped_column(
        String(8), default="local", server_default="local",
        comment="where the bytes are: local (the node's disk) or s3 (the object store)")
    epoch: Mapped[int | None] = mapped_column(
        BigInteger, comment="lease epoch of the recorder that wrote it (fencing); NULL: single "
                            "node, no lease")


class ClusterNode(Base):
    """A Guetteur process of a cluster (decision 0011): what it runs and that it is alive.
    Written by the node itself every few seconds; read by the other nodes and the UI."""

    __tablename__ = "cluster_node"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    roles: Mapped[str] = mapped_column(String(64), comment="comma-separated: recorder,web,worker")
    version: Mapped[str] = mapped_column(String(32))
    internal_url: Mapped[str | None] = mapped_column(
        Text, comment="where other nodes reach it (live relay, open segment); NULL: nowhere")
    started_utc_us: Mapped[int] = mapped_column(BigInteger)
    heartbeat_utc_us: Mapped[int] = mapped_column(BigInteger)
    draining: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        comment="asked to give its cameras away (maintenance): takes no lease")
    stats: Mapped[str] = mapped_column(
        Text, default="{}", comment="JSON: cpu, cameras held, upload spool, store errors...")


class CameraLease(Base):
    """Which recorder node records a camera stream (decision 0011). `epoch` grows at every
    grant and every segment row carries the epoch it was written under: a node that lost
    the lease (paused, partitioned) cannot index anything any more (fencing)."""

    __tablename__ = "camera_lease"
    camera_id: Mapped[int] = mapped_column(
        ForeignKey("camera.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner: Mapped[str | None] = mapped_column(
        String(64), comment="node holding it; NULL: released, free to take")
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    granted_utc_us: Mapped[int] = mapped_column(BigInteger)
    expires_utc_us: Mapped[int] = mapped_column(BigInteger, comment="renewed every few seconds")
    released_reason: Mapped[str | None] = mapped_column(
        String(32), comment="why the last owner let it go: node_drained|rebalance|stopped")
    last_end_utc_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="end of the last segment indexed under this lease: where the next "
                            "owner's gap starts")


class RecordingGap(Base):
    __tablename__ = "recording_gap"
    __table_args__ = (Index("ix_gap_camera_stream_start", "camera_id", "stream", "start_utc_us"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(8))
    start_utc_us: Mapped[int] = mapped_column(BigInteger)
    end_utc_us: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255), comment="argon2id")
    role: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_utc_us: Mapped[int] = mapped_column(BigInteger)
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="RESTRICT"),
        comment="landlord accounts: the partner whose cameras' health they see")
    habilitation_until_utc_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="end of the agent's habilitation: no image right after it")
    totp_secret_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="Fernet token of the TOTP secret (RFC 6238)")
    totp_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(
        BigInteger, comment="last accepted TOTP time step: a code is never accepted twice")
    # unused since revision 0007 (the login_throttle table replaced the account lock); kept
    # because dropping them would rebuild user_account on SQLite, cascading to its sessions
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until_utc_us: Mapped[int | None] = mapped_column(BigInteger)


class LoginThrottle(Base):
    """One login-throttling counter, shared by every web process (see domain/throttle.py):
    a typed account name x a client address, an address, an account, or an account's second
    factor. Updated atomically by an upsert; rows quiet for two days are deleted."""

    __tablename__ = "login_throttle"
    __table_args__ = (Index("ix_login_throttle_account", "account"),
                      Index("ix_login_throttle_last", "last_utc_us"))
    key: Mapped[str] = mapped_column(String(200), primary_key=True,
                                     comment="kind, account name and/or client address")
    kind: Mapped[str] = mapped_column(String(16), comment="pair|address|account|totp")
    account: Mapped[str | None] = mapped_column(
        String(64), comment="the name as typed (unknown names too): what an unlock clears")
    client_addr: Mapped[str | None] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, comment="since the count last restarted")
    first_utc_us: Mapped[int] = mapped_column(BigInteger, comment="first failure counted")
    last_utc_us: Mapped[int] = mapped_column(BigInteger, comment="latest failure counted")
    blocked_until_utc_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="refused until then; 2**62: until an administrator unlocks")


class AccessGrant(Base):
    """A right given to a user: action x scope x validity (see domain/permissions.py)."""

    __tablename__ = "access_grant"
    __table_args__ = (Index("ix_access_grant_user", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    scope_kind: Mapped[str] = mapped_column(String(16), comment="all|site|owner|cameras")
    scope_value: Mapped[str | None] = mapped_column(
        Text, comment="site name, owner name, or comma-separated camera ids")
    valid_from_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    valid_until_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_utc_us: Mapped[int] = mapped_column(BigInteger)
    revoked_utc_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="kept for the register: a revoked grant is never deleted")
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class WebSession(Base):
    __tablename__ = "web_session"
    token_sha256: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="the cookie holds the token; only its hash here")
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    created_utc_us: Mapped[int] = mapped_column(BigInteger)
    last_seen_utc_us: Mapped[int] = mapped_column(BigInteger)
    client_addr: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(
        String(8), default="full", comment="full, or mfa/enrol: password given, 2nd factor not yet")
    csrf_token: Mapped[str] = mapped_column(String(64), default="",
                                            comment="sent back on every state-changing request")


class AuditEvent(Base):
    """Append-only, hash-chained record of every access to images and every change."""

    __tablename__ = "audit_event"
    # the register (R252-11) is the audit events of some actions: found by action and time
    __table_args__ = (Index("ix_audit_event_action_at", "action", "at_utc_us"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    at_utc_us: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[int | None] = mapped_column(Integer)
    range_from_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    range_to_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    client_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}", comment="JSON, secrets redacted")
    reason: Mapped[str | None] = mapped_column(
        String(256), comment="case reference or justification where the action requires one")
    prev_hash: Mapped[str] = mapped_column(
        String(64), unique=True, comment="unique: two writers can never fork the chain")
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class JudicialCase(Base):
    """A judicial requisition: the reason footage is held past retention or handed over."""

    __tablename__ = "judicial_case"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True,
                                           comment="as written on the requisition")
    service: Mapped[str] = mapped_column(String(128), comment="requesting service")
    officer: Mapped[str] = mapped_column(String(128), comment="officer (OPJ) in charge")
    requisition_date: Mapped[object] = mapped_column(Date)
    legal_basis: Mapped[str] = mapped_column(String(128), comment="e.g. art. 60-1 CPP")
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_utc_us: Mapped[int] = mapped_column(BigInteger)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_utc_us: Mapped[int | None] = mapped_column(BigInteger)


class Hold(Base):
    """Footage of one camera over [start, end) kept out of the purge while active."""

    __tablename__ = "hold"
    __table_args__ = (
        Index("ix_hold_camera_active", "camera_id", "released_utc_us"),
        Index("ix_hold_case", "case_id"),
        CheckConstraint("end_utc_us > start_utc_us", name="range_order"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("judicial_case.id", ondelete="RESTRICT"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="RESTRICT"))
    start_utc_us: Mapped[int] = mapped_column(BigInteger)
    end_utc_us: Mapped[int] = mapped_column(BigInteger)
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_utc_us: Mapped[int] = mapped_column(BigInteger)
    release_requested_by: Mapped[str | None] = mapped_column(String(64))
    release_requested_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    release_reason: Mapped[str | None] = mapped_column(Text)
    released_by: Mapped[str | None] = mapped_column(
        String(64), comment="the second person, who approved the release")
    released_utc_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="NULL: the hold is active")


class ExportJob(Base):
    """An evidence export for a case: cameras x range -> a signed zip package."""

    __tablename__ = "export_job"
    __table_args__ = (Index("ix_export_job_case", "case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("judicial_case.id", ondelete="RESTRICT"))
    camera_ids: Mapped[str] = mapped_column(Text, comment="JSON list of camera ids")
    start_utc_us: Mapped[int] = mapped_column(BigInteger)
    end_utc_us: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_utc_us: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(
        String(20), comment="awaiting_approval|queued|running|done|failed|cancelled")
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    started_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    finished_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    package_name: Mapped[str | None] = mapped_column(String(255),
                                                     comment="file name under DATA_DIR/exports")
    package_size: Mapped[int | None] = mapped_column(BigInteger)
    package_sha256: Mapped[str | None] = mapped_column(String(64))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))


class PlateJob(Base):
    """A plate-reading analysis over cameras x range: for a case (commune mode), or the
    continuous reading of a designated camera (police mode, no case)."""

    __tablename__ = "plate_job"
    __table_args__ = (Index("ix_plate_job_case", "case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("judicial_case.id", ondelete="RESTRICT"),
        comment="NULL only for police-mode continuous reading")
    camera_ids: Mapped[str] = mapped_column(Text, comment="JSON list of camera ids")
    start_utc_us: Mapped[int] = mapped_column(BigInteger)
    end_utc_us: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_utc_us: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), comment="queued|running|done|failed|cancelled")
    segments_total: Mapped[int] = mapped_column(Integer, default=0)
    segments_done: Mapped[int] = mapped_column(Integer, default=0)
    passages: Mapped[int] = mapped_column(Integer, default=0)
    reads: Mapped[int] = mapped_column(Integer, default=0)
    started_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    finished_utc_us: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    thorough: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        comment="every sub-stream frame looked at: vehicles crossing between keyframes too")


# -- plate reading and search (issue 5; how the search uses them: services/plate_search.py) --
# Byte order on PostgreSQL whatever the database's locale: prefix ranges (`>= 'A81' AND
# < 'A82'`) and LIKE must agree with the index order. SQLite compares bytes already.
_KEY_TEXT = String(16).with_variant(String(16, collation="C"), "postgresql")
_ID = BigInteger().with_variant(Integer, "sqlite")


class PlateKey(Base):
    """One row per distinct folded plate text seen: the unit the search index works on."""

    __tablename__ = "plate_key"
    __table_args__ = (Index("ix_plate_key_folded_rev", "folded_rev"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folded: Mapped[str] = mapped_column(
        _KEY_TEXT, unique=True,
        comment="fold(compact): look-alikes as one symbol; exact lookups and prefix ranges")
    folded_rev: Mapped[str] = mapped_column(
        _KEY_TEXT, comment="folded reversed: suffix patterns and fuzzy suffix pieces as ranges")


class PlateGram(Base):
    """Positional trigrams of each key: `code = trigram * 16 + start`, so "this trigram at
    start 2" and "this trigram anywhere" are each one range of the primary key."""

    __tablename__ = "plate_gram"
    __table_args__ = ({"sqlite_with_rowid": False},)
    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key_id: Mapped[int] = mapped_column(
        ForeignKey("plate_key.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)


class PlatePassage(Base):
    """One vehicle crossing one camera: the reads grouped, their voted text, the best crop."""

    __tablename__ = "plate_passage"
    __table_args__ = (
        Index("ix_plate_passage_key_first", "key_id", "first_utc_us"),
        Index("ix_plate_passage_camera_first", "camera_id", "first_utc_us"),
        Index("ix_plate_passage_case_first", "case_id", "first_utc_us"),
    )
    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    key_id: Mapped[int] = mapped_column(
        ForeignKey("plate_key.id", ondelete="RESTRICT"), comment="plate_key of fold(compact)")
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="RESTRICT"))
    first_utc_us: Mapped[int] = mapped_column(BigInteger, comment="first read")
    last_utc_us: Mapped[int] = mapped_column(BigInteger, comment="last read")
    display: Mapped[str] = mapped_column(String(16), comment="AB-123-CD, 123 ABC 45, or as read")
    compact: Mapped[str] = mapped_column(String(16), comment="normalised voted text, AB123CD")
    kind: Mapped[str] = mapped_column(String(8), comment="siv|fni|foreign")
    confidence: Mapped[float] = mapped_column(Float, comment="0..1, from the vote of the reads")
    reads: Mapped[int] = mapped_column(Integer, comment="number of plate_read rows")
    crop_key: Mapped[str | None] = mapped_column(
        String(255), comment="JPEG crop of the best read, path under the storage root")
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("judicial_case.id", ondelete="RESTRICT"),
        comment="the case whose requisition ordered the reading (commune mode)")
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("plate_job.id", ondelete="RESTRICT"),
        comment="the plate-reading job that produced it")


class PlateRead(Base):
    """One OCR read of a plate in one frame, kept as evidence of how a passage was read."""

    __tablename__ = "plate_read"
    __table_args__ = (Index("ix_plate_read_passage", "passage_id"),)
    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    passage_id: Mapped[int] = mapped_column(
        ForeignKey("plate_passage.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(
        Integer, comment="the passage's camera, so reads list by camera without the join")
    at_utc_us: Mapped[int] = mapped_column(BigInteger, comment="time of the frame")
    compact: Mapped[str] = mapped_column(String(16), comment="OCR text as read, compacted")
    confidence: Mapped[float] = mapped_column(Float, comment="OCR confidence 0..1")


PLATE_TABLES = [PlateKey.__table__, PlateGram.__table__, PlatePassage.__table__,
                PlateRead.__table__]
