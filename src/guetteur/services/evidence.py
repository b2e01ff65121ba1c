"""Evidence export for a judicial requisition: cameras x range -> one signed zip package.

`create` checks everything before anything runs (case, rights of every camera through the gate,
which audits each decision with the case reference, footage present, disk space) and queues a
job. Jobs run one at a time in a worker thread of the server, or in the CLI process that created
them (whoever claims a queued job first, by an atomic UPDATE, runs it). A job streams each
camera's remux straight into the zip, hashing as it writes (one pass over the data), then signs
the manifest. Progress and cancellation go through the job's row, so a page or another process
can follow or stop it. A job found `running` when the server starts was cut by a crash: it is
marked failed and its partial file deleted.

The package format and the verifier are described in docs/design/evidence.md.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from guetteur import __version__
from guetteur.adapters.db.models import ExportJob
from guetteur.adapters.evidence.package import PackageWriter
from guetteur.adapters.evidence.signing import EvidenceKey
from guetteur.adapters.media.evidence_remux import Cancelled, Part, remux_parts
from guetteur.domain.cases import (
    FINISHED_STATES,
    check_can_approve_export,
    check_can_export,
    check_range,
)
from guetteur.domain.clock import Clock
from guetteur.domain.errors import (
    Conflict,
    GuetteurError,
    InsufficientStorage,
    InvalidInput,
    NoFootage,
    NotFound,
)
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import from_us, iso_paris, iso_utc
from guetteur.services.access import AccessGate
from guetteur.services.accounts import Accounts
from guetteur.services.audit import AuditLog
from guetteur.services.cases import Cases, CaseView
from guetteur.services.jobs import INTERRUPTED, JobProgress, JobRunner, JobTable
from guetteur.services.ports import SegmentStore
from guetteur.services.registry import CameraRegistry
from guetteur.services.segment_index import SegmentIndex

log = logging.getLogger(__name__)
STREAM = "main"  # evidence is the native-quality stream
DISK_MARGIN_BYTES = 64 * 1024 * 1024
_PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class JobView(JobProgress):
    id: int
    case_id: int
    case_reference: str
    camera_ids: list[int]
    start_utc_us: int
    end_utc_us: int
    requested_by: str
    requested_utc_us: int
    state: str
    approved_by: str | None
    bytes_total: int
    bytes_done: int
    started_utc_us: int | None
    finished_utc_us: int | None
    error: str | None
    package_name: str | None
    package_size: int | None
    manifest_sha256: str | None

    def counts(self) -> tuple[int, int]:
        return self.bytes_done, self.bytes_total

    def public(self, now_us: int) -> dict[str, Any]:
        return asdict(self) | {
            "progress": round(self.progress, 4), "eta_s": self.eta_s(now_us),
            "start_paris": iso_paris(self.start_utc_us), "end_paris": iso_paris(self.end_utc_us),
            "requested_paris": iso_paris(self.requested_utc_us),
            "download_url": f"/api/exports/{self.id}/download" if self.state == "done" else None}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")[:60] or "x"


class EvidenceExports:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, audit: AuditLog,
                 gate: AccessGate, cases: Cases, registry: CameraRegistry, index: SegmentIndex,
                 store: SegmentStore, accounts: Accounts, key: EvidenceKey, exports_dir: Path,
                 max_export_s: int, approval_required: bool) -> None:
        self._sessions = sessions
        self._clock = clock
        self._audit = audit
        self._gate = gate
        self._cases = cases
        self._registry = registry
        self._index = index
        self._store = store
        self._accounts = accounts
        self.key = key
        self.dir = exports_dir
        self._max_export_s = max_export_s
        self.approval_required = approval_required
        self._jobs = JobTable(sessions, clock, ExportJob)
        self._runner = JobRunner("evidence-export", self._jobs, self.run)

    # -- public key --------------------------------------------------------------------
    def public_key(self) -> dict[str, str]:
        return {"algorithm": "Ed25519", "fingerprint": self.key.fingerprint(),
                "pem": self.key.public_pem().decode()}

    # -- creating and following jobs -----------------------------------------------------
    def create(self, who: Principal, case_ref: int | str, camera_ids: builtins.list[int],
               from_us: int, to_us: int, client_addr: str | None = None) -> JobView:
        case = self._cases.get(who, case_ref)
        check_can_export(who, case.facts)
        check_range(from_us, to_us, self._clock.now_us(), self._max_export_s)
        ids = sorted(set(camera_ids))
        if not ids:
            raise InvalidInput("Choisissez au moins une caméra.", "camera_ids")
        names = {cid: self._registry.get(cid).name for cid in ids}  # NotFound if unknown
        total = 0
        for cid in ids:
            # the gate decides and audits, with the case reference, camera by camera
            self._gate.authorize_media(who, "export", cid, range_from_utc_us=from_us,
                                       range_to_utc_us=to_us, client_addr=client_addr,
                                       reason=case.reference,
                                       detail={"case": case.reference, "stage": "request"})
            total += sum(s.size_bytes for s in self._index.covering(cid, STREAM, from_us, to_us))
        if total == 0:
            raise NoFootage("Aucune image enregistrée sur cette période pour ces caméras.")
        self.check_disk(total)
        state = "awaiting_approval" if self.approval_required else "queued"
        with self._sessions.begin() as db:
            row = ExportJob(case_id=case.id, camera_ids=json.dumps(ids), start_utc_us=from_us,
                            end_utc_us=to_us, requested_by=who.username,
                            requested_utc_us=self._clock.now_us(), state=state,
                            bytes_total=total, bytes_done=0, cancel_requested=False)
            db.add(row)
            db.flush()
            job_id = row.id
        self._audit.append("export_create", user_id=who.user_id, username=who.username,
                           range_from_utc_us=from_us, range_to_utc_us=to_us,
                           client_addr=client_addr, reason=case.reference,
                           detail={"case": case.reference, "export": job_id,
                                   "cameras": [names[c] for c in ids], "bytes": total,
                                   "state": state})
        self._runner.wake()
        return self.get(who, job_id)

    def check_disk(self, needed_bytes: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.dir).free
        want = int(needed_bytes * 1.05) + DISK_MARGIN_BYTES
        if free < want:
            raise InsufficientStorage(
                f"Espace disque insuffisant pour cette extraction : {want / 1e9:.2f} Go "
                f"nécessaires, {free / 1e9:.2f} Go libres dans {self.dir}. Réduisez la période "
                "ou le nombre de caméras, ou libérez de la place.")

    def _row(self, db: Session, job_id: int) -> ExportJob:
        row = db.get(ExportJob, job_id)
        if row is None:
            raise NotFound(f"Extraction {job_id} inconnue.")
        return row

    def _view(self, row: ExportJob, reference: str) -> JobView:
        return JobView(row.id, row.case_id, reference, json.loads(row.camera_ids),
                       row.start_utc_us, row.end_utc_us, row.requested_by,
                       row.requested_utc_us, row.state, row.approved_by, row.bytes_total,
                       row.bytes_done, row.started_utc_us, row.finished_utc_us, row.error,
                       row.package_name, row.package_size, row.manifest_sha256)

    def get(self, who: Principal, job_id: int) -> JobView:
        with self._sessions() as db:
            row = self._row(db, job_id)
        case = self._cases.get(who, row.case_id)  # NotFound when the case is not visible
        return self._view(row, case.reference)

    def for_case(self, who: Principal, case_ref: int | str) -> builtins.list[JobView]:
        case = self._cases.get(who, case_ref)
        with self._sessions() as db:
            rows = db.scalars(select(ExportJob).where(ExportJob.case_id == case.id)
                              .order_by(ExportJob.id.desc())).all()
        return [self._view(r, case.reference) for r in rows]

    def approve(self, who: Principal, job_id: int, client_addr: str | None = None) -> JobView:
        job = self.get(who, job_id)
        check_can_approve_export(who, job.requested_by)
        if not self._jobs.transition(job_id, "awaiting_approval", state="queued",
                                     approved_by=who.username,
                                     approved_utc_us=self._clock.now_us()):
            raise Conflict("Cette extraction n'attend pas d'approbation.")
        self._audit.append("export_approve", user_id=who.user_id, username=who.username,
                           range_from_utc_us=job.start_utc_us, range_to_utc_us=job.end_utc_us,
                           client_addr=client_addr, reason=job.case_reference,
                           detail={"case": job.case_reference, "export": job_id,
                                   "requested_by": job.requested_by})
        self._runner.wake()
        return self.get(who, job_id)

    def cancel(self, who: Principal, job_id: int, client_addr: str | None = None) -> JobView:
        job = self.get(who, job_id)
        if who.username != job.requested_by and who.role not in ("supervisor", "admin"):
            raise NotFound(f"Extraction {job_id} inconnue.")
        if job.state in FINISHED_STATES:
            raise Conflict("Cette extraction est déjà terminée.")
        self._jobs.request_cancel(job_id, cancel_now=("queued", "awaiting_approval"))
        self._audit.append("export_cancel", user_id=who.user_id, username=who.username,
                           client_addr=client_addr, reason=job.case_reference,
                           detail={"case": job.case_reference, "export": job_id,
                                   "cameras": self._names(job)})
        return self.get(who, job_id)

    def request_cancel(self, job_id: int) -> None:
        """Internal (the CLI that runs the job, on Ctrl-C)."""
        self._jobs.request_cancel(job_id, cancel_now=())

    def download(self, who: Principal, job_id: int,
                 client_addr: str | None = None) -> tuple[Path, str]:
        """Path and file name of a finished package, for whoever holds the export right on
        every camera in it (each decision audited) and sees its case. The web route does
        the same three steps (so that it opens the file between them)."""
        try:
            job, path, problem = self.package_for(who, job_id)
        except NotFound as exc:
            self._gate.authorize_media(who, "export", None, client_addr=client_addr,
                                       detail={"export": job_id, "stage": "download"},
                                       unavailable=exc)
            raise
        self.authorize_download(who, job, client_addr, problem)
        assert path is not None
        return self.hand_over(who, job, path, client_addr)

    def package_for(self, who: Principal,
                    job_id: int) -> tuple[JobView, Path | None, GuetteurError | None]:
        """The job (NotFound unless `who` sees its case), its package file, and why it cannot
        be given (not finished, file gone): found *before* the gate decides, so that the
        download's audit events tell what happened."""
        job = self.get(who, job_id)
        if job.state != "done" or not job.package_name:
            return job, None, Conflict("Cette extraction n'est pas terminée.")
        path = self.dir / job.package_name
        if not path.is_file():
            return job, None, NotFound("Le fichier de cette extraction n'existe plus sur le "
                                       "serveur.")
        return job, path, None

    def authorize_download(self, who: Principal, job: JobView, client_addr: str | None,
                           unavailable: GuetteurError | None = None) -> None:
        """The gate on every camera of the package: all granted (one event each) or
        refused (only the refusals, or the package's problem, are written)."""
        self._gate.authorize_media_each(
            who, "export", job.camera_ids, range_from_utc_us=job.start_utc_us,
            range_to_utc_us=job.end_utc_us, client_addr=client_addr,
            reason=job.case_reference, unavailable=unavailable,
            detail={"case": job.case_reference, "export": job.id, "stage": "download"})

    def hand_over(self, who: Principal, job: JobView, path: Path,
                  client_addr: str | None = None) -> tuple[Path, str]:
        """After the gate: the hand-over goes into the register."""
        assert job.package_name is not None
        self._audit.append("export_download", user_id=who.user_id, username=who.username,
                           range_from_utc_us=job.start_utc_us, range_to_utc_us=job.end_utc_us,
                           client_addr=client_addr, reason=job.case_reference,
                           detail={"case": job.case_reference, "export": job.id,
                                   "cameras": self._names(job), "package": job.package_name,
                                   "size": job.package_size,
                                   "manifest_sha256": job.manifest_sha256})
        return path, job.package_name

    # -- running jobs ----------------------------------------------------------------------
    def claim(self, job_id: int) -> bool:
        """Atomically take a queued job; False if someone else has it (or it is not queued)."""
        return self._jobs.claim(job_id)

    def progress(self, job_id: int) -> JobView:
        """The job's state for whoever runs or follows it (no rights: internal use)."""
        with self._sessions() as db:
            row = self._row(db, job_id)
            reference = self._cases.reference_of(row.case_id)
            return self._view(row, reference)

    def run(self, job_id: int) -> JobView:
        """Run a claimed job to its end (done, failed or cancelled)."""
        with self._sessions() as db:
            row = self._row(db, job_id)
            if row.state != "running":
                raise Conflict(f"L'extraction {job_id} n'est pas en cours ({row.state}).")
            job = self._view(row, self._cases.reference_of(row.case_id))
        case = self._cases.case_by_id(job.case_id)
        partial = self.dir / f"guetteur-{slug(case.reference)}-{job.id}.zip.part"
        try:
            name, size, manifest_sha = self._produce(job, case, partial)
        except Cancelled:
            partial.unlink(missing_ok=True)
            if self._runner.stopping and not self._jobs.cancel_requested(job.id):
                self._finish(job, "failed", error=INTERRUPTED)
            else:
                self._finish(job, "cancelled")
        except Exception as exc:  # any failure ends the job, said in its row
            partial.unlink(missing_ok=True)
            message = exc.message if isinstance(exc, GuetteurError) else repr(exc)
            log.exception("export %d failed", job.id)
            self._finish(job, "failed", error=message)
        else:
            with self._sessions.begin() as db:
                db.execute(update(ExportJob).where(ExportJob.id == job.id).values(
                    state="done", bytes_done=job.bytes_total, package_name=name,
                    package_size=size, manifest_sha256=manifest_sha,
                    finished_utc_us=self._clock.now_us()))
            self._audit.append("export_done", username=job.requested_by,
                               range_from_utc_us=job.start_utc_us,
                               range_to_utc_us=job.end_utc_us, reason=case.reference,
                               detail={"case": case.reference, "export": job.id,
                                       "cameras": self._names(job), "package": name,
                                       "size": size, "manifest_sha256": manifest_sha})
        return self.progress(job_id)

    def _names(self, job: JobView) -> list[str]:
        names = []
        for cid in job.camera_ids:
            try:
                names.append(self._registry.get(cid).name)
            except NotFound:
                names.append(str(cid))
        return names

    def _finish(self, job: JobView, state: str, error: str | None = None) -> None:
        with self._sessions.begin() as db:
            db.execute(update(ExportJob).where(ExportJob.id == job.id).values(
                state=state, error=error, finished_utc_us=self._clock.now_us()))
        self._audit.append(f"export_{state}", username=job.requested_by,
                           reason=job.case_reference,
                           detail={"case": job.case_reference, "export": job.id,
                                   "error": error})

    def _produce(self, job: JobView, case: CaseView, partial: Path) -> tuple[str, int, str]:
        self.check_disk(job.bytes_total)
        exported_at = self._clock.now_us()
        tracker = _Progress(self, job.id)
        writer = PackageWriter(partial, from_us(exported_at))
        cameras = []
        try:
            for cid in job.camera_ids:
                cameras.append(self._camera(writer, cid, job, tracker))
            manifest = self._manifest(job, case, cameras, exported_at)
            manifest_sha = writer.finish(manifest, self.key)
        except BaseException:
            writer.abort()
            raise
        name = partial.name.removesuffix(".part")
        final = self.dir / name
        partial.replace(final)
        return name, final.stat().st_size, manifest_sha

    def _camera(self, writer: PackageWriter, cid: int, job: JobView,
                tracker: _Progress) -> dict[str, Any]:
        cam = self._registry.get(cid)
        segments = self._index.covering(cid, STREAM, job.start_utc_us, job.end_utc_us)
        base = f"video/{cid:04d}_{slug(cam.name)}"
        parts = [Part(self._store.path_of(s.storage_key), s.start_utc_us, s.size_bytes)
                 for s in segments]
        entry: dict[str, Any] = {
            "id": cid, "name": cam.name, "site": cam.site, "owner": cam.owner,
            "latitude": cam.latitude, "longitude": cam.longitude,
            "codec": segments[0].codec if segments else None}
        _spans, gaps = self._index.timeline(cid, STREAM, job.start_utc_us, job.end_utc_us,
                                            self._clock.now_us())
        entry["gaps"] = [{"from_utc": iso_utc(g.start_utc_us), "to_utc": iso_utc(g.end_utc_us),
                          "from_paris": iso_paris(g.start_utc_us),
                          "to_paris": iso_paris(g.end_utc_us),
                          "duration_s": round((g.end_utc_us - g.start_utc_us) / 1e6, 3),
                          "reason": g.reason} for g in gaps]
        if not parts:
            entry.update(files=[], frames=0, actual_range=None)
            return entry
        member = writer.open_member(f"{base}.mp4")
        try:
            result = remux_parts(parts, job.start_utc_us, job.end_utc_us, member,
                                 tracker.add, tracker.cancelled)
        finally:
            member.close()
        writer.add_bytes(f"{base}.frames.csv", _frames_csv(result.frame_times,
                                                           result.time_base))
        entry.update(
            files=[f"{base}.mp4", f"{base}.frames.csv"], frames=result.frames,
            width=result.width, height=result.height,
            source_segments=[{"start_utc": iso_utc(s.start_utc_us),
                              "end_utc": iso_utc(s.end_utc_us), "sha256": s.sha256}
                             for s in segments],
            actual_range=None if result.first_utc_us is None else {
                "first_frame_utc": iso_utc(result.first_utc_us),
                "last_frame_utc": iso_utc(result.last_utc_us or result.first_utc_us),
                "first_frame_paris": iso_paris(result.first_utc_us),
                "last_frame_paris": iso_paris(result.last_utc_us or result.first_utc_us)})
        return entry

    def _manifest(self, job: JobView, case: CaseView, cameras: list[dict[str, Any]],
                  exported_at: int) -> dict[str, Any]:
        def person(username: str | None) -> dict[str, Any] | None:
            if not username:
                return None
            try:
                user = self._accounts.get(username)
                return {"username": user.username, "full_name": user.full_name,
                        "role": user.role}
            except NotFound:
                return {"username": username, "full_name": None, "role": None}

        return {
            "format": "guetteur-evidence/1",
            "export_id": job.id,
            "case": {"reference": case.reference, "service": case.service,
                     "officer": case.officer,
                     "requisition_date": case.requisition_date.isoformat(),
                     "legal_basis": case.legal_basis, "description": case.description},
            "requested_range": {"from_utc": iso_utc(job.start_utc_us),
                                "to_utc": iso_utc(job.end_utc_us),
                                "from_paris": iso_paris(job.start_utc_us),
                                "to_paris": iso_paris(job.end_utc_us)},
            "cameras": cameras,
            "exported_by": person(job.requested_by),
            "approved_by": person(job.approved_by),
            "requested_at_utc": iso_utc(job.requested_utc_us),
            "exported_at_utc": iso_utc(exported_at),
            "exported_at_paris": iso_paris(exported_at),
            "software": {"name": "Guetteur", "version": __version__},
            "time_note": "UTC ; heure de Paris (Europe/Paris) entre parenthèses ou en "
                         "colonne europe_paris des fichiers .frames.csv",
        }

    # -- the worker thread ---------------------------------------------------------------
    def start_worker(self) -> None:
        self._recover()
        self._runner.start()

    def stop_worker(self) -> None:
        self._runner.stop(timeout_s=30)

    def _recover(self) -> None:
        """Jobs left `running` by a killed process are failed; their partial files go."""
        self._jobs.fail_interrupted()
        for part in self.dir.glob("*.zip.part") if self.dir.exists() else []:
            part.unlink(missing_ok=True)

    def wait(self, job_id: int, timeout_s: float = 600) -> JobView:
        """Poll until the job has finished (tests, CLI following a server-run job)."""
        deadline = time.monotonic() + timeout_s
        while True:
            view = self.progress(job_id)
            if view.state in FINISHED_STATES or time.monotonic() > deadline:
                return view
            time.sleep(0.2)


class _Progress:
    """Counts bytes read and writes them to the job's row, and reads back whether someone
    asked to cancel; each at most every 0.5 s."""

    def __init__(self, exports: EvidenceExports, job_id: int) -> None:
        self._exports = exports
        self._job_id = job_id
        self.done = 0
        self._written = self._checked = -_PROGRESS_EVERY_S
        self._cancel = False

    def add(self, nbytes: int) -> None:
        self.done += nbytes
        now = time.monotonic()
        if now - self._written >= _PROGRESS_EVERY_S:
            self._written = now
            with self._exports._sessions.begin() as db:
                db.execute(update(ExportJob).where(ExportJob.id == self._job_id)
                           .values(bytes_done=self.done))

    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancel and now - self._checked >= _PROGRESS_EVERY_S:
            self._checked = now
            self._cancel = self._exports._jobs.cancel_requested(self._job_id)
        return self._cancel or self._exports._runner.stopping


def _frames_csv(frame_times: list[tuple[int, bool, int]], time_base: Any) -> bytes:
    """One line per frame. Formatting a date-time per frame is most of the cost, so the text
    of each second (UTC and Paris) is made once and the microseconds appended."""
    lines = ["frame,pts_s,keyframe,utc,europe_paris"]
    tb = float(time_base)
    second = None
    utc_prefix = paris_prefix = paris_offset = ""
    for i, (pts, key, wall) in enumerate(frame_times):
        sec, micro = divmod(wall, 1_000_000)
        if sec != second:
            second = sec
            utc_prefix = from_us(sec * 1_000_000).strftime("%Y-%m-%dT%H:%M:%S")
            paris = iso_paris(sec * 1_000_000)  # 2026-11-25T21:30:00.000+01:00
            paris_prefix, paris_offset = paris[:19], paris[23:]
        lines.append(f"{i},{pts * tb:.6f},{1 if key else 0},{utc_prefix}.{micro:06d}Z,"
                     f"{paris_prefix}.{micro:06d}{paris_offset}")
    return ("\n".join(lines) + "\n").encode("utf-8")
