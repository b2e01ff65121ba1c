"""Synthetic plate reads for bench/plate_search.py, written once as tab-separated files that
both databases load (PostgreSQL's COPY text format: `\\N` is NULL).

A city's traffic: a population of vehicles (85 % SIV plates whose first letter follows the
issue date, A to H since 2009; 10 % FNI; 5 % foreign, some of which read as French), drawn
with a skew (commuters pass every day, most cars a few times). Each passage is one vehicle
crossing one of `cameras` cameras at a random instant of 30 days, read 3 to 5 times 200 ms
apart; a read has, per character, a 3 % chance of a look-alike (0/D, 8/B...) and a 1 % chance
of another character, and a 1 % chance of losing a character, its confidence lowered per
error. The passages are built by the real pipeline code (`passage_from_reads`: normalise each
read, vote, normalise), and keys and trigrams by the service's own `fold` and `gram_codes`.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guetteur.domain.plates import LOOK_ALIKE_CLASSES, fold
from guetteur.services.plate_keys import gram_codes
from guetteur.services.plate_search import ReadRow, passage_from_reads

DAY_US = 86_400_000_000
SIV_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
DEPARTMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B", "971", "974"]
_LOOK = {c: [x for x in cls if x != c] for cls in LOOK_ALIKE_CLASSES for c in cls}


@dataclass
class Generated:
    reads: int
    passages: int
    keys: int
    grams: int
    distinct_plates: int
    seconds: float


def siv(rng: random.Random) -> str:
    right = "SS"
    while right == "SS":
        right = rng.choice(SIV_LETTERS) + rng.choice(SIV_LETTERS)
    return f"{rng.choice('ABCDEFGH')}{rng.choice(SIV_LETTERS)}{rng.randint(1, 999):03d}{right}"


def fni(rng: random.Random) -> str:
    letters = "".join(rng.choice(SIV_LETTERS) for _ in range(rng.choice((1, 2, 2, 3, 3, 3))))
    return f"{rng.randint(1, 9999)}{letters}{rng.choice(DEPARTMENTS)}"


def foreign(rng: random.Random) -> str:
    up = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def pick(chars: str, n: int) -> str:
        return "".join(rng.choice(chars) for _ in range(n))

    return rng.choice([
        lambda: pick(up, rng.randint(1, 3)) + pick(up, 2) + str(rng.randint(1, 9999)),  # DE
        lambda: f"{rng.randint(1, 2)}{pick(up, 3)}{rng.randint(0, 999):03d}",           # BE
        lambda: f"{rng.randint(0, 9999):04d}{pick('BCDFGHJKLMNPRSTVWXYZ', 3)}",         # ES
        lambda: pick(up, 2) + f"{rng.randint(0, 99):02d}" + pick(up, 3),                # UK
        lambda: pick("ABFGLNSTUVZ", 2) + str(rng.randint(1, 999999)),                   # CH
    ])()


def misread(rng: random.Random, text: str) -> tuple[str, int]:
    chars = list(text)
    errors = 0
    for i, c in enumerate(chars):
        r = rng.random()
        if r < 0.03 and c in _LOOK:
            chars[i] = rng.choice(_LOOK[c])
            errors += 1
        elif r < 0.04:
            chars[i] = rng.choice(ALNUM)
            errors += chars[i] != c
    if rng.random() < 0.01:
        del chars[rng.randrange(len(chars))]
        errors += 1
    return "".join(chars), errors


def generate(out: Path, n_reads: int, cameras: int, base_us: int, seed: int) -> Generated:
    """Write keys.tsv, grams.tsv, passages.tsv, reads.tsv under `out`."""
    import time

    t0 = time.perf_counter()
    rng = random.Random(seed)
    n_vehicles = max(100, n_reads // 12)  # ~4 reads a passage, ~3 passages a vehicle
    makers = [siv] * 85 + [fni] * 10 + [foreign] * 5
    vehicles = [rng.choice(makers)(rng) for _ in range(n_vehicles)]
    keys: dict[str, int] = {}
    grams: list[int] = []
    seen: set[int] = set()
    passage_id = read_id = 0
    with (out / "keys.tsv").open("w") as fk, (out / "passages.tsv").open("w") as fp, \
            (out / "reads.tsv").open("w") as fr:
        while read_id < n_reads:
            vehicle = int(n_vehicles * rng.random() ** 2)
            seen.add(vehicle)
            camera = rng.randint(1, cameras)
            first = base_us + rng.randrange(30 * DAY_US)
            reads = []
            for k in range(min(rng.randint(3, 5), n_reads - read_id)):
                text, errors = misread(rng, vehicles[vehicle])
                conf = max(0.3, rng.uniform(0.75, 0.99) - 0.15 * errors)
                reads.append(ReadRow(first + k * 200_000, text, round(conf, 3)))
            row = passage_from_reads(camera, reads)
            if row is None:
                continue
            passage_id += 1
            folded = fold(row.plate.compact)
            key = keys.get(folded)
            if key is None:
                key = keys[folded] = len(keys) + 1
                fk.write(f"{key}\t{folded}\t{folded[::-1]}\n")
                grams += [(code << 32) | key for code in gram_codes(folded)]
            fp.write(f"{passage_id}\t{key}\t{camera}\t{row.first_utc_us}\t{row.last_utc_us}\t"
                     f"{row.plate.display}\t{row.plate.compact}\t{row.plate.kind}\t"
                     f"{row.confidence:.4f}\t{len(row.reads)}\t\\N\t\\N\t\\N\n")
            for r in row.reads:
                read_id += 1
                fr.write(f"{read_id}\t{passage_id}\t{camera}\t{r.at_utc_us}\t{r.text}\t"
                         f"{r.confidence}\n")  # misread() gives compact text already
    ordered = np.sort(np.array(grams, dtype=np.int64))
    with (out / "grams.tsv").open("w") as fg:
        for chunk in np.array_split(ordered, max(1, len(ordered) // 1_000_000)):
            fg.write("".join(f"{v >> 32}\t{v & 0xFFFFFFFF}\n" for v in chunk.tolist()))
    gen = Generated(read_id, passage_id, len(keys), len(ordered), len(seen),
                    time.perf_counter() - t0)
    (out / "generated.json").write_text(json.dumps(
        {"args": [n_reads, cameras, base_us, seed], **dataclasses.asdict(gen)}))
    return gen


def reuse(data: Path, n_reads: int, cameras: int, seed: int) -> tuple[Generated, int] | None:
    """(what a previous run generated under `data`, its base_us) when it matches."""
    try:
        meta = json.loads((data / "generated.json").read_text())
    except (OSError, ValueError):
        return None
    n, cams, base_us, s = meta.pop("args")
    if (n, cams, s) != (n_reads, cameras, seed):
        return None
    return Generated(**meta), base_us
