"""Plate reading throughput (issue 5): camera-hours of recorded 1080p footage analysed per
minute, from the request to the wanted car found, with and without motion gating.

Target: 20 cameras x 1 h analysed, and the wanted car found, in under 5 minutes from the
request, on this 2-core machine, at a realistic traffic (a vehicle every 20 s).

Footage (`bench/_plate_footage.py`): 3 distinct 60-s synthetic street segments (1080p 25 fps,
libx264 `--preset`, 4 Mbit/s, no B-frames, a keyframe every 50 frames, one vehicle per 20-s
slot at a random phase, plates/motions/character heights 25-40 px from `plan_vehicles`), cut
as the recorder writes segments (stream copy into fragmented MP4, 200-ms fragments), plus one
segment carrying the wanted car (FX-408-WB), each with its sub-stream (the same pictures at
640x360, 512 kbit/s, keyframes at the same instants), all rendered once and cached in
var/bench-cache/ with their ground truth (the first run takes a few more minutes).

Each scenario builds a Container (temporary data dir, SQLite, FakeClock just after the
footage), registers N cameras and indexes M consecutive 60-s segments per camera: the cached
segments (main and sub-stream) are *hard-linked* (this benchmark measures CPU, not disk),
cycling the distinct ones
(shifted by one per camera); the wanted-car segment replaces camera 7's minute 37. Sizes and
SHA-256 are computed once per distinct file (setup, not measured). The page cache is warm.

Measured, as an investigator with the playback grant on a case: from `plates.analyse(...)`
(the request), through `claim` and `run(job, gating=...)` (in a thread, `plates_workers` worker
processes started by the job, so their start-up and model loading are counted), to the moment
`plates.search(who, "FX-408-WB", case_ref=...)` returns the wanted car on the right camera at
the right time, polled every second while the job runs ("first found") and once after it
ends ("done + search"). CPU: this process (`RUSAGE_SELF`) and the worker processes
(`RUSAGE_CHILDREN`, counted once the pool is shut down) as deltas. Then accuracy against the
ground truth: for every vehicle of every segment placed, an exact search of its plate on its
camera must return a passage at its time (+-3 s); passages whose plate is in no ground truth
are counted as false.

Scenarios: (a) gating on with the sub-stream recorded (the service's default) on --cameras x
--minutes; (a'') the thorough analysis (every sub-stream frame looked at) on --thorough-cameras
x --thorough-minutes; (a') gating on without a sub-stream (motion from every main keyframe) on
--main-cameras x --main-minutes; (b) gating off (every keyframe decoded and read whole: the
baseline) on --off-cameras x --off-minutes; (a''), (a') and (b) are extrapolated linearly to
the size of (a) and labelled so. Before them, every distinct segment is analysed alone in this
process (`analyse_segment`, one thread) guided by its sub-stream, thorough, from the main
stream only, and with gating off: CPU, frames decoded, OCR calls, vehicles read.

    .venv/bin/python bench/plate_throughput.py [--cameras 20] [--minutes 60] [--workers 2]
        [--thorough-cameras 2] [--thorough-minutes 60] [--skip-thorough]
        [--main-cameras 2] [--main-minutes 60] [--skip-main]
        [--off-cameras 1] [--off-minutes 10] [--no-gating] [--skip-off] [--no-per-segment]
        [--preset veryfast|ultrafast] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _plate_footage as footage
from _common import REPO, bench_case, code_version, command_line, machine, table
from sqlalchemy import select

from guetteur.adapters.db.models import PlatePassage
from guetteur.bootstrap import Container, build
from guetteur.domain.cameras import CameraSpec
from guetteur.domain.clock import FakeClock
from guetteur.domain.permissions import Principal
from guetteur.domain.plates import compact
from guetteur.services.segment_index import SegmentRow
from guetteur.settings import Settings

S = 1_000_000
SEGMENT_S = footage.SEGMENT_S
T_END = 1_795_638_600_000_000  # 2026-11-25T20:30:00Z: end of the footage
RUN_STAMP = "20261125T193000000000Z"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
INVESTIGATOR, PASSWORD = "bench-opj", "Bench-Enqu3teur!pw"
CODEC = "avc1.4d4028"
DEFAULT_CACHE = REPO / "var" / "bench-cache"
DISTINCT_SEEDS = (1, 2, 3)
WANTED_CAMERA, WANTED_MINUTE = 7, 37
TOLERANCE_US = 3 * S  # a keyframe is at most 2 s from any instant of a passage
POLL_S = 1.0


def rusage() -> tuple[float, float]:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime, b.ru_utime + b.ru_stime


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------- one scenario

@dataclass
class Placed:
    camera_id: int
    start_us: int
    seg: footage.Segment


@dataclass
class Outcome:
    label: str
    cameras: int
    minutes: int
    gating: bool
    workers: int
    setup_s: float = 0.0
    first_found_s: float = float("nan")  # request -> search returns the wanted car (polling)
    done_s: float = float("nan")  # request -> job done
    done_found_s: float = float("nan")  # request -> job done + a search that finds it
    close_s: float = 0.0
    cpu_main_s: float = 0.0
    cpu_workers_s: float = 0.0
    state: str = ""
    passages: int = 0
    reads: int = 0
    wanted_found: bool = False
    occurrences: int = 0
    occurrences_found: int = 0
    false_passages: int = 0
    per_vehicle: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # found, seen
    notes: list[str] = field(default_factory=list)

    @property
    def camera_hours(self) -> float:
        return self.cameras * self.minutes / 60


def wanted_position(cameras: int, minutes: int) -> tuple[int, int]:
    return min(WANTED_CAMERA, cameras), min(WANTED_MINUTE, minutes - 1)


def build_footage(work: Path, cameras: int, minutes: int, workers: int,
                  segs: list[footage.Segment], wanted: footage.Segment,
                  digests: dict[Path, tuple[int, str]], sub: bool
                  ) -> tuple[Container, Principal, int, list[int], list[Placed], int]:
    settings = Settings(_env_file=None, data_dir=work / "data", secret_key=SECRET,
                        plates_workers=workers)
    c = build(settings, clock=FakeClock(T_END + 60 * S))
    try:
        who, kase = bench_case(c, INVESTIGATOR, PASSWORD, "investigator",
                               "Enquêteur Banc d'essai", ["playback"], "PV 2026/BENCH-PLAQUES",
                               "Banc d'essai de la lecture de plaques")
        from_us = T_END - minutes * SEGMENT_S * S
        w_cam, w_min = wanted_position(cameras, minutes)
        cams: list[int] = []
        placed: list[Placed] = []
        for i in range(cameras):
            cid = int(c.registry.add(CameraSpec(name=f"CAM-{i + 1:02d}",
                                                main_url=f"rtsp://192.0.2.10/cam{i + 1}/main",
                                                enabled=False), actor="bench").id)
            cams.append(cid)
            rows = []
            for k in range(minutes):
                seg = wanted if (i + 1, k) == (w_cam, w_min) else segs[(i + k) % len(segs)]
                start = from_us + k * SEGMENT_S * S
                files = [("main", seg.path, seg.init_size)]
                if sub and seg.sub_path is not None:
                    files.append(("sub", seg.sub_path, seg.sub_init_size))
                for stream, src, init_size in files:
                    path = c.store.stream_dir(cid, stream) / f"{RUN_STAMP}_{k:06d}.mp4"
                    try:
                        os.link(src, path)
                    except OSError:  # another file system: a copy does as well (slower)
                        shutil.copyfile(src, path)
                    size, digest = digests[src]
                    rows.append(SegmentRow(cid, stream, c.store.key_of(path), start,
                                           start + SEGMENT_S * S, size, digest, CODEC,
                                           init_size))
                placed.append(Placed(cid, start, seg))
            c.index.insert(rows, [])
        return c, who, kase.id, cams, placed, from_us
    except BaseException:
        c.close()
        raise


def wanted_hit(c: Container, who: Principal, case_id: int, camera_id: int,
               window: tuple[int, int]) -> bool:
    hits = c.plates.search(who, footage.WANTED, case_ref=case_id)
    return any(h.camera_id == camera_id and h.compact == compact(footage.WANTED)
               and h.last_utc_us >= window[0] and h.first_utc_us <= window[1] for h in hits)


def run_scenario(label: str, cameras: int, minutes: int, workers: int, gating: bool,
                 segs: list[footage.Segment], wanted: footage.Segment,
                 digests: dict[Path, tuple[int, str]], parent: Path, keep: bool,
                 sub: bool = True, thorough: bool = False) -> Outcome:
    out = Outcome(label, cameras, minutes, gating, workers)
    work = Path(tempfile.mkdtemp(prefix="guetteur-bench-plate-throughput-", dir=parent))
    c = None
    try:
        t0 = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {label}: {cameras} cameras x {minutes} segments "
              f"into {work} ...", flush=True)
        c, who, case_id, cams, placed, from_us = build_footage(
            work, cameras, minutes, workers, segs, wanted, digests, sub)
        out.setup_s = time.perf_counter() - t0
        w_cam, w_min = wanted_position(cameras, minutes)
        w_start = from_us + w_min * SEGMENT_S * S
        [w_truth] = [v for v in wanted.vehicles if v.text == footage.WANTED]
        window = (w_start + round(w_truth.first_s * S) - TOLERANCE_US,
                  w_start + round(w_truth.last_s * S) + TOLERANCE_US)
        w_cid = cams[w_cam - 1]
        print(f"[{time.strftime('%H:%M:%S')}] {label}: analysing (gating "
              f"{'on' if gating else 'off'}, sub-stream {'indexed' if sub else 'absent'}, "
              f"{workers} workers) ...", flush=True)

        cpu0_main, cpu0_children = rusage()
        t0 = time.perf_counter()
        job = c.plates.analyse(who, case_id, cams, from_us, T_END, thorough=thorough)
        if not c.plates.claim(job.id):
            raise RuntimeError(f"plate job {job.id} not claimable ({job.state})")
        result: dict[str, Any] = {}

        def runner() -> None:
            try:
                result["view"] = c.plates.run(job.id, gating=gating)
            except BaseException as exc:  # reported by the main thread
                result["error"] = exc
            result["done_s"] = time.perf_counter() - t0

        thread = threading.Thread(target=runner, name="bench-plate-job")
        thread.start()
        last_print = time.monotonic()
        while thread.is_alive():
            thread.join(timeout=POLL_S)
            if out.first_found_s != out.first_found_s and wanted_hit(c, who, case_id, w_cid,
                                                                       window):
                out.first_found_s = time.perf_counter() - t0
                print(f"[{time.strftime('%H:%M:%S')}] {label}: wanted car found after "
                      f"{out.first_found_s:.1f} s", flush=True)
            if time.monotonic() - last_print >= 30:
                last_print = time.monotonic()
                v = c.plates.job(job.id)
                print(f"[{time.strftime('%H:%M:%S')}] {label}: {v.segments_done}/"
                      f"{v.segments_total} segments, {time.perf_counter() - t0:.0f} s",
                      flush=True)
        if "error" in result:
            raise result["error"]
        view = result["view"]
        out.done_s = result["done_s"]
        found = wanted_hit(c, who, case_id, w_cid, window)
        out.done_found_s = time.perf_counter() - t0
        if found and out.first_found_s != out.first_found_s:
            out.first_found_s = out.done_found_s
        out.wanted_found = found
        t1 = time.perf_counter()
        c.plates.close()  # the workers exit: their CPU time shows in RUSAGE_CHILDREN
        out.close_s = time.perf_counter() - t1
        cpu1_main, cpu1_children = rusage()
        out.cpu_main_s = cpu1_main - cpu0_main
        out.cpu_workers_s = cpu1_children - cpu0_children
        out.state, out.passages, out.reads = view.state, view.passages, view.reads
        if view.state != "done":
            out.notes.append(f"job ended {view.state}: {view.error}")
        accuracy(c, who, case_id, job.id, placed, [*segs, wanted], out)
        return out
    finally:
        if c is not None:
            c.close()
        if keep:
            print(f"# {label}: data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def accuracy(c: Container, who: Principal, case_id: int, job_id: int, placed: list[Placed],
             all_segs: list[footage.Segment], out: Outcome) -> None:
    by_camera: dict[int, list[Placed]] = {}
    for p in placed:
        by_camera.setdefault(p.camera_id, []).append(p)
    for cid, items in by_camera.items():
        texts = {v.text for p in items for v in p.seg.vehicles}
        hits = {t: c.plates.search(who, t, case_ref=case_id, camera_ids=[cid], limit=500)
                for t in texts}
        for p in items:
            for v in p.seg.vehicles:
                lo = p.start_us + round(v.first_s * S) - TOLERANCE_US
                hi = p.start_us + round(v.last_s * S) + TOLERANCE_US
                ok = any(h.compact == v.compact and h.last_utc_us >= lo
                         and h.first_utc_us <= hi for h in hits[v.text])
                out.occurrences += 1
                out.occurrences_found += ok
                cell = out.per_vehicle.setdefault((p.seg.name, v.text), [0, 0])
                cell[0] += ok
                cell[1] += 1
    truths = {v.compact for s in all_segs for v in s.vehicles}
    with c.sessions() as db:
        compacts = db.scalars(select(PlatePassage.compact)
                              .where(PlatePassage.job_id == job_id)).all()
    out.false_passages = sum(1 for x in compacts if x not in truths)


# --------------------------------------------------------------------- one segment alone

def per_segment(segs: list[footage.Segment], variants: list[str]) -> list[list[object]]:
    """analyse_segment on each distinct segment in this process (one thread), as a worker
    runs it; vehicles read = passages grouped as the service does, matched to the truth."""
    from guetteur.adapters.plates.analyse import analyse_segment
    from guetteur.adapters.plates.ocr import PlateOCR
    from guetteur.services.plate_search import ReadRow, passage_from_reads
    from guetteur.services.plates import group_reads

    ocr = PlateOCR(threads=1)
    rows: list[list[object]] = []
    for variant in variants:  # "sub": guided by the sub-stream; "thorough": the same, every
        for seg in segs:      # sub-stream frame; "on": main only; "off": no gating
            guide = ([(seg.sub_path, 0)] if variant in ("sub", "thorough") and seg.sub_path
                     else [])
            t0, cpu0 = time.perf_counter(), time.process_time()
            r = analyse_segment(seg.path, 0, ocr, gating=variant != "off", guide=guide,
                                thorough=variant == "thorough")
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            passages = []
            for group in group_reads(r.reads):
                row = passage_from_reads(1, [ReadRow(x.at_utc_us, x.text, x.score)
                                             for x in group])
                if row is not None:
                    passages.append(row)
            found = []
            for v in seg.vehicles:
                lo, hi = round(v.first_s * S) - TOLERANCE_US, round(v.last_s * S) + TOLERANCE_US
                found.append(any(p.plate.compact == v.compact and p.last_utc_us >= lo
                                 and p.first_utc_us <= hi for p in passages))
            truths = {v.compact for v in seg.vehicles}
            false = sum(1 for p in passages if p.plate.compact not in truths)
            missed = [f"{v.compact} ({v.motion[0]}{v.char_height_px:.0f})"
                      for v, ok in zip(seg.vehicles, found, strict=True) if not ok]
            label = {"sub": "on, sub-stream guide", "thorough": "on, sub-stream, thorough",
                     "on": "on, main only", "off": "off"}
            rows.append([seg.name.split("-", 2)[2], label[variant], cpu, wall,
                         f"{r.gops_looked}/{r.gops}", r.guide_frames_decoded,
                         r.keyframes_decoded, r.ocr_calls,
                         len(r.reads), f"{sum(found)}/{len(found)}", false,
                         ", ".join(missed) or "-"])
    return rows


# --------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=int, default=20)
    p.add_argument("--minutes", type=int, default=60, help="60-s segments per camera")
    p.add_argument("--workers", type=int, default=2, help="plates_workers (worker processes)")
    p.add_argument("--off-cameras", type=int, default=1,
                   help="size of the gating-off run, extrapolated to cameras x minutes")
    p.add_argument("--off-minutes", type=int, default=10)
    p.add_argument("--main-cameras", type=int, default=2,
                   help="size of the gating-on run without a sub-stream (the main stream's "
                        "keyframes find the motion), extrapolated to cameras x minutes")
    p.add_argument("--main-minutes", type=int, default=60)
    p.add_argument("--thorough-cameras", type=int, default=2,
                   help="size of the thorough run (every sub-stream frame looked at), "
                        "extrapolated to cameras x minutes")
    p.add_argument("--thorough-minutes", type=int, default=60)
    p.add_argument("--skip-thorough", action="store_true", help="skip the thorough run")
    p.add_argument("--skip-main", action="store_true",
                   help="skip the gating-on run without a sub-stream")
    p.add_argument("--no-gating", action="store_true",
                   help="only the gating-off scenario, on --cameras x --minutes")
    p.add_argument("--skip-off", action="store_true", help="only the gating-on scenario")
    p.add_argument("--no-per-segment", action="store_true",
                   help="skip the per-segment analysis in this process")
    p.add_argument("--preset", default="veryfast", choices=["veryfast", "ultrafast"],
                   help="x264 preset of the rendered footage")
    p.add_argument("--workdir", type=Path, default=None,
                   help="parent folder of the scenario's data (default: the system tmp)")
    p.add_argument("--keep", action="store_true", help="keep the data dirs")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parent = (args.workdir or Path(tempfile.gettempdir())).resolve()
    parent.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  {command_line()}")
    print(f"# {machine()}; {code_version()}")

    segs = [footage.segment(args.cache_dir, s, args.preset) for s in DISTINCT_SEEDS]
    wanted = footage.segment(args.cache_dir, footage.WANTED_SEED, args.preset, wanted=True)
    digests = {p: (p.stat().st_size, sha256(p))
               for s in [*segs, wanted] for p in (s.path, s.sub_path) if p is not None}
    print(f"# footage: {len(segs)} distinct 60-s segments + 1 with the wanted car "
          f"({footage.WANTED}), 1080p25 libx264 {args.preset} 4 Mbit/s, -bf 0, GOP 50, fMP4 "
          f"200-ms fragments, {sum(digests[s.path][0] for s in [*segs, wanted]) / 4e6:.1f} MB "
          f"a segment on average; sub-stream {footage.SUB_SIZE[0]}x{footage.SUB_SIZE[1]} "
          f"{footage.SUB_BITRATE_KBPS} kbit/s GOP 50 (keyframes at the main stream's "
          f"instants); hard-linked as every segment file (CPU is measured, not disk)")
    for seg in [*segs, wanted]:
        print(f"#   {seg.name}: " + "; ".join(
            f"{v.text} {v.motion} {v.char_height_px:.0f}px blur {v.blur_sigma_px} "
            f"contrast {v.contrast} visible {v.first_s:.2f}-{v.last_s:.2f} s"
            for v in seg.vehicles))

    seg_rows: list[list[object]] = []
    if not args.no_per_segment:
        print(f"[{time.strftime('%H:%M:%S')}] per-segment analysis in this process ...",
              flush=True)
        seg_rows = per_segment([*segs, wanted], ["sub", "thorough", "on"]
                               + ([] if args.skip_off else ["off"]))

    outcomes: list[Outcome] = []
    if not args.no_gating:
        outcomes.append(run_scenario("(a) gating on, sub-stream guide", args.cameras,
                                     args.minutes, args.workers, True, segs, wanted, digests,
                                     parent, args.keep))
        if not args.skip_thorough:
            outcomes.append(run_scenario("(a'') thorough, sub-stream guide",
                                         args.thorough_cameras, args.thorough_minutes,
                                         args.workers, True, segs, wanted, digests, parent,
                                         args.keep, thorough=True))
        if not args.skip_main:
            outcomes.append(run_scenario("(a') gating on, main stream only", args.main_cameras,
                                         args.main_minutes, args.workers, True, segs, wanted,
                                         digests, parent, args.keep, sub=False))
    if args.no_gating:
        outcomes.append(run_scenario("(b) gating off", args.cameras, args.minutes,
                                     args.workers, False, segs, wanted, digests, parent,
                                     args.keep))
    elif not args.skip_off:
        outcomes.append(run_scenario("(b) gating off", args.off_cameras, args.off_minutes,
                                     args.workers, False, segs, wanted, digests, parent,
                                     args.keep))

    if seg_rows:
        print()
        print("## analyse_segment alone, one process, one thread (per distinct segment)")
        print()
        print(table(["segment", "gating", "CPU s", "wall s", "GOPs looked",
                     "sub frames decoded", "keyframes decoded",
                     "OCR calls", "reads", "vehicles read", "false plates", "missed (motion, "
                     "char px)"], seg_rows))
    target_h = args.cameras * args.minutes / 60
    rows = []
    for o in outcomes:
        scale = target_h / o.camera_hours
        rows.append([o.label, f"{o.cameras} cam x {o.minutes} min", o.workers,
                     o.done_s, o.first_found_s, o.done_found_s,
                     f"{o.camera_hours / (o.done_found_s / 60):.2f}",
                     f"{o.cpu_main_s:.1f} / {o.cpu_workers_s:.1f}",
                     f"{(o.cpu_main_s + o.cpu_workers_s) / o.camera_hours:.1f}",
                     o.reads, o.passages, "yes" if o.wanted_found else "NO",
                     f"{o.occurrences_found}/{o.occurrences} "
                     f"({100 * o.occurrences_found / max(1, o.occurrences):.0f} %)",
                     o.false_passages])
        if scale > 1.0001:
            rows.append([f"{o.label}, EXTRAPOLATED", f"x{scale:.0f} = {args.cameras} cam x "
                         f"{args.minutes} min", o.workers, o.done_s * scale, "-",
                         o.done_found_s * scale, "same", "-",
                         f"{(o.cpu_main_s + o.cpu_workers_s) * scale:.0f} core-s in all",
                         "-", "-", "-", "-", "-"])
    print()
    print("## Request to wanted car found")
    print()
    print(table(["scenario", "footage", "workers", "request -> job done s",
                 "-> wanted car first found s", "-> done + search found s",
                 "camera-hours / min", "CPU s (main / workers)", "CPU core-s / camera-hour",
                 "reads", "passages", "wanted car found", "vehicle passages found exactly",
                 "false passages"], rows))
    for o in outcomes:
        print(f"# {o.label}: setup (links + index) {o.setup_s:.1f} s, not measured; pool "
              f"shutdown {o.close_s:.2f} s after the search, not in the times; job {o.state}")
        missed = {k: v for k, v in o.per_vehicle.items() if v[0] < v[1]}
        if missed:
            print(f"# {o.label}: vehicles not always found (found/placed): " + ", ".join(
                f"{text} in {name.split('-', 2)[2]} {f}/{n}"
                for (name, text), (f, n) in sorted(missed.items())))
        for note in o.notes:
            print(f"# {o.label}: {note}")
    print("# request -> job done: plates.analyse + claim + run (worker processes spawned by "
          "the job: start-up and OCR model loading included); first found: a search for the "
          f"wanted car polled every {POLL_S:.0f} s while the job runs (passages are indexed "
          "camera by camera); done + search: the job's end, then one search that returns it. "
          "camera-hours / min uses 'done + search'. CPU: RUSAGE_SELF (main: job runner, "
          "grouping, indexing, searches, audit) and RUSAGE_CHILDREN (the worker processes) "
          "deltas. Vehicle passages found exactly: for every vehicle of every placed segment, "
          "an exact search of its plate on its camera returns a passage within +-3 s of its "
          "visibility; false passages: plates in no ground truth.")
    ok = all(o.state == "done" for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
