"""The server's Ed25519 evidence key, and the exact bytes it signs.

One key per installation, generated at first start and kept in `DATA_DIR/keys/` as PKCS#8 PEM
encrypted with a passphrase derived from `GUETTEUR_SECRET_KEY` (mode 0600, written atomically so
a crash never leaves a half-written key). Its fingerprint is what a court or police recipient
compares with the one the CSU gives them, so `fingerprint_of` must produce the same string as
the copy in `verifier_preuve.py` (a test checks they agree).

The signature covers the exact bytes of `canonical_json(manifest)`: the manifest is written with
that function and never re-serialised afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from guetteur.domain.errors import StorageError


class EvidenceKeyUnavailable(StorageError):
    """The evidence signing key exists but cannot be opened (wrong secret key, corrupt file)."""


def fingerprint_of(raw_public_key: bytes) -> str:
    """SHA-256 of the 32 raw public-key bytes, as 16 groups of 4 hex digits joined by ':'.
    Grouped so that it can be read out and compared by eye or over the phone."""
    digest = hashlib.sha256(raw_public_key).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def canonical_json(obj: Any) -> bytes:
    """The one serialisation of a manifest: what is written to the package and signed."""
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2)
    return text.encode("utf-8") + b"\n"


class EvidenceKey:
    """Signs evidence manifests; never exposes the private key."""

    algorithm = "Ed25519"

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key

    @classmethod
    def generate(cls) -> EvidenceKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path, passphrase: bytes) -> EvidenceKey:
        """Load the key at `path`, or create it there if the file does not exist."""
        if not passphrase:
            raise EvidenceKeyUnavailable(
                "La clé de signature des preuves ne peut pas être protégée : "
                "GUETTEUR_SECRET_KEY est vide. Renseignez GUETTEUR_SECRET_KEY.")
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            key = cls.generate()
            key._write(path, passphrase)
            return key
        except OSError as exc:
            raise StorageError(
                f"La clé de signature des preuves {path} ne peut pas être lue ({exc.strerror}) : "
                "vérifiez les droits du fichier et du dossier.") from exc
        return cls._from_pem(path, pem, passphrase)

    @classmethod
    def _from_pem(cls, path: Path, pem: bytes, passphrase: bytes) -> EvidenceKey:
        try:
            private_key = serialization.load_pem_private_key(pem, password=passphrase)
        except (ValueError, TypeError):
            # cryptography cannot tell a wrong passphrase from a corrupt file: both are ValueError.
            raise EvidenceKeyUnavailable(
                f"La clé de signature des preuves {path} ne peut pas être ouverte avec ce "
                "GUETTEUR_SECRET_KEY. Remettez la valeur de GUETTEUR_SECRET_KEY utilisée quand "
                "la clé a été créée. Si elle est perdue, déplacez ce fichier : une nouvelle clé "
                "sera créée au démarrage, et sa nouvelle empreinte devra être communiquée aux "
                "services requérants (les paquets déjà exportés restent vérifiables avec "
                "l'ancienne empreinte).") from None
        if not isinstance(private_key, Ed25519PrivateKey):
            raise EvidenceKeyUnavailable(
                f"Le fichier {path} ne contient pas une clé Ed25519 : déplacez-le, une nouvelle "
                "clé sera créée au démarrage.")
        return cls(private_key)

    def _write(self, path: Path, passphrase: bytes) -> None:
        pem = self._private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.BestAvailableEncryption(passphrase))
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as tmp:
                    os.fchmod(tmp.fileno(), 0o600)  # mkstemp already does; say it anyway
                    tmp.write(pem)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StorageError(
                f"La clé de signature des preuves ne peut pas être écrite dans {path} "
                f"({exc.strerror}) : vérifiez les droits et la place sur le disque.") from exc

    def sign(self, data: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of `data`."""
        return self._private_key.sign(data)

    def public_raw(self) -> bytes:
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public_pem(self) -> bytes:
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def fingerprint(self) -> str:
        return fingerprint_of(self.public_raw())
