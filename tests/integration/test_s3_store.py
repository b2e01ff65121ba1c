"""S3 segment store against a real SeaweedFS (`weed mini`): put/verify, ranged reads, delete,
listing for check, and Object Lock refusing the delete of held footage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guetteur.adapters.storage.s3 import S3Config, S3Store
from guetteur.domain.errors import NotFound, StorageError
from s3support import ACCESS_KEY, SECRET_KEY, Seaweed, seaweed


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    with seaweed(tmp_path_factory.mktemp("weed")) as sw:
        yield sw


@pytest.fixture
def store(weed: Seaweed) -> S3Store:
    s = S3Store(S3Config(endpoint=weed.endpoint, bucket="segments", access_key=ACCESS_KEY,
                         secret_key=SECRET_KEY, lock_bucket="held"))
    s.ensure_buckets()
    return s


def _file(tmp_path: Path, size: int = 300_000) -> Path:
    path = tmp_path / "seg.mp4"
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return path


def test_put_verify_range_delete_list(store: S3Store, tmp_path: Path) -> None:
    path = _file(tmp_path)
    data = path.read_bytes()
    key = "cam000001/main/20261203T160000000Z_000001.mp4"
    size, sha = store.put(key, path)
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.size_bytes(key) == len(data)
    assert store.get_range(key, 1000, 1999) == data[1000:2000]
    assert dict(store.keys("cam000001/"))[key] == len(data)
    copy = store.download(key, tmp_path / "cache" / "seg.mp4", sha)
    assert copy.read_bytes() == data
    with pytest.raises(StorageError):
        store.download(key, tmp_path / "cache" / "bad.mp4", "0" * 64)
    assert store.delete(key)
    assert not store.exists(key)
    with pytest.raises(NotFound):
        store.get_range(key, 0, 10)


def test_locked_copy_refuses_delete(store: S3Store, tmp_path: Path) -> None:
    key = "cam000002/main/20261203T160000000Z_000001.mp4"
    store.put(key, _file(tmp_path, 50_000))
    version = store.lock_copy(key, datetime.now(UTC) + timedelta(days=1))
    assert version
    with pytest.raises(StorageError):
        store.delete_locked(key, version)
    head = store._client.head_object(Bucket="held", Key=key, VersionId=version)
    assert head["ContentLength"] == 50_000
    assert head.get("ObjectLockMode") == "COMPLIANCE"
    # a DELETE without version only adds a delete marker: the held version is still there
    store._client.delete_object(Bucket="held", Key=key)
    with pytest.raises(StorageError):
        store.delete_locked(key, version)
    got = store._client.get_object(Bucket="held", Key=key, VersionId=version)["Body"]
    assert len(got.read()) == 50_000
    got.close()


def test_unreachable_store_is_storage_error(tmp_path: Path) -> None:
    s = S3Store(S3Config(endpoint="http://127.0.0.1:9", bucket="b", access_key="a",
                         secret_key="b"), connect_timeout_s=0.5)
    with pytest.raises(StorageError, match="injoignable"):
        s.put("k", _file(tmp_path, 10))


def test_spool_absorbs_outage_and_drains_in_order(tmp_path: Path) -> None:
    # its own SeaweedFS, stopped and restarted here (the outage), stopped before the test ends
    with seaweed(tmp_path / "weed") as weed:
        _outage(weed, tmp_path)


def _outage(weed: Seaweed, tmp_path: Path) -> None:
    from guetteur.services.uploader import Uploader
    store = S3Store(S3Config(endpoint=weed.endpoint, bucket="segments", access_key=ACCESS_KEY,
                             secret_key=SECRET_KEY), connect_timeout_s=0.5)
    store.ensure_buckets()
    root = tmp_path / "local"
    indexed: list[tuple[str, int, str]] = []
    now = [0.0]
    up = Uploader(store, lambda k: root / k, lambda k, s, d: indexed.append((k, s, d)),
                  spool_max_bytes=100_000, clock=lambda: now[0])
    keys = [f"cam000003/main/20261203T160000000Z_{n:06d}.mp4" for n in range(1, 5)]
    weed.stop()
    try:
        for key in keys:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(key.encode() * 1000)  # ~45 kB each
            up.enqueue(key)
            assert up.drain() == []
        st = up.stats()
        assert st["spool_files"] == 4 and st["store_errors"] >= 1 and st["last_error"]
        assert up.alert and not indexed
        assert all((root / k).is_file() for k in keys)
        # a restart: a new uploader rescans the files still on disk
        up = Uploader(store, lambda k: root / k, lambda k, s, d: indexed.append((k, s, d)),
                      spool_max_bytes=100_000, clock=lambda: now[0])
        up.rescan(reversed(keys))
    finally:
        weed.start()
    now[0] += 60
    assert up.drain() == keys
    assert [k for k, _, _ in indexed] == keys
    assert not any((root / k).exists() for k in keys)
    assert up.stats()["spool_files"] == 0 and not up.alert
    assert store.get_range(keys[0], 0, 9) == keys[0].encode()[:10]
