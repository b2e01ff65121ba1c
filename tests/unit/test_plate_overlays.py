"""Texts burnt into the picture (a camera's name, a sign) are not plates: drop_overlays."""

from __future__ import annotations

from guetteur.adapters.plates.analyse import Read, drop_overlays

S = 1_000_000


def read(t_s: float, text: str, box: tuple[int, int, int, int]) -> Read:
    return Read(round(t_s * S), text, 0.95, box)


def test_a_text_read_at_the_same_place_again_and_again_is_dropped() -> None:
    osd = [read(t, "CAM-01", (40, 30, 180, 40)) for t in (0, 6, 14, 30)]
    car = [read(20, "AB-123-CD", (700, 600, 120, 30)), read(22, "AB-123-CD", (900, 610, 140, 32))]
    assert drop_overlays(osd + car) == car


def test_a_vehicle_stopped_at_a_light_keeps_the_reads_of_its_approach() -> None:
    approach = [read(0, "AB-123-CD", (300, 500, 80, 20)), read(2, "AB 123 CD", (500, 550, 110, 28))]
    stopped = [read(t, "AB-123-CD", (700, 600, 130, 32)) for t in (4, 10, 16)]
    kept = drop_overlays(approach + stopped)
    assert kept == approach


def test_few_or_brief_repeats_are_kept() -> None:
    twice = [read(0, "EF-456-GH", (10, 10, 100, 30)), read(30, "EF-456-GH", (10, 10, 100, 30))]
    brief = [read(t, "JK-789-LM", (50, 50, 100, 30)) for t in (0, 2, 4)]  # 4 s: a slow car
    moved = [read(t, "NP-012-QR", (100 * t, 50, 100, 30)) for t in (0, 6, 12)]
    assert drop_overlays(twice + brief + moved) == twice + brief + moved
