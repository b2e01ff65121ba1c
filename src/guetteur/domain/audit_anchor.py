"""Signed checkpoints of the audit chain (the anchor): their format, their order, and how they
are compared with the trail. Pure: signing, files and the database are the adapters' and
services' business.

A checkpoint says: at `at_utc_us` the trail held `events` events, the last one numbered
`last_id` with hash `head_hash`. It is signed with the audit key (Ed25519), whose private half
is not in the data directory, and kept outside it (the anchor directory). Whoever holds the data
directory can delete or rewrite events, even recompute the whole chain, but cannot make a signed
checkpoint agree with the result: the hash of the event a checkpoint names covers every event
before it.

Invariants:
- checkpoints are numbered 1, 2, 3 … with no gap, and each names the digest of the one before
  it (`prev_digest`; GENESIS for #1): removing, replacing or reordering one in the middle shows;
- `events` and `last_id` never decrease from one checkpoint to the next;
- #1 may name `legacy_until_id`: events up to that id were chained with the key of before
  checkpoints existed (derived from the secret key); every later event with the audit key's;
- dropping the newest checkpoints (all of them, with the events written since) is the one
  thing no check can see: checkpoints are written often and the report gives the newest one's
  age, which bounds that window.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from guetteur.domain.audit import GENESIS

FORMAT = "guetteur-audit-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    at_utc_us: int
    events: int
    last_id: int  # 0 when the trail is empty
    head_hash: str  # GENESIS when the trail is empty
    prev_digest: str  # digest of checkpoint seq-1; GENESIS for #1
    legacy_until_id: int | None = None  # only in #1 of a trail older than checkpoints

    def body(self) -> bytes:
        """The exact bytes that are signed (and hashed into the next checkpoint)."""
        return json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True,
                          separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body()).hexdigest()

    @classmethod
    def from_body(cls, data: dict[str, object]) -> Checkpoint:
        """Raises ValueError when `data` is not a checkpoint of this format."""
        if data.get("format") != FORMAT:
            raise ValueError(f"format inconnu {data.get('format')!r}")
        try:
            fields = {k: data[k] for k in ("seq", "at_utc_us", "events", "last_id",
                                           "head_hash", "prev_digest", "legacy_until_id")}
        except KeyError as exc:
            raise ValueError(f"champ {exc.args[0]} absent") from None
        ints = ("seq", "at_utc_us", "events", "last_id")
        if not all(isinstance(fields[k], int) for k in ints) or not all(
                isinstance(fields[k], str) for k in ("head_hash", "prev_digest")):
            raise ValueError("champ de type inattendu")
        return cls(**fields)  # type: ignore[arg-type]


def following(prev: Checkpoint | None, at_utc_us: int, events: int, last_id: int,
              head_hash: str, legacy_until_id: int | None = None) -> Checkpoint:
    """The checkpoint that comes after `prev` (None: the first one)."""
    if prev is None:
        return Checkpoint(1, at_utc_us, events, last_id, head_hash, GENESIS, legacy_until_id)
    return Checkpoint(prev.seq + 1, at_utc_us, events, last_id, head_hash, prev.digest)


# One entry per checkpoint file, in file-number order: (number in the file name, the
# checkpoint if its signature is good and it parses, else None, what is wrong with it).
AnchorEntry = tuple[int, Checkpoint | None, str | None]


def check_sequence(entries: Sequence[AnchorEntry]) -> tuple[list[Checkpoint], str | None]:
    """The longest run of checkpoints that is sound from #1, and the first problem after it."""
    valid: list[Checkpoint] = []
    for number, cp, why in entries:
        expected = len(valid) + 1
        if number != expected:
            return valid, (f"point de contrôle n° {expected} manquant (le suivant présent est "
                           f"le n° {number}) : des fichiers d'ancrage ont été supprimés")
        if cp is None or cp.seq != number:
            return valid, (f"point de contrôle n° {number} altéré : "
                           f"{why or 'numéro différent de celui du fichier'}")
        prev = valid[-1] if valid else None
        if cp.prev_digest != (prev.digest if prev else GENESIS):
            return valid, (f"le point de contrôle n° {number} ne suit pas le n° {number - 1} "
                           "(empreinte du précédent différente) : point de contrôle remplacé")
        if prev is not None and (cp.events < prev.events or cp.last_id < prev.last_id):
            return valid, (f"le point de contrôle n° {number} atteste moins d'événements que "
                           f"le n° {number - 1}")
        valid.append(cp)
    return valid, None


@dataclass(frozen=True)
class AnchorVerdict:
    ok: bool
    problem: str | None  # French, names what is missing or rewritten
    newest: Checkpoint | None  # the newest sound checkpoint
    age_s: float | None  # how old `newest` is
    unanchored_events: int  # events after `newest`: not yet protected by a checkpoint


# (hash of the event with that id or None, how many events have an id <= it)
EventAt = Callable[[int], tuple[str | None, int]]


def judge(checkpoints: Sequence[Checkpoint], sequence_problem: str | None, events: int,
          max_id: int, event_at: EventAt, now_us: int) -> AnchorVerdict:
    """Compare the trail (`events` events, the highest id `max_id`) with the sound
    checkpoints; `event_at` looks one event up. Names what is missing or rewritten."""
    if not checkpoints:
        problem = sequence_problem or (
            "aucun point de contrôle : le dossier d'ancrage est vide ou a été supprimé, "
            "le journal ne peut pas être prouvé complet")
        return AnchorVerdict(False, problem, None, None, events)
    newest = checkpoints[-1]
    age_s = max(0.0, (now_us - newest.at_utc_us) / 1e6)

    def matches(cp: Checkpoint) -> bool:
        if cp.events == 0:
            return True
        return event_at(cp.last_id) == (cp.head_hash, cp.events)

    if matches(newest):
        return AnchorVerdict(sequence_problem is None, sequence_problem, newest, age_s,
                             max(0, events - newest.events))
    if events == 0:
        problem = (f"journal vide alors que le point de contrôle n° {newest.seq} atteste "
                   f"{newest.events} événements (jusqu'au n° {newest.last_id}) : tous les "
                   "événements ont été supprimés")
    else:
        # the newest checkpoint the trail still agrees with (matching is monotone: an
        # event changed before checkpoint j changes the head hash of every later one)
        lo, hi = -1, len(checkpoints) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if matches(checkpoints[mid]):
                lo = mid
            else:
                hi = mid
        base = checkpoints[lo] if lo >= 0 else None
        problem = _what_broke(checkpoints[hi], base, newest, events, max_id, event_at)
    if sequence_problem:
        problem = f"{problem} ; {sequence_problem}"
    return AnchorVerdict(False, problem, newest, age_s, 0)


def _what_broke(first_bad: Checkpoint, base: Checkpoint | None, newest: Checkpoint,
                events: int, max_id: int, event_at: EventAt) -> str:
    head, count = event_at(first_bad.last_id)
    since = (f"après le point de contrôle n° {base.seq}" if base is not None
             else "depuis le début du journal")
    if head is None and max_id < first_bad.last_id:
        missing = newest.events - events
        deleted = (f"l'événement n° {newest.last_id} a été supprimé"
                   if newest.last_id == max_id + 1 else
                   f"les événements n° {max_id + 1} à {newest.last_id} ont été supprimés")
        return (f"{missing} événement{'s' if missing > 1 else ''} manquant"
                f"{'s' if missing > 1 else ''} {since} : le journal s'arrête au n° {max_id}, "
                f"avant le point de contrôle n° {first_bad.seq} ; {deleted}")
    if head is None:
        return (f"l'événement n° {first_bad.last_id} attesté par le point de contrôle n° "
                f"{first_bad.seq} est absent : événements supprimés ou chaîne réécrite")
    if head != first_bad.head_hash:
        return (f"l'empreinte du point de contrôle n° {first_bad.seq} ne correspond pas à "
                f"l'événement n° {first_bad.last_id} : chaîne réécrite (dernier point de "
                f"contrôle concordant : {f'n° {base.seq}' if base else 'aucun'})")
    if count < first_bad.events:
        return (f"{first_bad.events - count} événement(s) manquant(s) avant le point de "
                f"contrôle n° {first_bad.seq}")
    return (f"{count - first_bad.events} événement(s) inséré(s) avant le point de contrôle "
            f"n° {first_bad.seq}")


def age_text(seconds: float) -> str:
    """'42 s', '7 min', '3 h 05', '2 j 4 h': how old a checkpoint is, for people."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d}"
    return f"{s // 86400} j {s % 86400 // 3600} h"


def summary(verdict: AnchorVerdict) -> str:
    """One French sentence on the newest checkpoint and the window it leaves open."""
    cp = verdict.newest
    if cp is None or verdict.age_s is None:
        return "aucun point de contrôle"
    window = (f" ; {verdict.unanchored_events} événement(s) écrit(s) depuis, pas encore "
              "ancré(s) (une suppression de ceux-ci ne serait pas détectée)"
              if verdict.unanchored_events else "")
    return (f"dernier point de contrôle : n° {cp.seq}, il y a {age_text(verdict.age_s)}, "
            f"{cp.events} événements jusqu'au n° {cp.last_id}{window}")
