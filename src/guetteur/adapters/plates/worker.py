"""Entry points of the plate-reading worker processes (never the web process).

Each worker loads the OCR models once (`init`), then analyses segments one by one (`analyse`):
the heavy work (decoding, OCR) runs in as many processes as configured, one thread each.
"""

from __future__ import annotations

from pathlib import Path

from guetteur.adapters.plates.analyse import SegmentResult, analyse_segment

_ocr = None


def init(threads: int = 1) -> None:
    global _ocr
    from guetteur.adapters.plates.ocr import PlateOCR, disable_onnxruntime_telemetry

    disable_onnxruntime_telemetry()
    _ocr = PlateOCR(threads=threads)


def analyse(path: str, start_utc_us: int, gating: bool = True,
            guide: list[tuple[str, int]] | None = None,
            thorough: bool = False) -> SegmentResult:
    """`guide`: the camera's sub-stream segments over the same time (path, UTC start);
    `thorough`: every sub-stream frame is looked at (see analyse_segment)."""
    if _ocr is None:
        init()
    try:
        return analyse_segment(Path(path), start_utc_us, _ocr, gating=gating,
                               guide=[(Path(p), t) for p, t in guide or []],
                               thorough=thorough)
    except Exception as exc:  # a damaged file: said in the result, the job goes on
        return SegmentResult(error=f"{Path(path).name} : {type(exc).__name__} {exc}"[:300])
