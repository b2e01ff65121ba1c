"""Process settings: unknown settings are refused (extra="forbid"), production refuses
placeholder secrets, and the defaults put the database and segments under DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from guetteur.settings import Settings, load_settings

GOOD_SECRET = "k" * 16 + "0123456789abcdef"  # 32 characters


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read GUETTEUR_* variables: tests must not see the developer's."""
    import os

    for name in list(os.environ):
        if name.startswith("GUETTEUR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ./var/guetteur.env picked up by load_settings


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="bogus"):
        Settings(_env_file=None, bogus=1)  # type: ignore[call-arg]


def test_an_unknown_variable_in_the_env_file_is_refused(tmp_path: Path) -> None:
    env = tmp_path / "guetteur.env"
    env.write_text("GUETTEUR_DATA_DIR=/srv/guetteur\nGUETTEUR_SEGMENT_DURATON_S=10\n")
    with pytest.raises(ValidationError, match="segment_duraton_s"):
        Settings(_env_file=env)  # type: ignore[call-arg]


def test_env_file_and_environment_are_read(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "guetteur.env"
    env.write_text("GUETTEUR_SEGMENT_DURATION_S=10\nGUETTEUR_NODE_NAME=from-file\n")
    monkeypatch.setenv("GUETTEUR_NODE_NAME", "from-env")
    s = load_settings(env)
    assert s.segment_duration_s == 10
    assert s.node_name == "from-env"


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "absent.env")


@pytest.mark.parametrize("secret", ["", "changeme", "CHANGEME", "  secret  ", "dev",
                                    "placeholder"])
def test_production_refuses_a_placeholder_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="GUETTEUR_SECRET_KEY"):
        Settings(_env_file=None, mode="production", secret_key=secret)  # type: ignore[call-arg]


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(_env_file=None, mode="production",  # type: ignore[call-arg]
                 secret_key=GOOD_SECRET[:31])


def test_production_accepts_a_long_random_secret(tmp_path: Path) -> None:
    s = Settings(_env_file=None, mode="production", secret_key=GOOD_SECRET,  # type: ignore[call-arg]
                 data_dir=tmp_path / "var", audit_key_file=tmp_path / "etc" / "audit.pem",
                 audit_anchor_dir=tmp_path / "anchor")
    assert s.mode == "production"


@pytest.mark.parametrize("inside", ["default", "key-inside", "anchor-inside", "anchor-is-data"])
def test_production_refuses_the_audit_key_or_anchor_inside_the_data_dir(
        tmp_path: Path, inside: str) -> None:
    """Whoever holds the data directory must not hold what signs and keys the audit trail."""
    data = tmp_path / "var"
    paths = {"audit_key_file": tmp_path / "etc" / "audit.pem",
             "audit_anchor_dir": tmp_path / "anchor"}
    if inside == "default":
        paths = {}
    elif inside == "key-inside":
        paths["audit_key_file"] = data / "secrets" / "audit.pem"
    elif inside == "anchor-inside":
        paths["audit_anchor_dir"] = data / ".." / "var" / "ancrage"  # resolved, still inside
    else:
        paths["audit_anchor_dir"] = data
    name = ("GUETTEUR_AUDIT_ANCHOR_DIR" if inside.startswith("anchor")
            else "GUETTEUR_AUDIT_KEY_FILE")
    with pytest.raises(ValidationError, match=f"{name} .* est dans le dossier de données"):
        Settings(_env_file=None, mode="production", secret_key=GOOD_SECRET,  # type: ignore[call-arg]
                 data_dir=data, **paths)
    # development keeps working with everything under DATA_DIR (the demo's single command)
    dev = Settings(_env_file=None, data_dir=data, **paths)  # type: ignore[call-arg]
    assert dev.audit_key_path.is_relative_to(tmp_path)


def test_development_tolerates_an_empty_secret() -> None:
    assert Settings(_env_file=None).secret_key == ""  # type: ignore[call-arg]


def test_db_url_defaults_to_sqlite_under_data_dir(tmp_path: Path) -> None:
    s = Settings(_env_file=None, data_dir=tmp_path / "var")  # type: ignore[call-arg]
    assert s.db_url == f"sqlite:///{(tmp_path / 'var' / 'guetteur.db').resolve()}"
    assert s.segments_dir == (tmp_path / "var" / "segments").resolve()


def test_relative_data_dir_is_resolved_to_an_absolute_path(tmp_path: Path) -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'guetteur.db'}"


def test_an_explicit_database_url_wins_and_is_stripped() -> None:
    url = "postgresql://guetteur@127.0.0.1:5432/guetteur"
    s = Settings(_env_file=None, database_url=f"  {url} ")  # type: ignore[call-arg]
    assert s.db_url == url


@pytest.mark.parametrize(("field", "value"), [("http_port", 0), ("http_port", 70000),
                                              ("segment_duration_s", 1),
                                              ("session_idle_s", 0), ("mode", "prod")])
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]


def test_every_setting_is_described() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_a_misspelt_guetteur_variable_is_refused() -> None:
    from guetteur.settings import check_environment

    with pytest.raises(ValueError, match="GUETTEUR_DATABSE_URL"):
        check_environment({"GUETTEUR_DATABSE_URL": "postgresql://x"})
    check_environment({"GUETTEUR_DATABASE_URL": "x", "GUETTEUR_TEST_PG": "y",
                       "GUETTEUR_SIM_CACHE_DIR": "z", "GUETTEUR_CONFIG": "c"})


def test_cookies_are_secure_in_production_unless_a_lab_opts_out(tmp_path: Path) -> None:
    outside = {"audit_key_file": tmp_path / "etc" / "audit.pem",
               "audit_anchor_dir": tmp_path / "anchor"}

    def secure(**values: object) -> bool:
        return Settings(_env_file=None, **outside, **values).cookie_secure  # type: ignore[call-arg]

    assert not secure()
    assert secure(secure_cookies=True)
    assert secure(mode="production", secret_key=GOOD_SECRET)
    assert secure(mode="production", secret_key=GOOD_SECRET, secure_cookies=False)
    assert not secure(mode="production", secret_key=GOOD_SECRET, lab_plain_http=True)
    assert secure(mode="production", secret_key=GOOD_SECRET, lab_plain_http=True,
                  secure_cookies=True)


def test_request_bodies_are_capped_at_one_megabyte_by_default() -> None:
    assert Settings(_env_file=None).max_body_bytes == 1 << 20  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, max_body_bytes=10)  # type: ignore[call-arg]
