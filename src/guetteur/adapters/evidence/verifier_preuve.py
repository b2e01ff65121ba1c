"""Vérification d'un paquet de preuve vidéo exporté par Guetteur.

Ce programme est joint à chaque paquet de preuve. Il vérifie, sans rien modifier :

1. que `manifest.json` (la description de l'export : affaire, caméras, période, auteur, liste
   des fichiers) porte une signature électronique valide (`manifest.sig`, Ed25519) faite avec
   la clé publique jointe (`cle-publique.pem`) : toute modification de `manifest.json` après
   l'export rend la signature invalide ;
2. si vous donnez l'empreinte attendue (`--cle-attendue`), que cette clé est bien celle du
   serveur du CSU : l'empreinte vous est communiquée par le CSU (page « Réquisitions » de
   Guetteur) ; sans cette comparaison, un paquet entièrement refait et signé avec une autre clé
   passerait les autres contrôles ;
3. que chaque fichier listé dans `manifest.json` est présent, avec la même taille et la même
   empreinte SHA-256, et qu'aucun fichier non listé n'a été ajouté.

Il nomme chaque fichier manquant, modifié ou inattendu, et se termine avec le code 0 si le
paquet est intègre, 1 sinon, 2 si la commande est mal utilisée.

Utilisation (Python 3.9 ou plus récent) :

    python3 verifier_preuve.py paquet.zip
    python3 verifier_preuve.py paquet.zip --cle-attendue 1a2b:3c4d:...
    python3 verifier_preuve.py dossier_extrait/
    python3 verifier_preuve.py paquet.zip --json

Sous Windows, remplacez `python3` par `py`. Si le module `cryptography` manque :

    pip install cryptography

Ce fichier n'utilise que la bibliothèque standard de Python et `cryptography` (version 3.1 ou
plus récente) ; il peut être relu par un expert. Un paquet falsifié pourrait contenir un
vérificateur falsifié : en cas de doute, utilisez une copie de ce programme obtenue directement
auprès du CSU.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import dataclasses
import hashlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import IO, Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - depends on the recipient's machine
    sys.stderr.write("Le module Python « cryptography » est nécessaire : "
                     "pip install cryptography\n")
    raise

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "cle-publique.pem"
NOT_LISTED = frozenset({MANIFEST, SIGNATURE})  # the manifest cannot list itself nor its signature
CHUNK_BYTES = 1024 * 1024
SMALL_FILE_MAX_BYTES = 64 * 1024 * 1024  # manifest, signature and key: never a video


def fingerprint_of(raw_public_key: bytes) -> str:
    """SHA-256 de la clé publique brute (32 octets), en 16 groupes de 4 chiffres hexadécimaux.
    Identique à `guetteur.adapters.evidence.signing.fingerprint_of` (un test le vérifie)."""
    digest = hashlib.sha256(raw_public_key).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def normalise_fingerprint(text: str) -> str:
    return "".join(c for c in text if c not in ": \t").lower()


def unsafe_path_reason(path: str) -> str | None:
    """Why `path` may not name a file of a package (None if it may): a package's paths are
    relative, '/'-separated and never climb out of the package, on any system."""
    if not path:
        return "chemin vide"
    if path.startswith("/") or "\\" in path or ":" in path:
        return "chemin absolu ou non portable"
    if any(ord(c) < 32 for c in path):
        return "caractère de contrôle dans le chemin"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "chemin contenant « .. », « . » ou « // »"
    return None


@dataclasses.dataclass
class Report:
    """Le résultat d'une vérification ; `lines()` le met en phrases."""

    package: str
    expected_fingerprint: str | None = None
    ok: bool = False
    signature_ok: bool = False
    fingerprint: str = ""
    fingerprint_matches: bool | None = None
    missing: list[str] = dataclasses.field(default_factory=list)
    altered: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)  # why a file is altered
    files_checked: int = 0

    def conclude(self) -> Report:
        self.ok = (self.signature_ok and self.fingerprint_matches is not False
                   and not (self.missing or self.altered or self.unexpected or self.errors))
        return self

    def lines(self) -> list[str]:
        out = [f"Paquet : {self.package}"]
        if self.fingerprint:
            out.append(f"Empreinte de la clé du paquet : {self.fingerprint}")
        if self.signature_ok:
            out.append(f"Signature de {MANIFEST} : valide.")
        if self.fingerprint_matches is True:
            out.append("Clé attendue : l'empreinte correspond.")
        elif self.fingerprint_matches is False:
            out.append(f"ATTENTION : l'empreinte de la clé du paquet ne correspond pas à "
                       f"l'empreinte attendue ({self.expected_fingerprint}) : ce paquet n'a pas "
                       "été signé par le serveur attendu.")
        out += [f"ERREUR : {e}" for e in self.errors]
        out += [f"Fichier manquant : {p}" for p in self.missing]
        out += [f"Fichier modifié : {p} ({self.notes.get(p, 'contenu différent')})"
                for p in self.altered]
        out += [f"Fichier inattendu (absent de {MANIFEST}) : {p}" for p in self.unexpected]
        if self.ok:
            out.append(f"RÉSULTAT : paquet intègre, {self.files_checked} fichiers vérifiés.")
            if self.fingerprint_matches is None:
                out.append("Comparez l'empreinte de la clé ci-dessus avec celle communiquée par "
                           "le CSU (ou relancez avec --cle-attendue EMPREINTE).")
        else:
            out.append("RÉSULTAT : ÉCHEC DE LA VÉRIFICATION, le paquet ne peut pas être "
                       "considéré comme intègre.")
        return out


class _Unreadable(Exception):
    """The package, or one of its files, cannot be read."""


class _ZipPackage:
    def __init__(self, path: Path) -> None:
        if not zipfile.is_zipfile(path):
            raise _Unreadable(f"{path} n'est pas une archive zip lisible.")
        self._zip = zipfile.ZipFile(path)
        infos = [i for i in self._zip.infolist() if not i.is_dir()]
        self.members = {i.filename: i for i in infos}
        counts = collections.Counter(i.filename for i in infos)
        # an extracting tool keeps one of the copies: which one is not ours to guess
        self.duplicates = sorted(name for name, count in counts.items() if count > 1)

    def names(self) -> set[str]:
        return set(self.members)

    def size(self, name: str) -> int:
        return self.members[name].file_size

    def open(self, name: str) -> IO[bytes]:
        return self._zip.open(self.members[name])

    def close(self) -> None:
        self._zip.close()


class _FolderPackage:
    def __init__(self, path: Path) -> None:
        self.root = path.resolve()
        self.duplicates: list[str] = []

    def names(self) -> set[str]:
        found = set()
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                found.add((Path(folder) / name).relative_to(self.root).as_posix())
        return found

    def _file(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise _Unreadable(f"{name} pointe hors du paquet ou n'est pas un fichier.")
        return path

    def size(self, name: str) -> int:
        return self._file(name).stat().st_size

    def open(self, name: str) -> IO[bytes]:
        return self._file(name).open("rb")

    def close(self) -> None:
        pass


def _read_small(package: _ZipPackage | _FolderPackage, name: str) -> bytes:
    if package.size(name) > SMALL_FILE_MAX_BYTES:
        raise _Unreadable(f"{name} est anormalement gros.")
    with package.open(name) as f:
        return f.read()


def _sha256(package: _ZipPackage | _FolderPackage, name: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with package.open(name) as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _check_signature(package: _ZipPackage | _FolderPackage, manifest_bytes: bytes,
                     report: Report) -> None:
    names = package.names()
    if PUBLIC_KEY not in names:
        report.errors.append(f"{PUBLIC_KEY} absent : la signature ne peut pas être vérifiée.")
        return
    try:
        public_key = serialization.load_pem_public_key(_read_small(package, PUBLIC_KEY))
    except ValueError:
        report.errors.append(f"{PUBLIC_KEY} n'est pas une clé publique lisible.")
        return
    if not isinstance(public_key, Ed25519PublicKey):
        report.errors.append(f"{PUBLIC_KEY} n'est pas une clé Ed25519.")
        return
    report.fingerprint = fingerprint_of(public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    if report.expected_fingerprint is not None:
        report.fingerprint_matches = (normalise_fingerprint(report.expected_fingerprint)
                                      == normalise_fingerprint(report.fingerprint))
    if SIGNATURE not in names:
        report.errors.append(f"{SIGNATURE} absent : la signature ne peut pas être vérifiée.")
        return
    try:
        signature = base64.b64decode(_read_small(package, SIGNATURE).strip(), validate=True)
    except (binascii.Error, ValueError):
        report.errors.append(f"{SIGNATURE} n'est pas une signature lisible (base64).")
        return
    try:
        public_key.verify(signature, manifest_bytes)
        report.signature_ok = True
    except InvalidSignature:
        report.altered.append(MANIFEST)
        report.notes[MANIFEST] = (f"signature invalide : {MANIFEST} ou {SIGNATURE} a été modifié "
                                  "après l'export, ou ils n'ont pas été signés avec cette clé")


def _check_files(package: _ZipPackage | _FolderPackage, manifest: dict[str, Any],
                 report: Report) -> None:
    entries = manifest.get("files")
    if not isinstance(entries, list):
        report.errors.append(f"{MANIFEST} ne contient pas de liste de fichiers (« files »).")
        return
    present = package.names()
    listed: set[str] = set()
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if (not isinstance(path, str) or not isinstance(size, int) or isinstance(size, bool)
                or not isinstance(sha256, str)):
            report.errors.append(f"Entrée de fichier mal formée dans {MANIFEST} : {entry!r}")
            continue
        reason = unsafe_path_reason(path)
        if reason is not None:
            report.errors.append(f"Chemin refusé dans {MANIFEST} : {path!r} ({reason}).")
            continue
        if path in listed:
            report.errors.append(f"{path} est listé plusieurs fois dans {MANIFEST}.")
            continue
        listed.add(path)
        if path not in present:
            report.missing.append(path)
            continue
        try:
            if package.size(path) != size:
                report.altered.append(path)
                report.notes[path] = f"taille {package.size(path)} octets au lieu de {size}"
                continue
            actual_size, actual_sha256 = _sha256(package, path)
        except zipfile.BadZipFile as exc:  # a stored member whose CRC no longer matches
            report.altered.append(path)
            report.notes[path] = f"contenu modifié dans l'archive ({exc})"
            continue
        except (OSError, _Unreadable) as exc:
            report.errors.append(f"{path} ne peut pas être lu : {exc}")
            continue
        report.files_checked += 1
        if actual_size != size or actual_sha256 != sha256.lower():
            report.altered.append(path)
            report.notes[path] = "empreinte SHA-256 différente"
    report.unexpected = sorted(present - listed - NOT_LISTED)


def _check(package: _ZipPackage | _FolderPackage, report: Report) -> None:
    report.errors += [f"{n} est présent plusieurs fois dans l'archive." for n in package.duplicates]
    if MANIFEST not in package.names():
        report.errors.append(f"{MANIFEST} absent : ce n'est pas un paquet de preuve complet.")
        return
    manifest_bytes = _read_small(package, MANIFEST)
    _check_signature(package, manifest_bytes, report)
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        report.errors.append(f"{MANIFEST} n'est pas un JSON lisible.")
        return
    if not isinstance(manifest, dict):
        report.errors.append(f"{MANIFEST} ne décrit pas un paquet (objet JSON attendu).")
        return
    signing_key = manifest.get("signing_key")
    declared = signing_key.get("fingerprint") if isinstance(signing_key, dict) else None
    if report.fingerprint and (not isinstance(declared, str) or normalise_fingerprint(declared)
                               != normalise_fingerprint(report.fingerprint)):
        report.errors.append(f"L'empreinte de clé déclarée dans {MANIFEST} ({declared}) n'est pas "
                             f"celle de {PUBLIC_KEY} ({report.fingerprint}).")
    _check_files(package, manifest, report)


def verify(package: str | Path, expected_fingerprint: str | None = None) -> Report:
    """Vérifie un paquet (fichier .zip ou dossier extrait) ; ne lève pas d'exception pour un
    paquet abîmé : tout problème est décrit dans le rapport."""
    path = Path(package)
    report = Report(package=str(path), expected_fingerprint=expected_fingerprint)
    opened: _ZipPackage | _FolderPackage
    try:
        opened = _FolderPackage(path) if path.is_dir() else _ZipPackage(path)
    except (OSError, zipfile.BadZipFile, _Unreadable) as exc:
        report.errors.append(str(exc) if isinstance(exc, _Unreadable)
                             else f"{path} ne peut pas être lu : {exc}")
        return report.conclude()
    try:
        _check(opened, report)
    except (OSError, zipfile.BadZipFile, _Unreadable) as exc:
        report.errors.append(f"Lecture interrompue : {exc}")
    finally:
        opened.close()
    return report.conclude()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verifier_preuve.py",
        description="Vérifie la signature et l'intégrité d'un paquet de preuve Guetteur.")
    parser.add_argument("paquet", metavar="PAQUET", help="le fichier .zip ou le dossier extrait")
    parser.add_argument("--cle-attendue", metavar="EMPREINTE",
                        help="l'empreinte de clé communiquée par le CSU")
    parser.add_argument("--json", action="store_true", help="rapport au format JSON")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (2) or --help (0): return, do not exit
        return int(exc.code or 0)
    if not os.path.exists(args.paquet):
        sys.stderr.write(f"Paquet introuvable : {args.paquet}\n")
        return 2
    report = verify(args.paquet, args.cle_attendue)
    if isinstance(sys.stdout, io.TextIOWrapper):  # a console that cannot show every accent
        sys.stdout.reconfigure(errors="replace")
    if args.json:
        print(json.dumps(dict(dataclasses.asdict(report), lines=report.lines()),
                         ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
