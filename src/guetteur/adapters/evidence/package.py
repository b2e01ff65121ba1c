"""Writing an evidence package: a zip whose members are hashed as they are written.

Invariants:
- one pass over the data: every member (videos of several GB included) is written straight into
  the zip, stored (not deflated: H.264 does not compress), and its SHA-256 and size are computed
  on the bytes as they go in, so nothing is read back;
- `manifest.json` lists every member except itself and its signature, in write order, and is
  written last with `canonical_json`, the exact bytes that `manifest.sig` signs;
- member paths are relative, '/'-separated, never climb out of the package (the verifier's own
  rule, `unsafe_path_reason`), and are unique even on a case-insensitive file system;
- every member carries the same date (the export's), so two packages differ only by content;
- the zip is written at the path given (the caller writes to a partial name and renames it
  once `finish` has returned: the package is then signed and fsynced); `abort` deletes it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import io
import os
import queue
import threading
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from guetteur.adapters.evidence.signing import EvidenceKey, canonical_json
from guetteur.adapters.evidence.verifier_preuve import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    unsafe_path_reason,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

README = "LISEZMOI.txt"
VERIFIER = "verifier_preuve.py"
RESERVED = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY, README, VERIFIER})


def readme_text(manifest: dict[str, Any]) -> str:
    """The French README of a package, from its manifest (its file list is not needed)."""
    rng = manifest["requested_range"]
    cameras = ", ".join(str(c["name"]) for c in manifest["cameras"])
    fingerprint = manifest["signing_key"]["fingerprint"]
    return f"""\
PAQUET DE PREUVE VIDÉO - GUETTEUR
=================================

Ce paquet contient des enregistrements de vidéoprotection extraits pour une
réquisition judiciaire.

  Référence de l'affaire : {manifest["case"]["reference"]}
  Caméras                : {cameras}
  Période demandée       : du {rng["from_paris"]} au {rng["to_paris"]} (heure de Paris)
                           soit du {rng["from_utc"]} au {rng["to_utc"]} (UTC)
  Exporté par            : {manifest["exported_by"]["username"]}
  Exporté le             : {manifest["exported_at_paris"]} (heure de Paris)

CONTENU
-------
- video/<caméra>.mp4 : une vidéo par caméra, dans la qualité d'origine : le flux
  enregistré est recopié tel quel (remultiplexé, sans réencodage). Chaque vidéo
  commence à l'image clé qui précède le début demandé, donc jusqu'à quelques
  secondes avant lui. Elle se lit avec VLC ou un navigateur web.
- video/<caméra>.frames.csv : l'heure réelle de chaque image, en UTC et en heure de
  Paris (colonnes frame, pts_s, keyframe, utc, europe_paris).
- manifest.json : la description de l'export (affaire, caméras, période, auteur),
  les interruptions d'enregistrement (« gaps ») et la liste des fichiers avec leur
  taille et leur empreinte SHA-256.
- manifest.sig : la signature électronique (Ed25519) de manifest.json.
- cle-publique.pem : la clé publique du serveur qui a signé.
- verifier_preuve.py : le programme de vérification.

Les interruptions d'enregistrement pendant la période sont retirées de la durée des
vidéos (le lecteur passe directement à l'image suivante) ; elles sont déclarées dans
manifest.json et se voient dans les heures du fichier .frames.csv.

VÉRIFIER LE PAQUET
------------------
1. Installez Python 3.9 ou plus récent (https://www.python.org) et, si besoin, le
   module cryptography :
     pip install cryptography
2. Extrayez verifier_preuve.py du zip, puis lancez :
     python3 verifier_preuve.py <paquet.zip>
   (sous Windows : py verifier_preuve.py <paquet.zip>)
   Le programme vérifie la signature de manifest.json, puis la présence, la taille
   et l'empreinte SHA-256 de chaque fichier, et nomme tout fichier manquant, modifié
   ou ajouté.
3. Comparez l'empreinte de clé affichée avec celle que vous a communiquée le CSU
   (page « Réquisitions » de Guetteur). L'empreinte de la clé qui a signé ce paquet :
     {fingerprint}
   Vous pouvez aussi la faire comparer par le programme :
     python3 verifier_preuve.py <paquet.zip> --cle-attendue {fingerprint}

Une signature valide prouve que rien n'a été modifié depuis la signature ; une
empreinte identique à celle du CSU prouve que c'est bien son serveur qui a signé.
En cas de doute sur le programme de vérification joint, demandez-en une copie au CSU.
"""


_SYNC_FILE_RANGE_WRITE = 2


def _libc_sync_file_range() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return func  # type: ignore[no-any-return]


_sync_file_range = _libc_sync_file_range()


def start_writeback(fd: int) -> None:
    """Ask Linux to start writing the file's dirty pages to disk, without waiting (what
    databases do before an fsync); a no-op where the call does not exist."""
    if _sync_file_range is not None:
        _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


class HashingWriter(io.RawIOBase):
    """A zip member open for writing that hashes what goes through it.

    Not seekable, so PyAV writes a fragmented MP4 to it in one pass. The SHA-256, the zip's
    CRC-32 and the file writes run in a second thread behind a small bounded queue (all three
    release the GIL on large buffers), so they overlap the remux on another core; every
    64 MiB that thread also asks the kernel to start writing the data out without waiting for
    it (`sync_file_range`), so the final fsync of the package has little left to do.

    PyAV does not close a file object it was given: close the writer (or use it in a `with`)
    after closing the container; that waits for the queue, completes the member and records
    it."""

    _SYNC_EVERY = 64 * 1024 * 1024

    def __init__(self, path: str, member: IO[bytes],
                 on_close: Callable[[HashingWriter], None], sync_fd: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.size = 0
        self._member = member
        self._digest = hashlib.sha256()
        self._on_close = on_close
        self._sync_fd = sync_fd
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name=f"package-{path}",
                                        daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        unsynced = 0
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is not None:
                continue  # keep consuming so the producer never blocks
            try:
                self._member.write(chunk)
                self._digest.update(chunk)
                unsynced += len(chunk)
                if self._sync_fd is not None and unsynced >= self._SYNC_EVERY:
                    start_writeback(self._sync_fd)
                    unsynced = 0
            except BaseException as exc:  # reported to the producer at its next call
                self._error = exc

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: ReadableBuffer) -> int:
        if self.closed:
            raise ValueError(f"{self.path} is closed")
        if self._error is not None:
            raise self._error
        data = bytes(memoryview(b).cast("B"))  # the caller may reuse its buffer
        self._queue.put(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if self.closed:
            return
        self._queue.put(None)
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            self._member.close()
        finally:
            super().close()
        self._on_close(self)


class PackageWriter:
    """Builds one evidence package at `path`, which must not exist yet.

    `exported_at_utc` dates every member; a naive datetime is taken as UTC."""

    def __init__(self, path: Path, exported_at_utc: datetime) -> None:
        self.path = path
        at = (exported_at_utc if exported_at_utc.tzinfo is None
              else exported_at_utc.astimezone(UTC))
        self._date_time = (at.year, at.month, at.day, at.hour, at.minute, at.second)
        self._file = path.open("xb")  # never overwrite: a finished package is evidence
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_STORED,
                                    allowZip64=True)
        self._files: list[dict[str, Any]] = []
        self._folded_paths: set[str] = set()
        self._writer: HashingWriter | None = None
        self._done = False  # finished or aborted: nothing more may be written
        self._finished = False

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._done:
            self.abort()

    def _zip_info(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def _claim(self, path: str, reserved_ok: bool = False) -> None:
        if self._done:
            raise ValueError("the package is already finished or aborted")
        if self._writer is not None:
            raise ValueError(f"{self._writer.path} is still open: close it first")
        reason = unsafe_path_reason(path)
        if reason is not None:
            raise ValueError(f"unsafe member path {path!r}: {reason}")
        if path in RESERVED and not reserved_ok:
            raise ValueError(f"{path} is written by finish()")
        if path.casefold() in self._folded_paths:
            raise ValueError(f"duplicate member path {path!r}")
        self._folded_paths.add(path.casefold())

    def _record(self, path: str, size: int, sha256: str) -> None:
        self._files.append({"path": path, "size": size, "sha256": sha256})

    def open_member(self, path: str) -> HashingWriter:
        """A writer for a new member; close it before opening or adding another."""
        self._claim(path)
        member = self._zip.open(self._zip_info(path), "w", force_zip64=True)
        self._writer = HashingWriter(path, member, self._member_closed, self._file.fileno())
        return self._writer

    def _member_closed(self, writer: HashingWriter) -> None:
        self._writer = None
        self._record(writer.path, writer.size, writer.sha256)

    def add_bytes(self, path: str, data: bytes) -> None:
        self._add(path, data)

    def _add(self, path: str, data: bytes, reserved_ok: bool = False) -> None:
        self._claim(path, reserved_ok)
        self._zip.writestr(self._zip_info(path), data)
        self._record(path, len(data), hashlib.sha256(data).hexdigest())

    def files(self) -> list[dict[str, Any]]:
        """Path, size and SHA-256 of every member written so far, in write order."""
        return [dict(f) for f in self._files]

    def finish(self, manifest: dict[str, Any], key: EvidenceKey) -> str:
        """Add the README, public key and verifier, complete `manifest` (its `signing_key` and
        `files`, in place), write and sign it, close and fsync the zip. Returns the SHA-256 of
        manifest.json."""
        manifest["signing_key"] = {"algorithm": key.algorithm, "fingerprint": key.fingerprint()}
        readme = readme_text(manifest).replace("\n", "\r\n")  # Notepad-friendly
        self._add(README, ("\ufeff" + readme).encode("utf-8"), reserved_ok=True)
        self._add(PUBLIC_KEY, key.public_pem(), reserved_ok=True)
        self._add(VERIFIER, Path(__file__).with_name(VERIFIER).read_bytes(), reserved_ok=True)
        manifest["files"] = self.files()
        manifest_bytes = canonical_json(manifest)
        signature = base64.b64encode(key.sign(manifest_bytes)) + b"\n"
        self._zip.writestr(self._zip_info(MANIFEST), manifest_bytes)
        self._zip.writestr(self._zip_info(SIGNATURE), signature)
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._done = self._finished = True
        return hashlib.sha256(manifest_bytes).hexdigest()

    def abort(self) -> None:
        """Close everything and delete the partial package. Safe to call more than once; does
        nothing once the package is finished."""
        if self._finished:
            return
        self._done = True
        if self._writer is not None:
            with contextlib.suppress(OSError, ValueError):
                self._writer.close()
            self._writer = None
        with contextlib.suppress(OSError, ValueError):
            self._zip.close()
        self._file.close()
        self.path.unlink(missing_ok=True)
