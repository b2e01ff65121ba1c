"""Licence-plate reading (issue 5): the OCR models and the synthetic test footage.

Modules:
- ``ocr``: ``PlateOCR``, PP-OCRv6 detection + recognition from the ``rapidocr`` wheel on
  onnxruntime CPU, offline; ``plate_candidates`` keeps the lines that may be plates;
- ``platedraw``: French plates (SIV, FNI), vehicles and camera degradations, drawn;
- ``synth``: synthetic street videos with ground truth, and the vehicle crops of the accuracy
  benchmark (``python -m guetteur.adapters.plates.synth --help``).

Importing this package imports neither onnxruntime nor rapidocr: ``PlateOCR()`` does.
"""
