"""HTTP byte ranges (RFC 9110 §14): the one parser of `Range` and `If-Range` in Guetteur.

`plan(...)` turns a request's headers into what the response will be: the whole file (200),
one byte range (206) or "range not satisfiable" (416). The route that serves a file computes
the plan once, records it in its audit event and hands the same plan to `MediaFile`, which
sends exactly those bytes: what is audited and what is served come from one parse. Starlette's
`FileResponse` parses `Range` itself and is therefore not used for pixels.

Rules (RFC 9110):
- `Range` is honoured for GET and HEAD only, for the unit `bytes` (case-insensitive); any other
  unit, or a header that is not a valid `ranges-specifier`, is ignored (200, whole file): a
  server MAY ignore `Range` (§14.2).
- A `range-spec` is `first-last`, `first-` or `-suffix`; digits only (leading zeros allowed);
  whitespace is tolerated around `=` and around each list element, not inside a spec;
  `last < first` makes the whole header invalid (ignored). Empty list elements are skipped.
- One range: `last` past the end is clamped to the end; a suffix longer than the file is the
  whole file; a `first` at or past the end, or a suffix of 0, is unsatisfiable (416).
- More than one range: ignored, the whole file is sent (200). Guetteur's players ask one range
  at a time; multipart/byteranges would be a second way of cutting files for no client.
- `If-Range` (§13.1.5): when present with a `Range`, the range applies only if it matches the
  file's current validator: a strong entity-tag equal to our ETag (weak tags never match), or
  an HTTP-date equal to our Last-Modified; otherwise the whole file is sent (200).

Invariants: a plan of status 206 has `0 <= first <= last < size_bytes`; a plan of 200 covers
`0..size_bytes-1`; nothing here reads a file or raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

_DIGITS = re.compile(r"[0-9]+")
_UNIT = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_MAX_DIGITS = 18  # beyond any file size; longer numbers are "huge", not parsed as int


@dataclass(frozen=True)
class Spec:
    """One range-spec as written: `first-last`, `first-` (last None), `-suffix` (first None)."""

    first: int | None
    last: int | None


@dataclass(frozen=True)
class Plan:
    """What to send: status 200 (whole), 206 (bytes first..last inclusive) or 416."""

    status: int
    first: int
    last: int
    size_bytes: int
    why: str  # for the audit trail and tests: "no range", "range", "multiple ranges ignored"...

    @property
    def length_bytes(self) -> int:
        if self.status == 200:
            return self.size_bytes
        return 0 if self.status == 416 else self.last - self.first + 1

    def describe(self) -> str:
        """"all", "first-last/size" or "unsatisfiable/size" (what the audit event records)."""
        if self.status == 200:
            return "all"
        if self.status == 416:
            return f"unsatisfiable/{self.size_bytes}"
        return f"{self.first}-{self.last}/{self.size_bytes}"


def _number(text: str) -> int | None:
    if not _DIGITS.fullmatch(text):
        return None
    text = text.lstrip("0") or "0"
    return 10**_MAX_DIGITS if len(text) > _MAX_DIGITS else int(text)


def parse_range(header: str | None) -> list[Spec] | None:
    """The byte range-specs of a `Range` header, or None if it is absent, not in bytes, or
    invalid (then it must be ignored)."""
    if header is None or "=" not in header:
        return None
    unit, _, rest = header.partition("=")
    unit = unit.strip(" \t")
    if not _UNIT.fullmatch(unit) or unit.lower() != "bytes":
        return None
    specs: list[Spec] = []
    for element in rest.split(","):
        element = element.strip(" \t")
        if not element:
            continue  # empty list elements are allowed (RFC 9110 §5.6.1)
        first_s, dash, last_s = element.partition("-")
        if not dash:
            return None
        if first_s == "":
            suffix = _number(last_s)
            if suffix is None:
                return None
            specs.append(Spec(None, suffix))
            continue
        first = _number(first_s)
        last = None if last_s == "" else _number(last_s)
        if first is None or (last_s != "" and last is None):
            return None
        if last is not None and last < first:
            return None
        specs.append(Spec(first, last))
    return specs or None


def _validator_matches(if_range: str, etag: str, last_modified: str) -> bool:
    value = if_range.strip(" \t")
    if value.startswith('"') or value.startswith("W/"):
        return not value.startswith("W/") and value == etag  # strong comparison only
    try:
        asked = parsedate_to_datetime(value)
        ours = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    return asked == ours


def plan(*, size_bytes: int, method: str, range_header: str | None,
         if_range: str | None = None, etag: str = "", last_modified: str = "") -> Plan:
    """What a response for this request sends (see the module docstring for the rules)."""
    whole = Plan(200, 0, max(size_bytes - 1, 0), size_bytes, "no range")
    if method.upper() not in ("GET", "HEAD") or range_header is None:
        return whole
    specs = parse_range(range_header)
    if specs is None:
        return Plan(200, whole.first, whole.last, size_bytes, "invalid range ignored")
    if if_range is not None and not _validator_matches(if_range, etag, last_modified):
        return Plan(200, whole.first, whole.last, size_bytes, "if-range does not match")
    if len(specs) > 1:
        return Plan(200, whole.first, whole.last, size_bytes, "multiple ranges ignored")
    spec = specs[0]
    if spec.first is None:
        assert spec.last is not None
        if spec.last == 0 or size_bytes == 0:
            return Plan(416, 0, 0, size_bytes, "unsatisfiable")
        first = max(size_bytes - spec.last, 0)
        return Plan(206, first, size_bytes - 1, size_bytes, "range")
    if spec.first >= size_bytes:
        return Plan(416, 0, 0, size_bytes, "unsatisfiable")
    last = size_bytes - 1 if spec.last is None else min(spec.last, size_bytes - 1)
    return Plan(206, spec.first, last, size_bytes, "range")
