"""Text reading on pictures with the PP-OCRv6 models shipped inside the ``rapidocr`` wheel.

Responsibility: ``PlateOCR.read(image)`` returns every line of text found in a BGR picture,
with its score and its quadrilateral in the picture's pixels; ``plate_candidates`` keeps the
lines that may be a plate (4 to 10 letters or digits once separators are removed). The raw
text is returned as read: the French format rules (SIV/FNI patterns, look-alike characters)
belong to ``domain/plates.py``.

Invariants:
- offline: the detection and recognition models are given to RapidOCR by explicit path
  (``model_paths()``: files of the installed ``rapidocr`` package); the text direction
  classifier is disabled and never loaded. With explicit paths RapidOCR has no reason to
  download or to create a directory; the test suite checks it in a process without network;
- no telemetry: onnxruntime (1.32 at least) starts Microsoft's 1DS telemetry client when it is
  imported, unless ``ORT_DISABLE_TELEMETRY=1`` is in the environment at that moment: it then
  writes a device id and an event queue under ``~/.cache/Microsoft/DeveloperTools/`` and
  resolves ``mobile.events.data.microsoft.com`` to send them. ``PlateOCR()`` sets the variable
  before importing onnxruntime; if onnxruntime was imported earlier without it, it turns the
  events off (``disable_telemetry_events``) and logs a warning: set the variable in the
  service's environment (the deployment does) so that no process can miss it;
- CPU only (onnxruntime's CPU provider), ``threads`` intra-op threads per model (default 1:
  the pipeline parallelises with processes, one ``PlateOCR`` per worker process);
- both models are loaded in ``__init__`` (``load_s`` says how long it took), so the first
  ``read`` costs what every other one does. One instance is not meant to be shared between
  threads.
- detection runs on the picture scaled so its longest side is at most ``max_side`` pixels;
  recognition reads each line from the picture at full resolution (up to 2000 px on the longest
  side), so a small ``max_side`` makes detection cheaper without blurring the characters.

Errors: a missing model file or an onnxruntime failure raises ``MediaError`` (the domain's
error for media processing that failed) with what to do.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guetteur.domain.errors import MediaError

log = logging.getLogger(__name__)

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
MIN_PLATE_CHARS = 4
MAX_PLATE_CHARS = 10
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
# Longest side RapidOCR keeps for recognition; a 1080p frame (1920 px) is read unscaled.
_REC_MAX_SIDE = 2000


@dataclass(frozen=True)
class ModelPaths:
    det: Path
    rec: Path


@dataclass(frozen=True)
class TextBox:
    """One line of text read in a picture, in the input picture's pixels.

    ``quad``: the four corners found by the detector, clockwise from the top left;
    ``box``: (x, y, width, height) of their upright bounding rectangle, whole pixels.
    """

    text: str
    score: float
    quad: tuple[tuple[float, float], ...]

    @property
    def box(self) -> tuple[int, int, int, int]:
        xs = [p[0] for p in self.quad]
        ys = [p[1] for p in self.quad]
        x, y = math.floor(min(xs)), math.floor(min(ys))
        return x, y, math.ceil(max(xs)) - x, math.ceil(max(ys)) - y

    @property
    def compact(self) -> str:
        """Uppercase ASCII letters and digits of ``text`` (separators and anything else
        dropped); not a French normalisation."""
        return "".join(c for c in self.text.upper() if c.isascii() and c.isalnum())

    @property
    def height_px(self) -> float:
        """Height of the line (mean of its left and right edges): about the character height
        plus the detector's margin."""
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.quad[:4]
        return (math.hypot(x3 - x0, y3 - y0) + math.hypot(x2 - x1, y2 - y1)) / 2


def model_paths() -> ModelPaths:
    """The PP-OCRv6 detection and recognition models inside the installed ``rapidocr``."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise MediaError(
            "rapidocr is not installed: run ./scripts/setup (pip install "
            "rapidocr==3.10.0 onnxruntime)"
        )
    models = Path(spec.origin).parent / "models"
    paths = ModelPaths(det=models / DET_MODEL, rec=models / REC_MODEL)
    for path in (paths.det, paths.rec):
        if not path.is_file():
            raise MediaError(
                f"OCR model {path} is missing: reinstall rapidocr==3.10.0, whose "
                "wheel ships it (nothing is downloaded at run time)"
            )
    return paths


def disable_onnxruntime_telemetry() -> bool:
    """Keep onnxruntime from collecting and sending telemetry. Returns False when it is too
    late to be sure (onnxruntime already imported without ``ORT_DISABLE_TELEMETRY``)."""
    chosen = os.environ.get(TELEMETRY_ENV)
    if chosen is not None:
        return True  # set by the deployment (or deliberately otherwise)
    os.environ[TELEMETRY_ENV] = "1"  # read when onnxruntime is imported
    if "onnxruntime" not in sys.modules:
        return True
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    log.warning(
        "onnxruntime was imported before %s=1 was set: its telemetry client may "
        "have started; set the variable in the service's environment",
        TELEMETRY_ENV,
    )
    return False


class PlateOCR:
    """RapidOCR (PP-OCRv6 det + rec, onnxruntime CPU) configured for offline plate reading.

    ``import_s``: time this instance spent importing rapidocr and onnxruntime (about 0 when
    they were already imported); ``load_s``: time to create the two ONNX sessions."""

    def __init__(
        self, threads: int = 1, text_score: float = 0.5, models: ModelPaths | None = None
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.models = models or model_paths()
        self.threads = threads
        started = time.perf_counter()
        disable_onnxruntime_telemetry()
        from rapidocr import RapidOCR

        self.import_s = time.perf_counter() - started
        ort = "EngineConfig.onnxruntime."
        params: dict[str, Any] = {
            "Global.use_cls": False,
            "Global.log_level": "error",  # "no text found" is a warning: normal here
            "Global.text_score": text_score,
            "Global.max_side_len": _REC_MAX_SIDE,
            "Det.model_path": str(self.models.det),
            "Det.limit_type": "max",
            "Rec.model_path": str(self.models.rec),
            f"{ort}intra_op_num_threads": threads,
            f"{ort}inter_op_num_threads": 1,
            f"{ort}use_cuda": False,
            f"{ort}use_dml": False,
            f"{ort}use_cann": False,
            f"{ort}use_coreml": False,
        }
        started = time.perf_counter()
        try:
            self._engine = RapidOCR(params=params)
            self._detector = self._engine._load_det_model()
            self._engine._load_rec_model()
        except Exception as exc:  # onnxruntime and rapidocr raise many kinds
            raise MediaError(
                f"cannot load the OCR models ({exc}): reinstall rapidocr and onnxruntime"
            ) from exc
        self.load_s = time.perf_counter() - started

    def read(self, image: np.ndarray, max_side: int = 960) -> list[TextBox]:
        """Every line of text found in a BGR picture (H x W x 3, uint8), top to bottom (not by
        score). Detection runs on the picture scaled to ``max_side`` pixels at most."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 picture, got {image.shape} {image.dtype}")
        if max_side < 32:
            raise ValueError(f"max_side must be at least 32 px, not {max_side}")
        self._detector.limit_side_len = max_side
        try:
            result = self._engine(np.ascontiguousarray(image))
        except Exception as exc:
            raise MediaError(
                f"OCR failed on a {image.shape[1]}x{image.shape[0]} picture: {exc}"
            ) from exc
        return _boxes(result)


def _boxes(result: Any) -> list[TextBox]:
    txts = getattr(result, "txts", None)
    boxes = getattr(result, "boxes", None)
    scores = getattr(result, "scores", None)
    if not txts or boxes is None or scores is None:
        return []
    out = []
    for text, score, quad in zip(txts, scores, boxes, strict=True):
        corners = tuple((float(x), float(y)) for x, y in np.asarray(quad).reshape(-1, 2))
        out.append(TextBox(text=str(text), score=float(score), quad=corners))
    return out


def plate_candidates(boxes: Iterable[TextBox]) -> list[TextBox]:
    """Lines that may be a plate: 4 to 10 letters or digits once separators are removed.
    Best first: highest score, then tallest line."""
    kept = [b for b in boxes if MIN_PLATE_CHARS <= len(b.compact) <= MAX_PLATE_CHARS]
    return sorted(kept, key=lambda b: (-b.score, -b.height_px))


def best_candidate(boxes: Sequence[TextBox]) -> TextBox | None:
    """The first of ``plate_candidates(boxes)``, or None."""
    found = plate_candidates(boxes)
    return found[0] if found else None
