"""Segment objects on an S3-compatible object store (tested against SeaweedFS).

Keys are the same as the local store's (`cam000012/main/<run>_<n>.mp4`). Invariants:
- `put` is verified: after the upload, a HEAD must report the local size and the SHA-256 the
  store computed (S3 `ChecksumSHA256`, sent with the upload and echoed back by HEAD with
  ChecksumMode=ENABLED) must equal the local file's; otherwise the object is deleted and
  `StorageError` raised, so a row is never indexed for a bad object.
- Held footage is copied into a write-once bucket (versioned, ObjectLockEnabledForBucket) with
  a COMPLIANCE retention until the hold ends: a DELETE of that version is refused by the store
  (a DELETE without a version id only adds a delete marker; the locked version stays).
- Every botocore error is translated into `StorageError` (French message for the user).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from guetteur.domain.errors import NotFound, StorageError

_CHUNK = 1 << 20
UNREACHABLE = ("Stockage objet (S3) injoignable ou en erreur : {detail}. Les segments attendent "
               "dans le spool local ; vérifiez le service de stockage.")


@dataclass(frozen=True)
class S3Config:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    lock_bucket: str = ""


def _sha256_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


class S3Store:
    def __init__(self, config: S3Config, *, connect_timeout_s: float = 3.0,
                 read_timeout_s: float = 30.0) -> None:
        import boto3
        from botocore.config import Config
        self.config = config
        self.bucket = config.bucket
        self._client: Any = boto3.client(
            "s3", endpoint_url=config.endpoint, aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key, region_name=config.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"},
                          connect_timeout=connect_timeout_s, read_timeout=read_timeout_s,
                          s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchVersion"):
                raise NotFound(f"Objet introuvable dans le stockage S3 ({what}).") from exc
            raise StorageError(UNREACHABLE.format(detail=f"{what} : {code}")) from exc
        except BotoCoreError as exc:
            raise StorageError(UNREACHABLE.format(detail=f"{what} : {exc}")) from exc

    def ensure_buckets(self) -> None:
        """Create the segment bucket and, if configured, the write-once (Object Lock) bucket."""
        existing = {b["Name"] for b in self._call("liste des buckets",
                                                   self._client.list_buckets).get("Buckets", [])}
        if self.bucket not in existing:
            self._call("création du bucket", self._client.create_bucket, Bucket=self.bucket)
        lock = self.config.lock_bucket
        if lock and lock not in existing:
            self._call("création du bucket verrouillé", self._client.create_bucket,
                       Bucket=lock, ObjectLockEnabledForBucket=True)

    def put(self, key: str, path: Path) -> tuple[int, str]:
        """Upload a finished local file and verify it; return (size, sha256 hex)."""
        digest = _sha256_file(path)
        size = path.stat().st_size
        b64 = base64.b64encode(digest).decode()
        with path.open("rb") as fh:
            self._call("envoi", self._client.put_object, Bucket=self.bucket, Key=key, Body=fh,
                       ContentLength=size, ChecksumSHA256=b64)
        head = self._call("vérification", self._client.head_object, Bucket=self.bucket,
                          Key=key, ChecksumMode="ENABLED")
        if int(head["ContentLength"]) != size or head.get("ChecksumSHA256") != b64:
            self.delete(key)
            raise StorageError(UNREACHABLE.format(
                detail=f"objet {key} altéré (taille ou SHA-256 différents)"))
        return size, digest.hex()

    def size_bytes(self, key: str) -> int:
        head = self._call("lecture", self._client.head_object, Bucket=self.bucket, Key=key)
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size_bytes(key)
        except NotFound:
            return False
        return True

    def get_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        body = self._call("lecture", self._client.get_object, Bucket=self.bucket, Key=key,
                          Range=f"bytes={start}-{end_inclusive}")["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def download(self, key: str, dest: Path, sha256_hex: str | None = None) -> Path:
        """Materialise an object as a local file (for ffmpeg/PyAV), checked against its sha256."""
        tmp = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        body = self._call("lecture", self._client.get_object, Bucket=self.bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                while chunk := body.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        finally:
            body.close()
        if sha256_hex is not None and digest.hexdigest() != sha256_hex:
            tmp.unlink(missing_ok=True)
            raise StorageError(UNREACHABLE.format(detail=f"objet {key} altéré (SHA-256)"))
        tmp.replace(dest)
        return dest

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        self._call("suppression", self._client.delete_object, Bucket=self.bucket, Key=key)
        return existed

    def keys(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of every object, for `guetteur check`."""
        paginator = self._client.get_paginator("list_objects_v2")
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield obj["Key"], int(obj["Size"])
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(UNREACHABLE.format(detail=f"liste : {exc}")) from exc

    def lock_copy(self, key: str, until: datetime, *, mode: str = "COMPLIANCE") -> str:
        """Copy a held object into the write-once bucket, retained until `until`; version id."""
        lock = self.config.lock_bucket
        if not lock:
            raise StorageError("Aucun bucket verrouillé configuré (GUETTEUR_S3_LOCK_BUCKET).")
        out = self._call("copie verrouillée", self._client.copy_object, Bucket=lock, Key=key,
                         CopySource={"Bucket": self.bucket, "Key": key},
                         ObjectLockMode=mode, ObjectLockRetainUntilDate=until)
        version = out.get("VersionId")
        if not version:
            head = self._call("vérification", self._client.head_object, Bucket=lock, Key=key)
            version = head.get("VersionId", "")
        # SeaweedFS 4.48 ignores the Object Lock headers of CopyObject (the copy comes out
        # unlocked); setting the retention on the new version explicitly is honoured.
        self._call("verrouillage", self._client.put_object_retention, Bucket=lock, Key=key,
                   VersionId=version, Retention={"Mode": mode, "RetainUntilDate": until})
        return str(version)

    def delete_locked(self, key: str, version_id: str) -> None:
        """Try to delete a locked version (refused by the store while retained)."""
        self._call("suppression verrouillée", self._client.delete_object,
                   Bucket=self.config.lock_bucket, Key=key, VersionId=version_id)
