"""The register of destructions, holds and transmissions (CSI R252-11).

It is the audit chain filtered on the actions below, so it is append-only and tamper-evident by
construction (`guetteur audit verify` covers it) and cannot drift from the trail (decision
0003). Each row is flattened for people: what, when (UTC and Paris), who, which camera and
range, which case, and the figures (segments, bytes, digest, package).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from guetteur.adapters.db.models import AuditEvent, Camera
from guetteur.domain.timeutil import iso_paris, iso_utc
from guetteur.services.audit import event_json

KINDS: dict[str, str] = {
    "retention_purge": "Destruction (durée de conservation atteinte)",
    "retention_purge_plates": "Destruction de lectures de plaques (durée atteinte)",
    "early_purge": "Destruction anticipée (disque plein)",
    "case_create": "Réquisition enregistrée",
    "case_close": "Réquisition close",
    "hold_place": "Gel judiciaire posé",
    "hold_release_request": "Levée de gel demandée",
    "hold_release_cancel": "Demande de levée retirée",
    "hold_release_approve": "Gel levé (double validation)",
    "export_create": "Extraction demandée",
    "export_approve": "Extraction approuvée",
    "export_done": "Extraction produite",
    "export_failed": "Extraction échouée",
    "export_cancel": "Annulation d'extraction demandée",
    "export_cancelled": "Extraction annulée",
    "export_download": "Extraction remise (téléchargée)",
}
_TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
FIELDS = ["id", "at_utc", "at_paris", "kind", "label", "username", "camera", "range_from_utc",
          "range_to_utc", "range_from_paris", "range_to_paris", "case", "segments",
          "size_bytes", "digest", "export", "package", "manifest_sha256", "details", "hash"]


class Register:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def entries(self, from_utc_us: int | None = None, to_utc_us: int | None = None,
                kinds: list[str] | None = None, limit: int | None = None,
                newest_first: bool = False) -> Iterator[dict[str, Any]]:
        actions = [k for k in (kinds or list(KINDS)) if k in KINDS]
        conds: list[ColumnElement[bool]] = [AuditEvent.action.in_(actions)]
        if from_utc_us is not None:
            conds.append(AuditEvent.at_utc_us >= from_utc_us)
        if to_utc_us is not None:
            conds.append(AuditEvent.at_utc_us < to_utc_us)
        order = AuditEvent.id.desc() if newest_first else AuditEvent.id
        with self._sessions() as db:
            names = dict(db.execute(select(Camera.id, Camera.name)).tuples().all())
        last: int | None = None
        produced = 0
        while limit is None or produced < limit:
            page = conds.copy()
            if last is not None:
                page.append(AuditEvent.id < last if newest_first else AuditEvent.id > last)
            with self._sessions() as db:
                rows = db.scalars(select(AuditEvent).where(*page).order_by(order)
                                  .limit(2000)).all()
            if not rows:
                return
            for row in rows:
                yield flatten(event_json(row), names)
                produced += 1
                if limit is not None and produced >= limit:
                    return
            last = rows[-1].id


def flatten(event: dict[str, Any], camera_names: dict[int, str]) -> dict[str, Any]:
    detail = dict(event["detail"])
    cameras = detail.pop("cameras", None)
    camera = detail.pop("camera", None) or (
        camera_names.get(event["camera_id"], str(event["camera_id"]))
        if event["camera_id"] is not None else (", ".join(cameras) if cameras else ""))
    start, end = event["range_from_utc_us"], event["range_to_utc_us"]
    return {
        "id": event["id"], "at_utc": event["at_utc"], "at_paris": event["at_paris"],
        "kind": event["action"], "label": KINDS.get(event["action"], event["action"]),
        "username": event["username"] or "système", "camera": camera,
        "range_from_utc": iso_utc(start) if start else "",
        "range_to_utc": iso_utc(end) if end else "",
        "range_from_paris": iso_paris(start) if start else "",
        "range_to_paris": iso_paris(end) if end else "",
        "case": detail.pop("case", None) or event["reason"] or "",
        "segments": detail.pop("segments", ""), "size_bytes": detail.pop(
            "size_bytes", detail.pop("bytes", detail.pop("size", ""))),
        "digest": detail.pop("digest", ""), "export": detail.pop("export", ""),
        "package": detail.pop("package", ""),
        "manifest_sha256": detail.pop("manifest_sha256", ""),
        "details": "; ".join(f"{k}={v}" for k, v in sorted(detail.items())
                             if k not in ("decision", "grants") and v not in (None, "")),
        "hash": event["hash"],
    }


def to_csv(entries: Iterator[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FIELDS, extrasaction="ignore")
    writer.writeheader()
    for i, entry in enumerate(entries):
        writer.writerow(entry)
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def to_html(entries: list[dict[str, Any]], from_utc_us: int | None, to_utc_us: int | None,
            printed_by: str, printed_at_paris: str) -> str:
    """The register as a printable French document (the browser's « Imprimer » makes a PDF)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from guetteur import __version__

    env = Environment(loader=FileSystemLoader(str(_TEMPLATES)),
                      autoescape=select_autoescape(["html"]))
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["label"]] = counts.get(e["label"], 0) + 1
    return env.get_template("register_print.html").render(
        entries=entries, counts=counts, printed_by=printed_by, printed_at=printed_at_paris,
        from_paris=iso_paris(from_utc_us) if from_utc_us else "origine",
        to_paris=iso_paris(to_utc_us) if to_utc_us else printed_at_paris,
        head_hash=entries[-1]["hash"] if entries else "", version=__version__)


