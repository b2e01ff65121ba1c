"""Licence-plate text: normalising OCR reads, look-alike folding, distances, query patterns,
voting over the reads of one passage.

Plates are compared on their **compact** text: upper case, letters A-Z and digits only (no
dashes, spaces or dots), so `ab-123-cd`, `AB 123 CD` and `AB123CD` are one plate.

French formats recognised by `normalise`:
- SIV (since 2009): `AB-123-CD`, two letters, three digits (`000` unused), two letters. Letters
  never include I, O or U; `SS` is never a letter block; `WW` is the temporary series (kept).
- FNI (before 2009): `123 ABC 45`, 1-4 digits, 1-3 letters (no I, O, U), then the department:
  two digits 01-95 (not 20), `2A`/`2B` (Corsica) or three digits 971-976 (overseas).
Anything else of 4-10 characters is kept as read, kind `foreign` (the country is not known from
the text: an Italian `AB 123 CD` reads as SIV). Fewer than 4 or more than 10: not a plate.

Look-alikes. OCR confuses 0/O/Q/D, 1/I/L, 8/B, 5/S, 2/Z and 6/G. A French format says which
positions hold letters and which digits, so a misread is fixed **by position** when a format
fits with at most `MAX_CORRECTIONS` fixes:
- at a digit position: O, Q, D -> 0; I, L -> 1; B -> 8; S -> 5; Z -> 2; G -> 6;
- at a letter position: 1 and I -> L; 8 -> B; 5 -> S; 2 -> Z; 6 -> G; U -> V; and 0 and O ->
  D. O and I are never plate letters, so a round glyph at a letter position is D or Q, a bar
  L (or I misread); D is chosen over Q because a D whose stem is faint reads as O while a Q
  keeps its tail. Which of the class is displayed matters little: search folds every class to
  one symbol (`fold`), so `AD-...` and `AQ-...` find each other as "near".
When several formats fit, the fewest fixes win, then SIV (the format of most cars on the road).

`distance` is a weighted edit distance: substituting a look-alike costs `NEAR` (0.5), any other
substitution, insertion or deletion 1. "Up to N differences" means `distance <= N`.

Query patterns (`parse_query`): `*` is any run of characters (maybe none), `?` exactly one;
separators and case are ignored. A query without wildcard is a whole plate and is normalised
like a read. Invalid queries raise `InvalidInput`.

Nothing here does I/O; everything runs in microseconds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from guetteur.domain.errors import InvalidInput

MIN_LENGTH = 4
MAX_LENGTH = 10
MAX_CORRECTIONS = 3
NEAR = 0.5
# A passage is one vehicle crossing one camera's view: its reads span at most this. A vehicle
# that stays longer (parked, jammed) makes several passages. Searches by time rely on it.
MAX_PASSAGE_US = 300_000_000

# Look-alike classes and the symbol each folds to (the digit, so folded digits stay digits).
LOOK_ALIKE_CLASSES: tuple[str, ...] = ("0OQD", "1IL", "8B", "5S", "2Z", "6G")
_FOLD = {c: cls[0] for cls in LOOK_ALIKE_CLASSES for c in cls}
_FOLD_TABLE = str.maketrans(_FOLD)

_DIGITS = frozenset("0123456789")
_PLATE_LETTERS = frozenset("ABCDEFGHJKLMNPQRSTVWXYZ")  # no I, O, U
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "B": "8", "S": "5", "Z": "2",
             "G": "6"}
_TO_LETTER = {"0": "D", "O": "D", "1": "L", "I": "L", "8": "B", "5": "S", "2": "Z", "6": "G",
              "U": "V"}
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")
_NOT_PATTERN = re.compile(r"[^A-Z0-9*?]")

# Departments of FNI plates: 01-95 except 20 (Corsica is 2A/2B since 1976), and overseas.
_DEPARTMENTS = frozenset({f"{n:02d}" for n in range(1, 96) if n != 20}
                         | {"2A", "2B"} | {str(n) for n in range(971, 977)})


@dataclass(frozen=True)
class PlateText:
    """A normalised plate. `display` is how people write it; `compact` is what is compared."""

    display: str
    compact: str
    kind: str  # "siv" | "fni" | "foreign"
    corrected: int = 0  # look-alike fixes applied to the read


def compact(text: str) -> str:
    """Upper case, letters A-Z and digits only: `ab-123 cd.` -> `AB123CD`."""
    return _NOT_ALNUM.sub("", text.upper())


def fold(text: str) -> str:
    """Every look-alike class mapped to one symbol (0/O/Q/D -> 0, 1/I/L -> 1, 8/B -> 8, 5/S -> 5,
    2/Z -> 2, 6/G -> 6); other characters, and the wildcards `*` `?`, unchanged."""
    return text.translate(_FOLD_TABLE)


def near(a: str, b: str) -> bool:
    """Two different characters of the same look-alike class."""
    return a != b and _FOLD.get(a, a) == _FOLD.get(b, b)


# ------------------------------------------------------------------------------- normalise

# character -> (what it is at a letter / digit position, fixes): absent when it cannot be one
_AS_LETTER = {c: (c, 0) for c in _PLATE_LETTERS} | {c: (f, 1) for c, f in _TO_LETTER.items()}
_AS_DIGIT = {c: (c, 0) for c in _DIGITS} | {c: (f, 1) for c, f in _TO_DIGIT.items()}
# reads as printed (most of them): no fix to look for
_CLEAN_SIV = re.compile(r"[A-HJ-NP-TV-Z]{2}[0-9]{3}[A-HJ-NP-TV-Z]{2}")
_CLEAN_FNI = re.compile(r"([0-9]{1,4})([A-HJ-NP-TV-Z]{1,3})([0-9]{2,3}|2[AB])")


def _shape(text: str, shape: str) -> tuple[str, int] | None:
    """`text` read as `shape` ("L" letter, "D" digit per position): (fixed text, fixes)."""
    out: list[str] = []
    fixes = 0
    for c, kind in zip(text, shape, strict=True):
        got = (_AS_LETTER if kind == "L" else _AS_DIGIT).get(c)
        if got is None:
            return None
        out.append(got[0])
        fixes += got[1]
    return "".join(out), fixes


def _siv(c: str) -> PlateText | None:
    if len(c) != 7:
        return None
    got = _shape(c, "LLDDDLL")
    if got is None:
        return None
    text, fixes = got
    left, digits, right = text[:2], text[2:5], text[5:]
    if "SS" in (left, right) or digits == "000":
        return None
    return PlateText(f"{left}-{digits}-{right}", text, "siv", fixes)


def _department(tail: str) -> tuple[str, int] | None:
    """The department of an FNI plate (2 or 3 characters), with its fixes; None if none fits.
    Of the readings that fit, the fewest fixes win: `28` stays Eure-et-Loir, `2B` is Corsica."""
    options = [_shape(tail, "D" * len(tail))]
    if len(tail) == 2:
        head, corsica = _AS_DIGIT.get(tail[0]), {"A": ("A", 0), "B": ("B", 0), "8": ("B", 1)}
        if head is not None and tail[1] in corsica:
            letter, fix = corsica[tail[1]]
            options.append((head[0] + letter, head[1] + fix))
    fits = [o for o in options if o is not None and o[0] in _DEPARTMENTS]
    return min(fits, key=lambda o: o[1]) if fits else None


def _fni(c: str) -> PlateText | None:
    if c[0] not in _AS_DIGIT or (c[-1] not in _AS_DIGIT and c[-1] not in "AB"):
        return None  # an FNI plate starts with a digit and ends with one, A or B
    best: PlateText | None = None
    for dep_len in (2, 3):
        for n_digits in (1, 2, 3, 4):
            n_letters = len(c) - dep_len - n_digits
            if not 1 <= n_letters <= 3:
                continue
            body = _shape(c[:n_digits + n_letters], "D" * n_digits + "L" * n_letters)
            dep = _department(c[n_digits + n_letters:])
            if body is None or dep is None:
                continue
            fixes = body[1] + dep[1]
            if best is None or fixes < best.corrected:
                text = body[0] + dep[0]
                display = f"{body[0][:n_digits]} {body[0][n_digits:]} {dep[0]}"
                best = PlateText(display, text, "fni", fixes)
    return best


@lru_cache(maxsize=65536)  # a passage reads one plate several times; results are immutable
def normalise(raw: str) -> PlateText | None:
    """The plate a raw OCR read most likely is, or None when it cannot be a plate."""
    c = compact(raw)
    if not MIN_LENGTH <= len(c) <= MAX_LENGTH:
        return None
    if _CLEAN_SIV.fullmatch(c):  # no fix needed: nothing can beat it
        left, digits, right = c[:2], c[2:5], c[5:]
        if "SS" not in (left, right) and digits != "000":
            return PlateText(f"{left}-{digits}-{right}", c, "siv", 0)
    m = _CLEAN_FNI.fullmatch(c)
    if m and m.group(3) in _DEPARTMENTS:
        digits, letters, dep = m.groups()
        return PlateText(f"{digits} {letters} {dep}", c, "fni", 0)
    return _best_reading(c)


def _best_reading(c: str) -> PlateText:
    """The French reading of `c` with the fewest fixes, else `c` as a foreign plate."""
    candidates = [p for p in (_siv(c), _fni(c)) if p is not None
                  and p.corrected <= MAX_CORRECTIONS]
    if candidates:
        # fewest fixes first; SIV before FNI on a tie (min keeps the first of equals)
        return min(candidates, key=lambda p: p.corrected)
    return PlateText(c, c, "foreign", 0)


# ------------------------------------------------------------------------------- distances

def distance(a: str, b: str) -> float:
    """Weighted edit distance between two compact texts: look-alike substitution `NEAR`,
    other substitutions, insertions and deletions 1."""
    if a == b:
        return 0.0
    b_folded = [(cb, _FOLD.get(cb, cb)) for cb in b]
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        fa = _FOLD.get(ca, ca)
        cur = [float(i)]
        left = float(i)
        for j, (cb, fb) in enumerate(b_folded, 1):
            sub = prev[j - 1] + (0.0 if ca == cb else NEAR if fa == fb else 1.0)
            up = prev[j] + 1.0
            left = min(sub, up, left + 1.0)
            cur.append(left)
        prev = cur
    return prev[-1]


def pattern_distance(pattern: str, text: str) -> float | None:
    """How far `text` is from a wildcard pattern when only look-alikes may differ: `NEAR` per
    look-alike, 0 for an exact match, None when the text does not match even then."""
    inf = float("inf")
    # dp[j]: cost of matching the pattern so far against text[:j]
    dp = [0.0] + [inf] * len(text)
    for p in pattern:
        if p == "*":
            for j in range(1, len(dp)):
                dp[j] = min(dp[j], dp[j - 1])
            continue
        new = [inf] * len(dp)
        for j in range(1, len(dp)):
            c = text[j - 1]
            step = 0.0 if p in ("?", c) else (NEAR if near(p, c) else inf)
            new[j] = dp[j - 1] + step
        dp = new
    return None if dp[-1] == inf else dp[-1]


# ------------------------------------------------------------------------------- queries

@dataclass(frozen=True)
class Run:
    """A run of literal characters of a pattern, folded, and where it can start in a text:
    `start_min..start_max` (None: anywhere after start_min, a `*` comes before it)."""

    folded: str
    start_min: int
    start_max: int | None


@dataclass(frozen=True)
class Query:
    """A parsed search. `pattern` is compact, with `*` and `?` kept; for a whole plate it is the
    normalised compact text (`plate` says how it was read) and `typed` the compact text as
    typed: a fuzzy search measures from both, since a query with typos may fit a French format
    only by a far-fetched reading."""

    text: str
    pattern: str
    wildcard: bool
    plate: PlateText | None = None
    typed: str = ""

    @property
    def folded(self) -> str:
        return fold(self.pattern)

    @property
    def fixed_length(self) -> int | None:
        """Length every match has, or None when a `*` lets it vary."""
        return None if "*" in self.pattern else len(self.pattern)

    @property
    def prefix(self) -> str:
        """Folded literal characters every match starts with."""
        return _literal_head(self.folded)

    @property
    def suffix(self) -> str:
        """Folded literal characters every match ends with."""
        return _literal_head(self.folded[::-1])[::-1]

    def runs(self) -> list[Run]:
        """The literal runs of the pattern (folded), with where each may start."""
        out: list[Run] = []
        pos = 0
        star = False
        for m in re.finditer(r"[A-Z0-9]+|\?|\*", self.folded):
            token = m.group()
            if token == "*":
                star = True
            elif token == "?":
                pos += 1
            else:
                out.append(Run(token, pos, None if star else pos))
                pos += len(token)
        return out

    def like(self, folded: bool = False) -> str:
        """The pattern as an SQL LIKE pattern (compact texts hold no `%` or `_`)."""
        src = self.folded if folded else self.pattern
        return src.replace("*", "%").replace("?", "_")


def _literal_head(pattern: str) -> str:
    m = re.match(r"[A-Z0-9]*", pattern)
    return m.group() if m else ""


def parse_query(q: str) -> Query:
    """A search as typed: `AB-123-CD`, `ab 123 cd`, `AB-1*`, `?B-12?-C?`, `*-123-*`."""
    pattern = re.sub(r"\*+", "*", _NOT_PATTERN.sub("", q.upper()))
    literal = sum(c.isalnum() for c in pattern)
    if literal == 0:
        raise InvalidInput("Tapez des caractères de la plaque, par exemple AB-123-CD ou AB-1*.",
                           field="q")
    if "*" in pattern or "?" in pattern:
        if len(pattern.replace("*", "")) > MAX_LENGTH:
            raise InvalidInput(f"Une plaque a au plus {MAX_LENGTH} caractères.", field="q")
        return Query(q, pattern, True, None, pattern)
    plate = normalise(pattern)
    if plate is None:
        raise InvalidInput(f"Une plaque entière a {MIN_LENGTH} à {MAX_LENGTH} lettres et "
                           "chiffres ; pour une partie de plaque, utilisez * ou ?, par "
                           "exemple AB-1* ou ?B-12?-C?.", field="q")
    return Query(q, plate.compact, False, plate, pattern)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else c for c in pattern))


def matches(pattern: str, text: str) -> bool:
    """`text` matches the compact wildcard pattern exactly."""
    return _regex(pattern).fullmatch(text) is not None


# ------------------------------------------------------------------------------- voting

def vote(reads: list[tuple[str, float]]) -> tuple[str, float]:
    """The text of a vehicle from several reads (compact text, confidence 0..1).

    Reads of the most frequent length vote position by position, each weighted by its
    confidence (a tie goes to the character of the most confident read). The confidence is
    the mean read confidence times the mean, over positions, of the winning character's share
    of all the weight (reads of other lengths count against every position): identical reads
    keep their confidence; disagreement lowers it.
    """
    if not reads:
        raise ValueError("vote needs at least one read")
    by_length: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for text, conf in reads:
        by_length[len(text)].append((text, conf))
    length = max(by_length, key=lambda n: (len(by_length[n]), sum(c for _, c in by_length[n])))
    voters = sorted(by_length[length], key=lambda r: -r[1])
    total = sum(c for _, c in reads) or 1.0
    chars: list[str] = []
    shares: list[float] = []
    for pos in range(length):
        weight: dict[str, float] = {}
        for text, conf in voters:  # most confident first: dict order breaks ties
            weight[text[pos]] = weight.get(text[pos], 0.0) + conf
        best = max(weight, key=lambda ch: weight[ch])
        chars.append(best)
        shares.append(weight[best] / total)
    mean_conf = sum(c for _, c in reads) / len(reads)
    share = sum(shares) / len(shares) if shares else 0.0
    return "".join(chars), mean_conf * share
