"""Playback tokens: a token covers a segment request only when authentic (signature, case
reference) and for this user, camera, stream, time span and before its expiry."""

from __future__ import annotations

import dataclasses

import pytest

from guetteur.domain.playback_token import PlaybackClaims, rejection, sign, verify

KEY = b"k" * 32
S = 1_000_000
T0 = 1_795_638_600 * S
CLAIMS = PlaybackClaims(user_id=7, camera_id=3, stream="main", from_utc_us=T0,
                        to_utc_us=T0 + 3600 * S, event_id=42, expires_utc_s=T0 // S + 600)


def covers(claims: PlaybackClaims, **over: int | str) -> str | None:
    asked: dict[str, int | str] = {"user_id": 7, "camera_id": 3, "stream": "main",
                                   "start_utc_us": T0 + 10 * S, "end_utc_us": T0 + 20 * S,
                                   "now_utc_us": T0 + 60 * S}
    asked.update(over)
    return rejection(claims, **asked)  # type: ignore[arg-type]


def test_a_signed_token_verifies_to_its_claims() -> None:
    token = sign(KEY, CLAIMS, "PV 2026/123")
    assert verify(KEY, token, "PV 2026/123") == CLAIMS
    assert covers(CLAIMS) is None
    assert len(token) < 120  # it is repeated twice per segment in a playlist


def test_another_key_or_case_reference_is_a_bad_signature() -> None:
    token = sign(KEY, CLAIMS, "PV 1")
    assert verify(b"x" * 32, token, "PV 1") == "bad signature"
    assert verify(KEY, token, "PV 2") == "bad signature"
    assert verify(KEY, token, None) == "bad signature"
    assert verify(KEY, sign(KEY, CLAIMS, None), None) == CLAIMS


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(PlaybackClaims)])
def test_changing_any_field_breaks_the_signature(field: str) -> None:
    token = sign(KEY, CLAIMS, None).split(".")
    index = 1 + [f.name for f in dataclasses.fields(PlaybackClaims)].index(field)
    token[index] = "sub" if field == "stream" else str(int(token[index]) + 1)
    assert verify(KEY, ".".join(token), None) == "bad signature"


@pytest.mark.parametrize("token", ["", "v1", "v2.7.3.main.1.2.3.4.mac", "a.b.c.d.e.f.g.h.i",
                                   "v1.7.3.main.1.2.3.4.5.6", "v1..........."])
def test_garbage_is_refused_without_raising(token: str) -> None:
    assert verify(KEY, token, None) in ("malformed token", "bad signature")


def test_a_non_numeric_field_with_a_valid_mac_is_malformed() -> None:
    bad = dataclasses.replace(CLAIMS)
    token = sign(KEY, bad, None).split(".")
    token[1] = "x"
    from guetteur.domain.playback_token import _mac

    token[8] = _mac(KEY, token[:8], None)
    assert verify(KEY, ".".join(token), None) == "malformed token"


def test_a_token_covers_only_its_user_camera_stream_span_and_lifetime() -> None:
    assert covers(CLAIMS, user_id=8) == "token of another user"
    assert covers(CLAIMS, camera_id=4) == "token of another camera"
    assert covers(CLAIMS, stream="sub") == "token of another camera"
    assert covers(CLAIMS, start_utc_us=T0 + 3600 * S, end_utc_us=T0 + 3610 * S) == (
        "segment outside the token's span")
    assert covers(CLAIMS, start_utc_us=T0 - 20 * S, end_utc_us=T0) == (
        "segment outside the token's span")
    # a segment straddling either end belongs to the playlist that listed it
    assert covers(CLAIMS, start_utc_us=T0 - 5 * S, end_utc_us=T0 + 5 * S) is None
    assert covers(CLAIMS, start_utc_us=T0 + 3595 * S, end_utc_us=T0 + 3605 * S) is None
    assert covers(CLAIMS, now_utc_us=(T0 // S + 600) * S) == "token expired"
    assert covers(CLAIMS, now_utc_us=(T0 // S + 599) * S) is None
