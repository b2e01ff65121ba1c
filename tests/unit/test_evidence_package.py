"""Evidence packages end to end, with real keys and real zips: what the writer produces verifies,
and every kind of tampering (a byte of a video, a missing or extra file, the manifest, the key)
is caught and the culprit named. The verifier is also run as the recipient would, as a separate
Python process from a copy taken out of the package, which proves it stands alone."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest

from guetteur.adapters.evidence import signing, verifier_preuve
from guetteur.adapters.evidence.package import HashingWriter, PackageWriter, readme_text
from guetteur.adapters.evidence.signing import EvidenceKey, EvidenceKeyUnavailable, canonical_json
from guetteur.adapters.evidence.verifier_preuve import verify
from guetteur.domain.errors import GuetteurError

EXPORTED_AT = datetime(2024, 3, 9, 14, 5, 6, tzinfo=UTC)  # even: a zip keeps 2 s resolution
VIDEO = "video/parvis-mairie.mp4"
VIDEO_BYTES = os.urandom(2 * 1024 * 1024 + 12345)  # more than one of the verifier's chunks
CSV = "video/parvis-mairie.frames.csv"
CSV_BYTES = (b"frame,pts_s,keyframe,utc,europe_paris\n"
             b"0,0.000,1,2024-03-09T13:00:00.000Z,2024-03-09T14:00:00.000+01:00\n")
OTHER = "video/rue-haute.mp4"
FINISH_FILES = ["LISEZMOI.txt", "cle-publique.pem", "verifier_preuve.py"]


@pytest.fixture(scope="module")
def key() -> EvidenceKey:
    return EvidenceKey.generate()


@pytest.fixture(scope="module")
def other_key() -> EvidenceKey:
    return EvidenceKey.generate()


def sample_manifest() -> dict[str, Any]:
    return {
        "format": "guetteur-evidence/1",
        "export_id": 7,
        "case": {"reference": "PV 2024/00123", "service": "Commissariat central"},
        "requested_range": {"from_paris": "2024-03-09 14:00:00", "to_paris": "2024-03-09 14:10:00",
                            "from_utc": "2024-03-09 13:00:00", "to_utc": "2024-03-09 13:10:00"},
        "cameras": [{"id": 1, "name": "Parvis mairie"}, {"id": 2, "name": "Rue Haute"}],
        "exported_by": {"username": "enqueteur1", "full_name": "Jeanne Martin"},
        "exported_at_paris": "2024-03-09 15:05:07",
    }


def write_package(path: Path, key: EvidenceKey) -> tuple[dict[str, Any], str]:
    with PackageWriter(path, EXPORTED_AT) as writer:
        with writer.open_member(VIDEO) as out:
            for start in range(0, len(VIDEO_BYTES), 700_000):  # several writes, as a muxer does
                assert out.write(VIDEO_BYTES[start : start + 700_000]) == min(
                    700_000, len(VIDEO_BYTES) - start)
        writer.add_bytes(CSV, CSV_BYTES)
        writer.add_bytes(OTHER, b"\x00\x00\x00\x18ftypiso6")
        manifest = sample_manifest()
        manifest_sha256 = writer.finish(manifest, key)
    return manifest, manifest_sha256


@pytest.fixture
def package(tmp_path: Path, key: EvidenceKey) -> Path:
    path = tmp_path / "guetteur-PV-7.zip"
    write_package(path, key)
    return path


def extract(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
    return into


def rewrite_zip(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None],
                extra: dict[str, bytes] | None = None) -> Path:
    """A copy of a package with members changed (None: dropped) and extra members added; each
    member gets a correct CRC, so only the manifest's sizes and SHA-256 can catch the change."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def resign(src: Path, dst: Path, key: EvidenceKey, edit: Callable[[dict[str, Any]], None],
           declared_key: EvidenceKey | None = None) -> Path:
    """A copy of a package whose manifest is edited and signed again with `key`, its public
    key replaced by `key`'s: what a forger with their own key would make."""
    with zipfile.ZipFile(src) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    edit(manifest)
    manifest["signing_key"]["fingerprint"] = (declared_key or key).fingerprint()
    pem_entry = next(f for f in manifest["files"] if f["path"] == "cle-publique.pem")
    pem = key.public_pem()
    pem_entry.update(size=len(pem), sha256=hashlib.sha256(pem).hexdigest())
    manifest_bytes = canonical_json(manifest)
    replaced = {"manifest.json": manifest_bytes, "cle-publique.pem": key.public_pem(),
                "manifest.sig": base64.b64encode(key.sign(manifest_bytes)) + b"\n"}
    return rewrite_zip(src, dst, lambda name, data: replaced.get(name, data))


def any_line_names(report: verifier_preuve.Report, *words: str) -> bool:
    return any(all(w in line for w in words) for line in report.lines())


# -- a package as written -------------------------------------------------------------------

def test_a_fresh_package_verifies_as_a_zip_and_as_a_folder(package: Path, tmp_path: Path,
                                                           key: EvidenceKey) -> None:
    for target in (package, extract(package, tmp_path / "extrait")):
        report = verify(target)
        assert report.ok, report.lines()
        assert report.signature_ok
        assert report.fingerprint == key.fingerprint()
        assert report.fingerprint_matches is None
        assert (report.missing, report.altered, report.unexpected, report.errors) == ([],) * 4
        assert report.files_checked == 3 + len(FINISH_FILES)
        assert "paquet intègre" in report.lines()[-2]


def test_finish_completes_the_manifest_and_signs_its_exact_bytes(tmp_path: Path,
                                                                 key: EvidenceKey) -> None:
    path = tmp_path / "p.zip"
    manifest, manifest_sha256 = write_package(path, key)
    assert manifest["signing_key"] == {"algorithm": "Ed25519", "fingerprint": key.fingerprint()}
    assert [f["path"] for f in manifest["files"]] == [VIDEO, CSV, OTHER, *FINISH_FILES]
    assert manifest["files"][0] == {"path": VIDEO, "size": len(VIDEO_BYTES),
                                    "sha256": hashlib.sha256(VIDEO_BYTES).hexdigest()}
    with zipfile.ZipFile(path) as zf:
        manifest_bytes = zf.read("manifest.json")
        signature = base64.b64decode(zf.read("manifest.sig"))
        assert zf.read("verifier_preuve.py") == Path(verifier_preuve.__file__).read_bytes()
        assert zf.read("cle-publique.pem") == key.public_pem()
        assert {i.date_time for i in zf.infolist()} == {(2024, 3, 9, 14, 5, 6)}
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    assert manifest_bytes == canonical_json(manifest)
    assert manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    assert len(signature) == 64


def test_a_naive_export_time_is_taken_as_utc_and_nothing_is_overwritten(
        tmp_path: Path, key: EvidenceKey) -> None:
    path = tmp_path / "p.zip.part"
    with PackageWriter(path, EXPORTED_AT.replace(tzinfo=None)) as writer:
        writer.finish(sample_manifest(), key)
    with zipfile.ZipFile(path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2024, 3, 9, 14, 5, 6)}
    finished = path.read_bytes()
    with pytest.raises(FileExistsError):
        PackageWriter(path, EXPORTED_AT)
    assert path.read_bytes() == finished


def test_the_readme_says_what_how_and_which_key(key: EvidenceKey) -> None:
    manifest = sample_manifest() | {"signing_key": {"fingerprint": key.fingerprint()}}
    text = readme_text(manifest)
    for expected in ("PV 2024/00123", "Parvis mairie, Rue Haute", "2024-03-09 14:00:00",
                     "2024-03-09 13:10:00", "enqueteur1", "2024-03-09 15:05:07", "VLC",
                     "sans réencodage", "python3 verifier_preuve.py", "Réquisitions",
                     key.fingerprint()):
        assert expected in text


# -- tampering ------------------------------------------------------------------------------

def test_one_byte_changed_in_an_extracted_video_is_named(package: Path, tmp_path: Path) -> None:
    folder = extract(package, tmp_path / "extrait")
    video = folder / VIDEO
    video.write_bytes(flip_byte(video.read_bytes(), 1_500_000))
    report = verify(folder)
    assert not report.ok
    assert report.signature_ok
    assert report.altered == [VIDEO]
    assert any_line_names(report, "Fichier modifié", VIDEO)


def test_one_byte_changed_in_a_video_inside_the_zip_is_named(package: Path,
                                                             tmp_path: Path) -> None:
    tampered = rewrite_zip(package, tmp_path / "t.zip",
                           lambda name, data: flip_byte(data, 10) if name == VIDEO else data)
    report = verify(tampered)
    assert report.altered == [VIDEO]
    assert report.notes[VIDEO] == "empreinte SHA-256 différente"
    assert not report.ok


def test_a_byte_flipped_in_the_zip_file_itself_is_named(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo(VIDEO)
    raw = bytearray(package.read_bytes())
    name_len, extra_len = (int.from_bytes(raw[info.header_offset + o : info.header_offset + o + 2],
                                          "little") for o in (26, 28))
    raw[info.header_offset + 30 + name_len + extra_len + 1000] ^= 0xFF
    package.write_bytes(bytes(raw))
    report = verify(package)
    assert report.altered == [VIDEO]
    assert not report.ok


def test_a_missing_file_is_named(package: Path, tmp_path: Path) -> None:
    tampered = rewrite_zip(package, tmp_path / "t.zip",
                           lambda name, data: None if name == CSV else data)
    report = verify(tampered)
    assert report.missing == [CSV]
    assert any_line_names(report, "Fichier manquant", CSV)
    assert not report.ok


def test_an_added_file_is_named(package: Path, tmp_path: Path) -> None:
    tampered = rewrite_zip(package, tmp_path / "t.zip", lambda name, data: data,
                           extra={"video/ajout.mp4": b"x"})
    assert verify(tampered).unexpected == ["video/ajout.mp4"]
    folder = extract(package, tmp_path / "extrait")
    (folder / "notes.txt").write_text("ajouté après l'export")
    report = verify(folder)
    assert report.unexpected == ["notes.txt"]
    assert any_line_names(report, "Fichier inattendu", "notes.txt")
    assert not report.ok


def test_a_changed_manifest_fails_the_signature_and_is_named(package: Path,
                                                             tmp_path: Path) -> None:
    def edit(name: str, data: bytes) -> bytes:
        return data.replace(b"PV 2024/00123", b"PV 2024/00124") if name == "manifest.json" else data

    report = verify(rewrite_zip(package, tmp_path / "t.zip", edit))
    assert not report.ok
    assert not report.signature_ok
    assert report.altered == ["manifest.json"]
    assert any_line_names(report, "manifest.json", "signature invalide")


def test_an_unreadable_manifest_or_a_missing_signature_is_an_error(package: Path,
                                                                   tmp_path: Path) -> None:
    garbled = rewrite_zip(package, tmp_path / "a.zip",
                          lambda name, data: b"{pas du json" if name == "manifest.json" else data)
    report = verify(garbled)
    assert any("JSON" in e for e in report.errors)
    assert not report.ok
    unsigned = rewrite_zip(package, tmp_path / "b.zip",
                           lambda name, data: None if name == "manifest.sig" else data)
    report = verify(unsigned)
    assert any("manifest.sig absent" in e for e in report.errors)
    assert not report.ok
    not_a_zip = tmp_path / "c.zip"
    not_a_zip.write_bytes(b"ceci n'est pas un zip")
    assert not verify(not_a_zip).ok


def test_a_package_signed_by_another_key_fails_only_against_the_expected_key(
        package: Path, tmp_path: Path, key: EvidenceKey, other_key: EvidenceKey) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        manifest["case"]["reference"] = "PV 2024/99999"

    forged = resign(package, tmp_path / "forged.zip", other_key, edit)
    assert verify(forged).ok  # self-consistent: this is why the fingerprint must be compared
    report = verify(forged, expected_fingerprint=key.fingerprint())
    assert not report.ok
    assert report.fingerprint_matches is False
    assert any_line_names(report, "ATTENTION", key.fingerprint())
    loose = other_key.fingerprint().replace(":", " ").upper()
    assert verify(forged, expected_fingerprint=loose).fingerprint_matches is True
    assert verify(package, expected_fingerprint=key.fingerprint()).ok


def test_the_declared_key_must_be_the_package_key(package: Path, tmp_path: Path,
                                                  key: EvidenceKey,
                                                  other_key: EvidenceKey) -> None:
    forged = resign(package, tmp_path / "f.zip", other_key, lambda m: None, declared_key=key)
    report = verify(forged)
    assert report.signature_ok
    assert any("n'est pas celle de cle-publique.pem" in e for e in report.errors)
    assert not report.ok


def test_a_manifest_path_leaving_the_package_is_refused(package: Path, tmp_path: Path,
                                                        key: EvidenceKey) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"hors du paquet")
    entry = {"path": "../secret.txt", "size": secret.stat().st_size,
             "sha256": hashlib.sha256(secret.read_bytes()).hexdigest()}
    forged = resign(package, tmp_path / "f.zip", key,
                    lambda m: m["files"].extend([entry, dict(entry, path="/etc/hostname")]))
    folder = extract(forged, tmp_path / "dossier")
    for target in (forged, folder):
        report = verify(target)
        assert not report.ok
        assert any("'../secret.txt'" in e and "refusé" in e for e in report.errors)
        assert any("'/etc/hostname'" in e for e in report.errors)
        assert report.files_checked == 3 + len(FINISH_FILES)


# -- the writer's rules ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../x.mp4", "/x.mp4", "video/../x", "video//x", "C:x",
                                 "video\\x", "", "manifest.json", "LISEZMOI.txt"])
def test_the_writer_refuses_unsafe_or_reserved_paths(tmp_path: Path, bad: str) -> None:
    with PackageWriter(tmp_path / "p.zip", EXPORTED_AT) as writer, \
            pytest.raises(ValueError):
        writer.add_bytes(bad, b"x")


def test_the_writer_refuses_duplicates_even_by_case(tmp_path: Path) -> None:
    with PackageWriter(tmp_path / "p.zip", EXPORTED_AT) as writer:
        writer.add_bytes("video/a.mp4", b"x")
        with pytest.raises(ValueError, match="duplicate"):
            writer.add_bytes("video/A.mp4", b"y")


def test_abort_deletes_the_partial_package(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    with pytest.raises(RuntimeError), PackageWriter(path, EXPORTED_AT) as writer:
        out = writer.open_member(VIDEO)
        out.write(b"partial")
        raise RuntimeError("disque plein")
    assert list(tmp_path.iterdir()) == []
    writer.abort()  # again: harmless


def test_a_hashing_writer_is_a_write_only_stream(tmp_path: Path) -> None:
    with PackageWriter(tmp_path / "p.zip", EXPORTED_AT) as writer:
        out = writer.open_member(VIDEO)
        assert isinstance(out, HashingWriter)
        assert out.writable() and not out.seekable() and not out.readable()
        assert out.write(memoryview(b"abc")) == 3
        with pytest.raises(ValueError, match="still open"):
            writer.add_bytes(CSV, b"x")
        out.close()
        out.close()
        assert (out.size, out.sha256) == (3, hashlib.sha256(b"abc").hexdigest())
        assert writer.files() == [{"path": VIDEO, "size": 3, "sha256": out.sha256}]


def make_test_frames(count: int) -> list[av.VideoFrame]:
    frames = []
    for i in range(count):
        frame = av.VideoFrame(64, 64, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 23) % 256]) * plane.buffer_size)
        frame.pts = i
        frames.append(frame)
    return frames


def test_pyav_muxes_a_fragmented_mp4_straight_into_the_package(tmp_path: Path,
                                                               key: EvidenceKey) -> None:
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    path = tmp_path / "p.zip"
    with PackageWriter(path, EXPORTED_AT) as writer:
        with writer.open_member(VIDEO) as out, av.open(
                out, "w", format="mp4",
                options={"movflags": "frag_keyframe+empty_moov+default_base_moof"}) as container:
            stream = container.add_stream(codec, rate=10)
            assert isinstance(stream, av.VideoStream)
            stream.width = stream.height = 64
            stream.pix_fmt = "yuv420p"
            for frame in make_test_frames(10):
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        writer.finish(sample_manifest(), key)
    assert verify(path).ok
    with zipfile.ZipFile(path) as zf, zf.open(VIDEO) as member, av.open(member, "r") as reader:
        assert len(list(reader.decode(video=0))) == 10


# -- the standalone verifier ----------------------------------------------------------------

def imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import would need the package around it"
            names.add((node.module or "").split(".")[0])
    return names


def test_the_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    modules = imported_top_modules(Path(verifier_preuve.__file__))
    assert "cryptography" in modules
    assert modules - {"cryptography"} <= sys.stdlib_module_names


def test_the_verifier_is_python_3_9_syntax() -> None:
    source = Path(verifier_preuve.__file__).read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 9))
    assert "from __future__ import annotations" in source


def run_verifier(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # -I: neither the script's folder, the working folder nor PYTHON* variables on sys.path
    return subprocess.run([sys.executable, "-I", str(script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_copy_in_the_package_runs_alone_and_exits_1_on_tampering(package: Path,
                                                                      tmp_path: Path,
                                                                      key: EvidenceKey) -> None:
    script = extract(package, tmp_path / "extrait") / "verifier_preuve.py"
    workdir = tmp_path / "ailleurs"
    workdir.mkdir()
    done = run_verifier(script, str(package), "--cle-attendue", key.fingerprint(), cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paquet intègre" in done.stdout
    assert key.fingerprint() in done.stdout

    tampered = rewrite_zip(package, tmp_path / "t.zip",
                           lambda name, data: flip_byte(data, 5) if name == CSV else data)
    done = run_verifier(script, str(tampered), "--json", cwd=workdir)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["altered"] == [CSV]
    assert any(CSV in line for line in result["lines"])

    assert run_verifier(script, cwd=workdir).returncode == 2
    assert run_verifier(script, str(tmp_path / "absent.zip"), cwd=workdir).returncode == 2


def test_main_returns_instead_of_exiting(package: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verifier_preuve.main([str(package)]) == 0
    assert "RÉSULTAT : paquet intègre" in capsys.readouterr().out
    assert verifier_preuve.main([]) == 2


# -- the signing key ------------------------------------------------------------------------

def test_the_key_is_created_encrypted_private_and_loaded_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keys" / "evidence-ed25519.pem"
    created = EvidenceKey.load_or_create(path, b"derived-passphrase")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    loaded = EvidenceKey.load_or_create(path, b"derived-passphrase")
    assert loaded.fingerprint() == created.fingerprint()
    signature = loaded.sign(b"data")
    assert len(signature) == 64 and signature == created.sign(b"data")  # Ed25519: deterministic
    assert loaded.public_pem().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_a_wrong_secret_key_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "evidence-ed25519.pem"
    EvidenceKey.load_or_create(path, b"right")
    with pytest.raises(EvidenceKeyUnavailable, match="GUETTEUR_SECRET_KEY") as caught:
        EvidenceKey.load_or_create(path, b"wrong")
    assert isinstance(caught.value, GuetteurError)
    assert "ne peut pas être ouverte" in caught.value.message
    with pytest.raises(EvidenceKeyUnavailable):
        EvidenceKey.load_or_create(tmp_path / "other.pem", b"")


def test_both_fingerprint_functions_agree(key: EvidenceKey, other_key: EvidenceKey) -> None:
    for k in (key, other_key):
        raw = k.public_raw()
        assert signing.fingerprint_of(raw) == verifier_preuve.fingerprint_of(raw) == k.fingerprint()
    groups = key.fingerprint().split(":")
    assert len(groups) == 16 and all(len(g) == 4 for g in groups)
    assert "".join(groups) == hashlib.sha256(key.public_raw()).hexdigest()


def test_canonical_json_is_sorted_indented_utf8_with_a_final_newline() -> None:
    assert canonical_json({"b": "é", "a": [1]}) == (
        '{\n  "a": [\n    1\n  ],\n  "b": "é"\n}\n'.encode())


def test_verify_takes_a_string_path_too(package: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copie" / "paquet.zip"
    copy.parent.mkdir()
    shutil.copy(package, copy)
    assert verify(str(copy)).ok
