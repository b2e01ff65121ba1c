"""Judicial cases and holds: create, list, place, ask to release, approve (four eyes).

Every change writes an audit event whose detail carries the register fields (see
`services/register.py`): the register of holds is the audit chain, filtered. Rights are the
domain's (`domain/cases.py`); image rights on the held cameras are the access gate's.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import Camera, Hold, JudicialCase
from guetteur.domain.cases import (
    CaseFacts,
    HoldSpan,
    can_create_case,
    can_see_case,
    check_can_approve_release,
    check_can_ask_release,
    check_can_place_hold,
    check_reference,
    check_text,
    require,
)
from guetteur.domain.clock import Clock
from guetteur.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from guetteur.domain.permissions import Principal
from guetteur.domain.timeutil import iso_paris, iso_utc, paris_today
from guetteur.services.access import AccessGate
from guetteur.services.audit import AuditLog


@dataclass(frozen=True)
class CaseView:
    id: int
    reference: str
    service: str
    officer: str
    requisition_date: date
    legal_basis: str
    description: str | None
    created_by: str
    created_utc_us: int
    closed_by: str | None
    closed_utc_us: int | None

    @property
    def facts(self) -> CaseFacts:
        return CaseFacts(self.id, self.reference, self.created_by, self.closed_utc_us is not None)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["requisition_date"] = self.requisition_date.isoformat()
        data["created_paris"] = iso_paris(self.created_utc_us)
        data["closed"] = self.closed_utc_us is not None
        return data


@dataclass(frozen=True)
class HoldView:
    id: int
    case_id: int
    case_reference: str
    camera_id: int
    camera_name: str
    start_utc_us: int
    end_utc_us: int
    placed_by: str
    placed_utc_us: int
    release_requested_by: str | None
    release_requested_utc_us: int | None
    release_reason: str | None
    released_by: str | None
    released_utc_us: int | None

    @property
    def state(self) -> str:
        if self.released_utc_us is not None:
            return "released"
        return "release_requested" if self.release_requested_by else "active"

    def public(self) -> dict[str, Any]:
        return asdict(self) | {"state": self.state, "start_utc": iso_utc(self.start_utc_us),
                               "end_utc": iso_utc(self.end_utc_us),
                               "start_paris": iso_paris(self.start_utc_us),
                               "end_paris": iso_paris(self.end_utc_us)}


def _case_view(c: JudicialCase) -> CaseView:
    return CaseView(c.id, c.reference, c.service, c.officer, c.requisition_date,  # type: ignore[arg-type]
                    c.legal_basis, c.description, c.created_by, c.created_utc_us, c.closed_by,
                    c.closed_utc_us)


class Cases:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, audit: AuditLog,
                 gate: AccessGate) -> None:
        self._sessions = sessions
        self._clock = clock
        self._audit = audit
        self._gate = gate

    # -- cases ---------------------------------------------------------------------------
    def create(self, who: Principal, *, reference: str, service: str, officer: str,
               requisition_date: date | str, legal_basis: str,
               description: str | None = None, client_addr: str | None = None) -> CaseView:
        require(can_create_case(who), "Seuls un superviseur ou un enquêteur enregistrent une "
                                      "réquisition judiciaire.")
        ref = check_reference(reference)
        day = _date(requisition_date)
        now = self._clock.now_us()
        if day > paris_today(now):
            raise InvalidInput("La date de la réquisition est dans le futur.", "requisition_date")
        row = JudicialCase(
            reference=ref, service=check_text(service, "service", "Service requérant", 128),
            officer=check_text(officer, "officer", "Officier de police judiciaire", 128),
            requisition_date=day,
            legal_basis=check_text(legal_basis, "legal_basis", "Fondement juridique", 128),
            description=check_text(description, "description", "Objet", 2000, required=False),
            created_by=who.username, created_utc_us=now)
        try:
            with self._sessions.begin() as db:
                db.add(row)
                db.flush()
                view = _case_view(row)
        except IntegrityError:
            raise Conflict(f"La réquisition « {ref} » est déjà enregistrée.") from None
        self._audit.append("case_create", user_id=who.user_id, username=who.username,
                           client_addr=client_addr, reason=ref,
                           detail={"case": ref, "service": view.service,
                                   "officer": view.officer, "legal_basis": view.legal_basis,
                                   "requisition_date": day.isoformat()})
        return view

    def _load(self, db: Session, ref: int | str) -> JudicialCase:
        row = None
        if isinstance(ref, int) or str(ref).isdigit():
            row = db.get(JudicialCase, int(ref))
        if row is None:
            row = db.scalar(select(JudicialCase).where(JudicialCase.reference == str(ref)))
        if row is None:
            raise NotFound(f"Réquisition « {ref} » inconnue.")
        return row

    def get(self, who: Principal, ref: int | str) -> CaseView:
        with self._sessions() as db:
            view = _case_view(self._load(db, ref))
        if not can_see_case(who, view.facts):
            # not "forbidden": whoever may not see a case learns nothing of its existence
            raise NotFound(f"Réquisition « {ref} » inconnue.")
        return view

    def case_by_id(self, case_id: int) -> CaseView:
        """Internal (no rights): for jobs already authorised."""
        with self._sessions() as db:
            return _case_view(self._load(db, case_id))

    def reference_of(self, case_id: int) -> str:
        return self.case_by_id(case_id).reference

    def list(self, who: Principal) -> builtins.list[CaseView]:
        with self._sessions() as db:
            rows = db.scalars(select(JudicialCase).order_by(JudicialCase.id.desc())).all()
            views = [_case_view(r) for r in rows]
        return [v for v in views if can_see_case(who, v.facts)]

    def close(self, who: Principal, ref: int | str, client_addr: str | None = None) -> CaseView:
        view = self.get(who, ref)
        require(who.role in ("supervisor", "admin") or (
            who.role == "investigator" and view.created_by == who.username),
            "Vous ne pouvez pas clore cette réquisition.")
        if view.closed_utc_us is not None:
            raise Conflict(f"La réquisition {view.reference} est déjà close.")
        if any(h.state != "released" for h in self.holds(who, case=view.id)):
            raise Conflict("Des images sont encore gelées pour cette réquisition : levez les "
                           "gels avant de la clore.")
        now = self._clock.now_us()
        with self._sessions.begin() as db:
            row = db.get(JudicialCase, view.id)
            assert row is not None
            row.closed_by, row.closed_utc_us = who.username, now
            view = _case_view(row)
        self._audit.append("case_close", user_id=who.user_id, username=who.username,
                           client_addr=client_addr, reason=view.reference,
                           detail={"case": view.reference})
        return view

    # -- holds ---------------------------------------------------------------------------
    def place_holds(self, who: Principal, case_ref: int | str, camera_ids: builtins.list[int],
                    from_us: int, to_us: int,
                    client_addr: str | None = None) -> builtins.list[HoldView]:
        case = self.get(who, case_ref)
        check_can_place_hold(who, case.facts)
        if to_us <= from_us:
            raise InvalidInput("La fin de la période doit être après son début.", "to")
        if not camera_ids:
            raise InvalidInput("Choisissez au moins une caméra.", "camera_ids")
        now = self._clock.now_us()
        if from_us > now:
            raise InvalidInput("La période commence dans le futur.", "from")
        ids = sorted(set(camera_ids))
        for cid in ids:
            if not (self._gate.allowed(who, "playback", cid)
                    or self._gate.allowed(who, "export", cid)):
                raise Forbidden(f"Vous n'avez aucun droit sur les images de la caméra {cid}.")
        created: builtins.list[int] = []
        with self._sessions.begin() as db:
            names = dict(db.execute(select(Camera.id, Camera.name)
                                    .where(Camera.id.in_(ids))).tuples().all())
            unknown = [c for c in ids if c not in names]
            if unknown:
                raise NotFound(f"Caméra(s) inconnue(s) : {', '.join(map(str, unknown))}.")
            for cid in ids:
                row = Hold(case_id=case.id, camera_id=cid, start_utc_us=from_us,
                           end_utc_us=to_us, placed_by=who.username, placed_utc_us=now)
                db.add(row)
                db.flush()
                created.append(row.id)
        for hid, cid in zip(created, ids, strict=True):
            self._audit.append("hold_place", user_id=who.user_id, username=who.username,
                               camera_id=cid, range_from_utc_us=from_us, range_to_utc_us=to_us,
                               client_addr=client_addr, reason=case.reference,
                               detail={"case": case.reference, "hold": hid,
                                       "camera": names[cid]})
        return [self.hold(who, h) for h in created]

    def _hold_view(self, db: Session, h: Hold) -> HoldView:
        case = db.get(JudicialCase, h.case_id)
        cam = db.get(Camera, h.camera_id)
        return HoldView(h.id, h.case_id, case.reference if case else "?", h.camera_id,
                        cam.name if cam else str(h.camera_id), h.start_utc_us, h.end_utc_us,
                        h.placed_by, h.placed_utc_us, h.release_requested_by,
                        h.release_requested_utc_us, h.release_reason, h.released_by,
                        h.released_utc_us)

    def hold(self, who: Principal, hold_id: int) -> HoldView:
        with self._sessions() as db:
            row = db.get(Hold, hold_id)
            if row is None:
                raise NotFound(f"Gel {hold_id} inconnu.")
            view = self._hold_view(db, row)
        self.get(who, view.case_id)  # raises NotFound if the case is not visible
        return view

    def holds(self, who: Principal, *, case: int | None = None,
              camera_id: int | None = None) -> builtins.list[HoldView]:
        with self._sessions() as db:
            query = select(Hold).order_by(Hold.id)
            if case is not None:
                query = query.where(Hold.case_id == case)
            if camera_id is not None:
                query = query.where(Hold.camera_id == camera_id)
            views = [self._hold_view(db, h) for h in db.scalars(query)]
            facts = {c.id: _case_view(c).facts for c in db.scalars(select(JudicialCase))}
        return [v for v in views if can_see_case(who, facts[v.case_id])]

    def ask_release(self, who: Principal, hold_id: int, reason: str,
                    client_addr: str | None = None) -> HoldView:
        view = self.hold(who, hold_id)
        check_can_ask_release(who, self.get(who, view.case_id).facts)
        text = check_text(reason, "reason", "Motif de la levée", 500)
        if view.state != "active":
            raise Conflict("Ce gel est déjà levé ou sa levée est déjà demandée.")
        with self._sessions.begin() as db:
            row = db.get(Hold, hold_id)
            assert row is not None
            row.release_requested_by = who.username
            row.release_requested_utc_us = self._clock.now_us()
            row.release_reason = text
        self._audit_hold("hold_release_request", who, view, client_addr, motive=text)
        return self.hold(who, hold_id)

    def cancel_release(self, who: Principal, hold_id: int,
                       client_addr: str | None = None) -> HoldView:
        view = self.hold(who, hold_id)
        check_can_ask_release(who, self.get(who, view.case_id).facts)
        if view.state != "release_requested":
            raise Conflict("Aucune demande de levée en attente pour ce gel.")
        with self._sessions.begin() as db:
            row = db.get(Hold, hold_id)
            assert row is not None
            row.release_requested_by = row.release_requested_utc_us = None
            row.release_reason = None
        self._audit_hold("hold_release_cancel", who, view, client_addr)
        return self.hold(who, hold_id)

    def approve_release(self, who: Principal, hold_id: int,
                        client_addr: str | None = None) -> HoldView:
        view = self.hold(who, hold_id)
        if view.state == "released":
            raise Conflict("Ce gel est déjà levé.")
        check_can_approve_release(who, view.release_requested_by)
        with self._sessions.begin() as db:
            row = db.get(Hold, hold_id)
            assert row is not None
            if row.released_utc_us is not None or row.release_requested_by is None:
                raise Conflict("Ce gel a changé entre-temps : rechargez la page.")
            row.released_by = who.username
            row.released_utc_us = self._clock.now_us()
        self._audit_hold("hold_release_approve", who, view, client_addr,
                         asked_by=view.release_requested_by, motive=view.release_reason)
        return self.hold(who, hold_id)

    def _audit_hold(self, action: str, who: Principal, view: HoldView, client_addr: str | None,
                    **extra: Any) -> None:
        self._audit.append(action, user_id=who.user_id, username=who.username,
                           camera_id=view.camera_id, range_from_utc_us=view.start_utc_us,
                           range_to_utc_us=view.end_utc_us, client_addr=client_addr,
                           reason=view.case_reference,
                           detail={"case": view.case_reference, "hold": view.id,
                                   "camera": view.camera_name, **extra})

    # -- for the purge and the timeline (no principal: internal) --------------------------
    def active_spans(self, camera_id: int | None = None) -> builtins.list[HoldSpan]:
        with self._sessions() as db:
            query = select(Hold.camera_id, Hold.start_utc_us, Hold.end_utc_us).where(
                Hold.released_utc_us.is_(None))
            if camera_id is not None:
                query = query.where(Hold.camera_id == camera_id)
            return [HoldSpan(*r) for r in db.execute(query).all()]

    def timeline_holds(self, camera_id: int, from_us: int,
                       to_us: int) -> builtins.list[dict[str, Any]]:
        with self._sessions() as db:
            rows = db.execute(select(Hold.id, Hold.start_utc_us, Hold.end_utc_us,
                                     JudicialCase.reference)
                              .join(JudicialCase, JudicialCase.id == Hold.case_id)
                              .where(Hold.camera_id == camera_id,
                                     Hold.released_utc_us.is_(None),
                                     Hold.start_utc_us < to_us, Hold.end_utc_us > from_us)
                              .order_by(Hold.start_utc_us)).all()
        return [{"id": r.id, "start_utc_us": r.start_utc_us, "end_utc_us": r.end_utc_us,
                 "case_reference": r.reference} for r in rows]


def _date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"Date de réquisition « {value} » invalide : AAAA-MM-JJ.",
                           "requisition_date") from None
