"""Playback tokens: proof that a segment request belongs to an audited playback session.

The HLS playlist request is decided and audited (one `playback` event); the playlist's
segment addresses carry a token `v1.<user>.<camera>.<stream>.<from_us>.<to_us>.<event>.<exp_s>
.<mac>` where `mac` is an HMAC-SHA-256 (first 16 bytes, base64url) over those fields and the
case reference given with the playlist, keyed with a key derived from the server's secret key.
A segment request whose token is valid — signature, same user, the segment's camera and stream,
the segment overlapping the span, not expired, same case reference — is covered by that event
and writes none of its own; the route still re-runs the full decision, since rights can be
revoked during a session. Anything else is "no valid token" and is audited on its own.

Pure: no I/O, no clock (the caller passes the instant).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

VERSION = "v1"
_MAC_BYTES = 16


@dataclass(frozen=True)
class PlaybackClaims:
    user_id: int
    camera_id: int
    stream: str
    from_utc_us: int
    to_utc_us: int
    event_id: int
    expires_utc_s: int


def _mac(key: bytes, fields: list[str], reason: str | None) -> str:
    message = "|".join([*fields, reason or ""]).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _fields(c: PlaybackClaims) -> list[str]:
    return [VERSION, str(c.user_id), str(c.camera_id), c.stream, str(c.from_utc_us),
            str(c.to_utc_us), str(c.event_id), str(c.expires_utc_s)]


def sign(key: bytes, claims: PlaybackClaims, reason: str | None) -> str:
    fields = _fields(claims)
    return ".".join([*fields, _mac(key, fields, reason)])


def verify(key: bytes, token: str, reason: str | None) -> PlaybackClaims | str:
    """The claims of an authentic token, or why it is not one ("bad signature"...)."""
    parts = token.split(".")
    if len(parts) != 9 or parts[0] != VERSION:
        return "malformed token"
    fields, mac = parts[:8], parts[8]
    if not hmac.compare_digest(mac, _mac(key, fields, reason)):
        return "bad signature"
    try:
        user, camera, from_us, to_us, event, exp = (int(x) for x in (
            fields[1], fields[2], fields[4], fields[5], fields[6], fields[7]))
    except ValueError:
        return "malformed token"
    return PlaybackClaims(user, camera, fields[3], from_us, to_us, event, exp)


def rejection(claims: PlaybackClaims, *, user_id: int, camera_id: int, stream: str,
              start_utc_us: int, end_utc_us: int, now_utc_us: int) -> str | None:
    """Why these authentic claims do not cover this segment request (None: they do)."""
    if claims.user_id != user_id:
        return "token of another user"
    if claims.camera_id != camera_id or claims.stream != stream:
        return "token of another camera"
    if not (start_utc_us < claims.to_utc_us and end_utc_us > claims.from_utc_us):
        return "segment outside the token's span"
    if now_utc_us >= claims.expires_utc_s * 1_000_000:
        return "token expired"
    return None
