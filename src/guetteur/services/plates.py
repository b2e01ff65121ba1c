"""Plate reading, lawful by construction (CSI L233-1; CNIL 2014-219; CE 27 June 2016).

`plates_mode = commune` (default): plates are read only by a job attached to a judicial case,
over the cameras and time window that job names for the case; anything else is refused.
`plates_mode = police`: also continuously on the cameras designated for it.

A job lists the main-stream segments in its range and hands them to a pool of worker
processes (`adapters/plates/worker.py`: never the web process); each returns the texts it read
with a small crop. When a camera's segments are all done, its reads are normalised (French
formats, look-alikes fixed by position), grouped into passages (one vehicle crossing the
camera: reads close in time whose plates are near), voted, and indexed for search
(`services/plate_search.py`); the best crop is kept under DATA_DIR/plates. Jobs and searches
are audited with the case reference; crops are pixels and go through the gate.
"""

from __future__ import annotations

import builtins
import json
import logging
import multiprocessing
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, PlateJob, Segment
from guetteur.adapters.plates import worker
from guetteur.adapters.plates.analyse import Read, SegmentResult
from guetteur.domain.cases import FINISHED_STATES, check_can_export, check_range
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Conflict, Forbidden, InvalidInput, NoFootage, NotFound
from guetteur.domain.permissions import Principal
from guetteur.domain.plates import fold, normalise
from guetteur.domain.timeutil import iso_paris
from guetteur.services.access import AccessGate
from guetteur.services.audit import AuditLog
from guetteur.services.cases import Cases
from guetteur.services.jobs import (
    INTERRUPTED,
    JobProgress,
    JobRunner,
    JobTable,
)
from guetteur.services.plate_search import Hit, PlateSearch, ReadRow, passage_from_reads
from guetteur.services.segment_index import SegmentIndex

log = logging.getLogger(__name__)
STREAM = "main"
GUIDE_STREAM = "sub"  # motion is looked for on the sub-stream when it was recorded
PASSAGE_GAP_US = 6_000_000  # reads of one vehicle on one camera are at most this far apart
COMMUNE_REFUSAL = (
    "Lecture de plaques refusée : en mode « commune », la lecture automatique des plaques "
    "n'est permise que dans le cadre d'une réquisition judiciaire (CSI L233-1, CNIL "
    "délibération 2014-219). Lancez l'analyse depuis la réquisition, sur ses caméras et sa "
    "période.")


COMMUNE_SEARCH_REFUSAL = (
    "Recherche de plaques refusée : en mode « commune », les plaques ne sont lues et "
    "recherchées que dans le cadre d'une réquisition judiciaire (CSI L233-1, CNIL "
    "délibération 2014-219). Choisissez la réquisition dont relève la recherche.")


@dataclass(frozen=True)
class PlateJobView(JobProgress):
    id: int
    case_id: int | None
    case_reference: str | None
    camera_ids: list[int]
    start_utc_us: int
    end_utc_us: int
    requested_by: str
    requested_utc_us: int
    state: str
    segments_total: int
    segments_done: int
    passages: int
    reads: int
    started_utc_us: int | None
    finished_utc_us: int | None
    error: str | None
    thorough: bool = False

    def counts(self) -> tuple[int, int]:
        return self.segments_done, self.segments_total

    def public(self, now_us: int) -> dict[str, Any]:
        return asdict(self) | {"progress": round(self.progress, 4), "eta_s": self.eta_s(now_us),
                               "start_paris": iso_paris(self.start_utc_us),
                               "end_paris": iso_paris(self.end_utc_us)}


class PlateReading:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, audit: AuditLog,
                 gate: AccessGate, cases: Cases, index: SegmentIndex, store: Any,
                 search: PlateSearch, crops_dir: Path, mode: str, workers: int,
                 max_s: int) -> None:
        self._sessions = sessions
        self._clock = clock
        self._audit = audit
        self._gate = gate
        self._cases = cases
        self._index = index
        self._store = store
        self.search_index = search
        self.crops_dir = crops_dir
        self.mode = mode
        self.workers = workers
        self._max_s = max_s
        self._jobs = JobTable(sessions, clock, PlateJob)
        self._runner: JobRunner | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- jobs --------------------------------------------------------------------------------
    def analyse(self, who: Principal, case_ref: int | str | None,
                camera_ids: builtins.list[int], from_us: int, to_us: int,
                client_addr: str | None = None, gating: bool = True,
                thorough: bool = False) -> PlateJobView:
        """Queue a plate-reading job for a case over cameras x range; `thorough`: every frame
        of the sub-stream is looked at, so vehicles crossing between two keyframes are found
        too (several times slower)."""
        if case_ref is None or str(case_ref).strip() == "":
            raise Forbidden(COMMUNE_REFUSAL if self.mode == "commune" else
                            "Une analyse de plaques demandée par un agent se rattache à une "
                            "réquisition.")
        case = self._cases.get(who, case_ref)
        check_can_export(who, case.facts)  # same people as an extraction: case handlers
        check_range(from_us, to_us, self._clock.now_us(), self._max_s)
        ids = sorted(set(camera_ids))
        if not ids:
            raise InvalidInput("Choisissez au moins une caméra.", "camera_ids")
        segments = 0
        for cid in ids:
            # reading plates looks at the images: the playback right, decided and audited
            self._gate.authorize_media(who, "playback", cid, range_from_utc_us=from_us,
                                       range_to_utc_us=to_us, client_addr=client_addr,
                                       reason=case.reference,
                                       detail={"case": case.reference, "stage": "plates"})
            segments += len(self._index.covering(cid, STREAM, from_us, to_us))
        if segments == 0:
            raise NoFootage("Aucune image enregistrée sur cette période pour ces caméras.")
        job_id = self._insert(case.id, ids, from_us, to_us, who.username, segments, thorough)
        self._audit.append("plates_analyse", user_id=who.user_id, username=who.username,
                           range_from_utc_us=from_us, range_to_utc_us=to_us,
                           client_addr=client_addr, reason=case.reference,
                           detail={"case": case.reference, "plate_job": job_id,
                                   "cameras": ids, "segments": segments, "thorough": thorough,
                                   "gating": gating})
        self._wake()
        return self.job(job_id)

    def _insert(self, case_id: int | None, ids: builtins.list[int], from_us: int, to_us: int,
                by: str, segments: int, thorough: bool = False) -> int:
        with self._sessions.begin() as db:
            row = PlateJob(case_id=case_id, camera_ids=json.dumps(ids), start_utc_us=from_us,
                           end_utc_us=to_us, requested_by=by,
                           requested_utc_us=self._clock.now_us(), state="queued",
                           segments_total=segments, segments_done=0, passages=0, reads=0,
                           cancel_requested=False, thorough=thorough)
            db.add(row)
            db.flush()
            return int(row.id)

    def job(self, job_id: int, who: Principal | None = None) -> PlateJobView:
        with self._sessions() as db:
            row = db.get(PlateJob, job_id)
            if row is None:
                raise NotFound(f"Analyse de plaques {job_id} inconnue.")
            reference = None
            if row.case_id is not None:
                reference = (self._cases.get(who, row.case_id).reference if who is not None
                             else self._cases.reference_of(row.case_id))
            elif who is not None and who.role not in ("admin", "supervisor", "auditor"):
                raise NotFound(f"Analyse de plaques {job_id} inconnue.")
            return PlateJobView(row.id, row.case_id, reference, json.loads(row.camera_ids),
                                row.start_utc_us, row.end_utc_us, row.requested_by,
                                row.requested_utc_us, row.state, row.segments_total,
                                row.segments_done, row.passages, row.reads,
                                row.started_utc_us, row.finished_utc_us, row.error,
                                row.thorough)

    def jobs_for_case(self, who: Principal, case_ref: int | str) -> builtins.list[PlateJobView]:
        case = self._cases.get(who, case_ref)
        with self._sessions() as db:
            ids = db.scalars(select(PlateJob.id).where(PlateJob.case_id == case.id)
                             .order_by(PlateJob.id.desc())).all()
        return [self.job(i) for i in ids]

    def cancel(self, who: Principal, job_id: int, client_addr: str | None = None) -> PlateJobView:
        view = self.job(job_id, who)
        if who.username != view.requested_by and who.role not in ("supervisor", "admin"):
            raise Forbidden("Seuls le demandeur, un superviseur ou un administrateur peuvent "
                            "annuler cette analyse.")
        if view.state in FINISHED_STATES:
            raise Conflict("Cette analyse est déjà terminée.")
        self._jobs.request_cancel(job_id)
        self._audit.append("plates_cancel", user_id=who.user_id, username=who.username,
                           client_addr=client_addr, reason=view.case_reference,
                           detail={"plate_job": job_id})
        return self.job(job_id)

    def claim(self, job_id: int) -> bool:
        return self._jobs.claim(job_id)

    # -- running -------------------------------------------------------------------------------
    def _executor(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                # spawn: a clean interpreter per worker (no inherited threads, sockets or
                # database connections of the server)
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=worker.init, initargs=(1,))
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def run(self, job_id: int, gating: bool = True) -> PlateJobView:
        """Run a claimed job to its end."""
        view = self.job(job_id)
        if view.state != "running":
            raise Conflict(f"L'analyse {job_id} n'est pas en cours ({view.state}).")
        try:
            passages, reads, unreadable = self._run(view, gating)
        except _Cancelled:
            if self._stopping() and not self._jobs.cancel_requested(job_id):
                self._end(job_id, "failed", error=INTERRUPTED)
            else:
                self._end(job_id, "cancelled")
        except Exception as exc:  # the job's row says why; the runner goes on
            log.exception("plate job %d failed", job_id)
            self._end(job_id, "failed", error=getattr(exc, "message", None) or repr(exc))
        else:
            with self._sessions.begin() as db:
                db.execute(update(PlateJob).where(PlateJob.id == job_id).values(
                    state="done", passages=passages, reads=reads,
                    error=_unreadable_note(unreadable),
                    finished_utc_us=self._clock.now_us()))
            self._audit.append("plates_done", username=view.requested_by,
                               reason=view.case_reference,
                               detail={"plate_job": job_id, "passages": passages,
                                       "reads": reads, "unreadable": unreadable})
        return self.job(job_id)

    def _end(self, job_id: int, state: str, error: str | None = None) -> None:
        with self._sessions.begin() as db:
            db.execute(update(PlateJob).where(PlateJob.id == job_id).values(
                state=state, error=error, finished_utc_us=self._clock.now_us()))

    def _cancel_requested(self, job_id: int) -> bool:
        return self._stopping() or self._jobs.cancel_requested(job_id)

    def _stopping(self) -> bool:
        return self._runner is not None and self._runner.stopping

    def _run(self, view: PlateJobView, gating: bool
             ) -> tuple[int, int, builtins.list[str]]:
        """The segments of every camera go to the workers in camera order, a few ahead of
        the one awaited (so that no worker waits at a camera's end, and a week of 50 cameras
        does not queue half a million tasks); a camera's passages are indexed as soon as its
        segments are done, so the first cameras are searchable early. A segment that cannot
        be read (damaged) is skipped and named in the result."""
        pool = self._executor()
        ahead = max(2, self.workers * 4)
        done = passages = reads = 0
        last_report = 0.0
        items = ((cid, args) for cid in view.camera_ids
                 for args in self._work_items(cid, view, gating))
        queued: deque[tuple[int, Future[SegmentResult]]] = deque()
        found: list[Read] = []
        unreadable: list[str] = []
        current: int | None = None
        if self._cancel_requested(view.id):
            raise _Cancelled
        try:
            while True:
                while len(queued) < ahead:
                    item = next(items, None)
                    if item is None:
                        break
                    queued.append((item[0], pool.submit(worker.analyse, *item[1])))
                if not queued:
                    break
                cid, fut = queued.popleft()
                if current is not None and cid != current:
                    passages += self._index_passages(current, found, view)
                    reads += len(found)
                    found = []
                    self._progress(view.id, done, passages, reads)
                    if self._cancel_requested(view.id):
                        raise _Cancelled
                current = cid
                result = fut.result()
                if result.error:
                    log.warning("plate job %d: %s", view.id, result.error)
                    unreadable.append(result.error)
                found.extend(r for r in result.reads
                             if view.start_utc_us <= r.at_utc_us < view.end_utc_us)
                done += 1
                now = time.monotonic()
                if now - last_report >= 0.5:
                    last_report = now
                    self._progress(view.id, done)
                    if self._cancel_requested(view.id):
                        raise _Cancelled
            if current is not None:
                passages += self._index_passages(current, found, view)
                reads += len(found)
                self._progress(view.id, done, passages, reads)
        except BaseException:
            for _, fut in queued:
                fut.cancel()
            raise
        return passages, reads, unreadable

    def _work_items(self, camera_id: int, view: PlateJobView,
                    gating: bool
                    ) -> builtins.list[tuple[str, int, bool, list[tuple[str, int]], bool]]:
        """(main segment path, its start, gating, its sub-stream guide, thorough) for each main
        segment in the window; the guide is the sub-stream segments overlapping the main one."""
        mains = self._index.covering(camera_id, STREAM, view.start_utc_us, view.end_utc_us)
        subs = self._index.covering(camera_id, GUIDE_STREAM, view.start_utc_us,
                                    view.end_utc_us) if gating and mains else []
        items = []
        for seg in mains:
            guide = [(str(self._store.path_of(sub.storage_key)), sub.start_utc_us)
                     for sub in subs
                     if sub.start_utc_us < seg.end_utc_us and sub.end_utc_us > seg.start_utc_us]
            items.append((str(self._store.path_of(seg.storage_key)), seg.start_utc_us, gating,
                          guide, view.thorough))
        return items

    def _progress(self, job_id: int, done: int, passages: int | None = None,
                  reads: int | None = None) -> None:
        values: dict[str, int] = {"segments_done": done}
        if passages is not None and reads is not None:
            values.update(passages=passages, reads=reads)
        with self._sessions.begin() as db:
            db.execute(update(PlateJob).where(PlateJob.id == job_id).values(**values))

    def _index_passages(self, camera_id: int, found: builtins.list[Read],
                        view: PlateJobView) -> int:
        rows = []
        for group in group_reads(found):
            best = max(group, key=lambda r: r.score)
            crop_key = self._save_crop(camera_id, view.id, best)
            row = passage_from_reads(camera_id, [ReadRow(r.at_utc_us, r.text, r.score)
                                                 for r in group], crop_key, view.case_id,
                                     view.id)
            if row is not None:
                rows.append(row)
        if rows:
            self.search_index.insert_passages(rows)
        return len(rows)

    def _save_crop(self, camera_id: int, job_id: int, read: Read) -> str | None:
        if not read.crop_jpeg:
            return None
        key = f"cam{camera_id:06d}/job{job_id}_{read.at_utc_us}.jpg"
        path = self.crops_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(read.crop_jpeg)
        return key

    def crop_path(self, crop_key: str) -> Path:
        path = (self.crops_dir / crop_key).resolve()
        if self.crops_dir.resolve() not in path.parents:
            raise NotFound("Vignette inconnue.")
        return path

    # -- search ------------------------------------------------------------------------------
    def search(self, who: Principal, query: str, fuzzy: int = 0, case_ref: int | str | None = None,
               camera_ids: builtins.list[int] | None = None, from_us: int | None = None,
               to_us: int | None = None, limit: int = 50,
               client_addr: str | None = None) -> builtins.list[Hit]:
        """Passages whose plate matches; in commune mode only within a case the caller sees."""
        if fuzzy not in (0, 1, 2):
            raise InvalidInput("Tolérance : 0, 1 ou 2 différences.", "fuzzy")
        case = self._cases.get(who, case_ref) if case_ref not in (None, "") else None
        if case is None and self.mode == "commune":
            raise Forbidden(COMMUNE_SEARCH_REFUSAL)
        if case is None and who.role not in ("admin", "supervisor", "investigator"):
            raise Forbidden("Recherche de plaques non autorisée pour votre compte.")
        visible = self._gate.visible(who, "playback") | self._gate.visible(who, "export")
        cams = sorted(visible if camera_ids is None else set(camera_ids) & visible)
        hits = self.search_index.search(query, fuzzy=fuzzy, camera_ids=cams or [-1],
                                        from_utc_us=from_us, to_utc_us=to_us, limit=limit,
                                        case_id=case.id if case is not None else None)
        self._audit.append("plates_search", user_id=who.user_id, username=who.username,
                           client_addr=client_addr,
                           reason=case.reference if case else None,
                           range_from_utc_us=from_us, range_to_utc_us=to_us,
                           detail={"query": query, "fuzzy": fuzzy, "hits": len(hits),
                                   "cameras": camera_ids})
        return hits

    # -- police mode: continuous reading -------------------------------------------------------
    def designate(self, camera_ref: int | str, on: bool, actor: str, registry: Any) -> None:
        if on and self.mode != "police":
            raise Forbidden("La lecture continue des plaques n'existe qu'en mode « police » "
                            "(GUETTEUR_PLATES_MODE=police) : une commune ne lit les plaques "
                            "que pour une réquisition.")
        cam_id = registry.get(camera_ref).id
        with self._sessions.begin() as db:
            db.execute(update(Camera).where(Camera.id == cam_id).values(plates_continuous=on))
        self._audit.append("plates_designate", username=actor, camera_id=cam_id,
                           detail={"continuous": on})

    def continuous_once(self, lag_us: int = 0) -> builtins.list[int]:
        """Police mode: queue a job per designated camera over its segments not read yet."""
        if self.mode != "police":
            return []
        created = []
        with self._sessions() as db:
            cams = db.scalars(select(Camera.id).where(Camera.plates_continuous.is_(True))).all()
            for cid in cams:
                done_to = db.scalar(select(PlateJob.end_utc_us).where(
                    PlateJob.case_id.is_(None), PlateJob.camera_ids == json.dumps([cid]))
                    .order_by(PlateJob.end_utc_us.desc()).limit(1))
                newest = db.scalar(select(Segment.end_utc_us).where(
                    Segment.camera_id == cid, Segment.stream == STREAM)
                    .order_by(Segment.end_utc_us.desc()).limit(1))
                oldest = db.scalar(select(Segment.start_utc_us).where(
                    Segment.camera_id == cid, Segment.stream == STREAM)
                    .order_by(Segment.start_utc_us).limit(1))
                if newest is None or oldest is None:
                    continue
                start = done_to if done_to is not None else oldest
                end = newest - lag_us
                if end <= start:
                    continue
                count = len(self._index.covering(cid, STREAM, start, end))
                if count:
                    created.append(self._insert(None, [cid], start, end, "continu", count))
        if created:
            self._wake()
        return created

    # -- the runner thread --------------------------------------------------------------------
    def start_worker(self, continuous_interval_s: float = 30.0) -> None:
        self._jobs.fail_interrupted()
        tick = self.continuous_once if self.mode == "police" else None
        self._runner = JobRunner("plate-reading", self._jobs, self.run, tick=tick,
                                 tick_every_s=continuous_interval_s)
        self._runner.start()

    def _wake(self) -> None:
        if self._runner is not None:
            self._runner.wake()

    def stop_worker(self) -> None:
        if self._runner is not None:
            self._runner.stop(timeout_s=30)
        self.close()

    def wait(self, job_id: int, timeout_s: float = 600) -> PlateJobView:
        deadline = time.monotonic() + timeout_s
        while True:
            view = self.job(job_id)
            if view.state in FINISHED_STATES or time.monotonic() > deadline:
                return view
            time.sleep(0.2)


class _Cancelled(Exception):
    pass


def _unreadable_note(unreadable: builtins.list[str]) -> str | None:
    """What a finished job says of the segments it could not read (None: all were read)."""
    if not unreadable:
        return None
    names = " ; ".join(unreadable[:3]) + (" ; …" if len(unreadable) > 3 else "")
    return (f"{len(unreadable)} segment(s) illisible(s), non analysé(s) (fichier endommagé) : "
            f"{names}")[:1000]


def group_reads(reads: builtins.list[Read]) -> builtins.list[builtins.list[Read]]:
    """Passages: reads of plates that normalise to near texts, each within PASSAGE_GAP_US of
    the group's last read. Several vehicles in view at once make several open groups."""
    groups: list[list[Read]] = []
    open_: list[tuple[str, list[Read]]] = []  # (folded text, reads)
    for read in sorted(reads, key=lambda r: r.at_utc_us):
        plate = normalise(read.text)
        if plate is None:
            continue
        key = fold(plate.compact)
        open_ = [(k, g) for k, g in open_
                 if read.at_utc_us - g[-1].at_utc_us <= PASSAGE_GAP_US]
        match = next((g for k, g in open_ if _close(k, key)), None)
        if match is None:
            match = []
            groups.append(match)
            open_.append((key, match))
        match.append(read)
    return groups


def _close(a: str, b: str) -> bool:
    from guetteur.domain.plates import distance

    return distance(a, b) <= 2
