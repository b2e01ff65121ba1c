"""The audit key (Ed25519) and the anchor directory where signed checkpoints are written.

The audit key is one file (PKCS#8 PEM, mode 0600) at `GUETTEUR_AUDIT_KEY_FILE`. It signs the
checkpoints and, through HKDF, gives the HMAC key of the audit chain: so neither can be
derived from the data directory when the file lives elsewhere (production refuses it inside).

The anchor directory holds one file per checkpoint, `000000000042.json`:
`{"checkpoint": {...}, "signature": "<base64>", "key": "<fingerprint>"}`, the signature over
`Checkpoint.body()`. Files are never rewritten: a checkpoint is written to a temporary file,
fsynced, then hard-linked to its numbered name, which fails if the name exists. So two
writers (threads or processes, on one machine or a shared directory) can never both write
checkpoint n, and a crash never leaves a half-written numbered file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from guetteur.adapters.evidence.signing import fingerprint_of
from guetteur.domain.audit_anchor import AnchorEntry, Checkpoint
from guetteur.domain.errors import StorageError

_NAME = re.compile(r"^(\d{12})\.json$")


class AuditKey:
    """Signs checkpoints and derives the chain's HMAC key; verifies with the public half."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public = private_key.public_key()

    @classmethod
    def load(cls, path: Path) -> AuditKey:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise StorageError(
                f"La clé d'audit {path} ne peut pas être lue ({exc.strerror}) : vérifiez "
                "GUETTEUR_AUDIT_KEY_FILE et les droits du fichier.") from exc
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise StorageError(f"Le fichier {path} ne contient pas une clé Ed25519 lisible : "
                               "remettez la clé d'audit d'origine (sauvegarde).")
        return cls(key)

    @classmethod
    def create(cls, path: Path) -> AuditKey:
        """A new key written at `path` (atomically, mode 0600); refuses to replace one."""
        key = cls(Ed25519PrivateKey.generate())
        pem = key._private_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(path, pem, 0o600)
        except FileExistsError:
            return cls.load(path)  # another process created it first
        except OSError as exc:
            raise StorageError(
                f"La clé d'audit ne peut pas être créée dans {path} ({exc.strerror}) : créez "
                "le dossier et donnez-en l'écriture au service, ou renseignez "
                "GUETTEUR_AUDIT_KEY_FILE.") from exc
        return key

    def chain_key(self) -> bytes:
        """The HMAC key of the audit chain (32 bytes, HKDF-SHA-256 of the private key)."""
        seed = self._private_key.private_bytes(serialization.Encoding.Raw,
                                               serialization.PrivateFormat.Raw,
                                               serialization.NoEncryption())
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guetteur-audit",
                    info=b"audit-chain").derive(seed)

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    def fingerprint(self) -> str:
        return public_fingerprint(self.public)


def public_fingerprint(public: Ed25519PublicKey) -> str:
    return fingerprint_of(public.public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw))


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key (PEM) given to a verifier who does not hold the private key."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise StorageError(f"La clé publique d'audit {path} ne peut pas être lue : {exc}") \
            from exc
    if not isinstance(key, Ed25519PublicKey):
        raise StorageError(f"Le fichier {path} ne contient pas une clé publique Ed25519.")
    return key


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write `data` at `path`, which must not exist (FileExistsError), durably and whole."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), mode)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.link(tmp_name, path)  # atomic, and refuses an existing name
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AnchorDir:
    """The checkpoint files: numbered, written once, read back with their signatures checked."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, seq: int) -> Path:
        return self.path / f"{seq:012d}.json"

    def numbers(self) -> list[int]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for n in names if (m := _NAME.match(n)))

    def exists(self, seq: int) -> bool:
        return self.file(seq).exists()

    def write(self, cp: Checkpoint, key: AuditKey) -> bool:
        """Write checkpoint `cp`; False when another writer already wrote that number."""
        body = cp.body()
        doc = {"checkpoint": json.loads(body), "key": key.fingerprint(),
               "signature": base64.b64encode(key.sign(body)).decode()}
        data = json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(self.file(cp.seq), data, 0o444)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StorageError(
                f"Le point de contrôle n° {cp.seq} ne peut pas être écrit dans {self.path} "
                f"({exc.strerror}) : vérifiez GUETTEUR_AUDIT_ANCHOR_DIR, ses droits et la "
                "place disponible.") from exc
        return True

    def read(self, seq: int, public: Ed25519PublicKey) -> AnchorEntry:
        """(seq, the checkpoint or None, why not) for one file."""
        try:
            doc = json.loads(self.file(seq).read_bytes())
            cp = Checkpoint.from_body(doc["checkpoint"])
            signature = base64.b64decode(doc["signature"], validate=True)
        except FileNotFoundError:
            return seq, None, "fichier absent"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return seq, None, f"fichier illisible ({exc})"
        try:
            public.verify(signature, cp.body())
        except InvalidSignature:
            return seq, None, "signature invalide (contenu modifié ou signé par une autre clé)"
        return seq, cp, None

    def read_all(self, public: Ed25519PublicKey) -> list[AnchorEntry]:
        return [self.read(n, public) for n in self.numbers()]

