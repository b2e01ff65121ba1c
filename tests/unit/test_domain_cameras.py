"""Camera registration rules (`validate_spec`): URLs, credentials kept out of URLs, owner,
coordinates, retention and names."""

from __future__ import annotations

import pytest

from guetteur.domain.cameras import (
    CameraSpec,
    Credentials,
    check_name,
    redact_urls,
    split_rtsp_url,
    validate_spec,
    with_credentials,
)
from guetteur.domain.errors import InvalidInput

URL = "rtsp://192.0.2.10:554/stream1"


def spec(**changes: object) -> CameraSpec:
    values: dict[str, object] = {"name": "Place de la Mairie", "main_url": URL}
    values.update(changes)
    return CameraSpec(**values)  # type: ignore[arg-type]


def invalid(field: str, **changes: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        validate_spec(spec(**changes))
    assert err.value.field == field, err.value.message
    return err.value


def test_a_plain_spec_is_accepted_unchanged() -> None:
    clean = validate_spec(spec())
    assert clean.main_url == URL
    assert clean.credentials is None
    assert clean.owner == "city"
    assert clean.retention_days == 30


@pytest.mark.parametrize("url", [
    "http://192.0.2.10/stream", "https://cam.example/live", "rtmp://192.0.2.10/app",
    "file:///etc/passwd", "192.0.2.10:554/stream1", "", "rtsp//192.0.2.10/x",
])
def test_only_rtsp_and_rtsps_schemes_are_accepted(url: str) -> None:
    err = invalid("main_url", main_url=url)
    assert "rtsp://" in err.message


@pytest.mark.parametrize("url", ["rtsp:///stream1", "rtsp://", "rtsp://:554/x",
                                 "rtsp://192.0.2.10/a b"])
def test_an_url_without_host_or_with_spaces_is_refused(url: str) -> None:
    invalid("main_url", main_url=url)


def test_a_bad_port_is_refused_not_crashing() -> None:
    invalid("main_url", main_url="rtsp://192.0.2.10:99999/x")


def test_sub_url_is_validated_under_its_own_field() -> None:
    invalid("sub_url", sub_url="http://192.0.2.10/sub")


def test_rtsps_and_ipv6_hosts_are_accepted() -> None:
    clean = validate_spec(spec(main_url="rtsps://[2001:db8::1]:322/s", sub_url="rtsp://h/sub"))
    assert clean.main_url == "rtsps://[2001:db8::1]:322/s"
    assert clean.sub_url == "rtsp://h/sub"


def test_credentials_typed_in_the_url_are_taken_out_of_it() -> None:
    clean = validate_spec(spec(main_url="rtsp://admin:s3cr%40t@192.0.2.10:554/stream1?ch=1"))
    assert clean.main_url == "rtsp://192.0.2.10:554/stream1?ch=1"
    assert clean.credentials == Credentials("admin", "s3cr@t")
    assert "s3cr" not in clean.main_url and "admin" not in clean.main_url


def test_credentials_in_the_sub_url_are_taken_out_too() -> None:
    clean = validate_spec(spec(sub_url="rtsp://op:pw-sub@192.0.2.10/sub"))
    assert clean.sub_url == "rtsp://192.0.2.10/sub"
    assert clean.credentials == Credentials("op", "pw-sub")


def test_explicit_credentials_win_over_the_ones_in_the_url() -> None:
    given = Credentials("viewer", "given-pw")
    clean = validate_spec(spec(main_url="rtsp://admin:url-pw@192.0.2.10/s", credentials=given))
    assert clean.credentials == given
    assert "url-pw" not in clean.main_url


def test_with_credentials_round_trips_special_characters() -> None:
    creds = Credentials("ad min", "p@ss:w/rd")
    url = with_credentials("rtsp://192.0.2.10:554/s", creds)
    assert split_rtsp_url(url, "main_url") == ("rtsp://192.0.2.10:554/s", creds)
    assert with_credentials(URL, None) == URL


def test_credentials_repr_never_shows_the_password() -> None:
    assert "hunter2" not in repr(Credentials("admin", "hunter2"))


def test_redact_urls_removes_userinfo_from_every_url_in_a_text() -> None:
    text = ("rtsp://admin:hunter2@192.0.2.10:554/a: 401 Unauthorized; retry "
            "rtsps://u:p%40ss@cam.example/b and rtsp://192.0.2.11/c")
    redacted = redact_urls(text)
    assert "hunter2" not in redacted and "p%40ss" not in redacted and "admin" not in redacted
    assert "rtsp://***@192.0.2.10:554/a" in redacted
    assert "rtsps://***@cam.example/b" in redacted
    assert "rtsp://192.0.2.11/c" in redacted


@pytest.mark.parametrize(("lat", "lon", "field"), [
    (90.1, 2.0, "latitude"), (-90.5, 2.0, "latitude"),
    (48.8, 180.5, "longitude"), (48.8, -181.0, "longitude"),
])
def test_coordinates_out_of_range_are_refused(lat: float, lon: float, field: str) -> None:
    invalid(field, latitude=lat, longitude=lon)


@pytest.mark.parametrize(("lat", "lon"), [(48.85, None), (None, 2.35)])
def test_latitude_and_longitude_go_together(lat: float | None, lon: float | None) -> None:
    err = invalid("latitude", latitude=lat, longitude=lon)
    assert "ensemble" in err.message


def test_coordinates_at_the_limits_are_accepted() -> None:
    clean = validate_spec(spec(latitude=-90.0, longitude=180.0))
    assert (clean.latitude, clean.longitude) == (-90.0, 180.0)


@pytest.mark.parametrize("days", [0, 31])
def test_retention_outside_1_to_30_is_refused(days: int) -> None:
    err = invalid("retention_days", retention_days=days)
    assert "30 jours" in err.message


def test_retention_of_31_days_mentions_the_law() -> None:
    err = invalid("retention_days", retention_days=31)
    assert "31 jours refusée" in err.message and "CSI L252-5" in err.message


@pytest.mark.parametrize("name", ["A", "Cam-01", "Place de l.Église_2", "x" * 64, "  Gare  "])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name.strip()


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "-cam", ".cam", "cam/1", "cam;drop",
                                  "caméra\n2", "a\tb"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_name(name)
    assert err.value.field == "name"


def test_owner_site_and_purposes_are_cleaned() -> None:
    clean = validate_spec(spec(owner="  Habitat 77 ", site="   ", purposes=(" voirie ", "", " ")))
    assert clean.owner == "Habitat 77"
    assert clean.site is None
    assert clean.purposes == ("voirie",)


def test_blank_owner_means_the_city() -> None:
    assert validate_spec(spec(owner="")).owner == "city"


def test_a_whitespace_only_owner_is_refused() -> None:
    invalid("owner", owner="   ")


@pytest.mark.parametrize("url", ["rtsp://admin:hunter2@192.0.2.10:99999/s",
                                 "http://admin:hunter2@192.0.2.10:99999/s"])
def test_an_error_about_an_url_never_echoes_its_password(url: str) -> None:
    err = invalid("main_url", main_url=url)
    assert "hunter2" not in err.message
    assert "192.0.2.10:99999" in err.message  # still says which URL is wrong
