"""Cameras: the rules a camera's registration must satisfy.

Invariants enforced here (and nowhere else re-decided):
- a name is 1-64 characters of letters, digits, space, `-`, `_`, `.`; unique (checked by the
  registry, since it needs the database);
- stream URLs are `rtsp://` or `rtsps://` with a host; credentials typed inside a URL are taken
  out of it and kept apart, so a stored or displayed URL never carries a password;
- the owner is `city` or the name of a landlord partner under convention;
- latitude in [-90, 90], longitude in [-180, 180], both or neither;
- retention 1 to 30 days (see `retention.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from guetteur.domain.errors import InvalidInput
from guetteur.domain.retention import check_retention_days

CITY_OWNER = "city"
StreamKind = Literal["main", "sub"]
STREAM_KINDS: tuple[StreamKind, ...] = ("main", "sub")
_NAME_RE = re.compile(r"^[\w][\w .\-]{0,63}$", re.UNICODE)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print a password, even in a traceback
        return f"Credentials(username={self.username!r}, password='***')"


@dataclass(frozen=True)
class CameraSpec:
    """What a user registers for a camera; validated by `validate_spec`."""

    name: str
    main_url: str
    sub_url: str | None = None
    credentials: Credentials | None = None
    owner: str = CITY_OWNER
    site: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    purposes: tuple[str, ...] = field(default_factory=tuple)
    authorisation_ref: str | None = None
    authorisation_expiry: date | None = None
    retention_days: int = 30
    enabled: bool = True


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not _NAME_RE.match(cleaned):
        raise InvalidInput(
            f"Nom de caméra « {name} » invalide : 1 à 64 caractères, lettres, chiffres, espace, "
            "tiret, point ou souligné, commençant par une lettre ou un chiffre.",
            "name",
        )
    return cleaned


def split_rtsp_url(url: str, field_name: str) -> tuple[str, Credentials | None]:
    """Validate an RTSP URL; return it without credentials, and the credentials it held."""
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        shown = re.sub(r"//[^/@\s]*@", "//***@", raw)  # the message must not echo a password
        raise InvalidInput(f"{field_name} : « {shown} » n'est pas une URL valide.",
                           field_name) from None
    if parts.scheme not in ("rtsp", "rtsps"):
        raise InvalidInput(
            f"{field_name} : l'URL doit commencer par rtsp:// ou rtsps:// "
            "(exemple : rtsp://192.0.2.10:554/stream1).",
            field_name,
        )
    if not parts.hostname or any(c.isspace() for c in raw):
        raise InvalidInput(f"{field_name} : l'URL doit contenir une adresse de caméra "
                           "sans espace.", field_name)
    creds = None
    if parts.username is not None:
        creds = Credentials(unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), creds


def with_credentials(url: str, creds: Credentials | None) -> str:
    """The URL a recorder connects to. Never store, return or log its result."""
    if creds is None:
        return url
    parts = urlsplit(url)
    userinfo = quote(creds.username, safe="") + ":" + quote(creds.password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, ""))


def redact_urls(text: str) -> str:
    """Remove `user:password@` from any URL in a text (ffmpeg error lines, exceptions)."""
    return re.sub(r"(rtsps?://)[^/@\s]*@", r"\1***@", text)


def validate_spec(spec: CameraSpec) -> CameraSpec:
    """Return the spec cleaned (URLs without credentials) or raise InvalidInput."""
    name = check_name(spec.name)
    main_url, main_creds = split_rtsp_url(spec.main_url, "main_url")
    sub_url, sub_creds = (None, None)
    if spec.sub_url:
        sub_url, sub_creds = split_rtsp_url(spec.sub_url, "sub_url")
    creds = spec.credentials or main_creds or sub_creds
    if (spec.latitude is None) != (spec.longitude is None):
        raise InvalidInput("Donnez la latitude et la longitude ensemble, ou aucune.", "latitude")
    if spec.latitude is not None and not -90.0 <= spec.latitude <= 90.0:
        raise InvalidInput(f"Latitude {spec.latitude} hors de [-90, 90].", "latitude")
    if spec.longitude is not None and not -180.0 <= spec.longitude <= 180.0:
        raise InvalidInput(f"Longitude {spec.longitude} hors de [-180, 180].", "longitude")
    owner = (spec.owner or CITY_OWNER).strip()
    if not owner:
        raise InvalidInput("Le propriétaire est « city » ou le nom d'un bailleur partenaire.",
                           "owner")
    purposes = tuple(p.strip() for p in spec.purposes if p.strip())
    return replace(
        spec,
        name=name,
        main_url=main_url,
        sub_url=sub_url,
        credentials=creds,
        owner=owner,
        site=(spec.site or "").strip() or None,
        purposes=purposes,
        retention_days=check_retention_days(spec.retention_days),
    )
