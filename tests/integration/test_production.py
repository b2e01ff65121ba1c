"""Production mode refuses to start on placeholder secrets: key, missing or weak admin."""

from __future__ import annotations

from typing import Any

import pytest

from guetteur.bootstrap import check_production
from guetteur.domain.errors import GuetteurError

STRONG_KEY = "k" * 40


@pytest.fixture
def outside(tmp_path: Any) -> dict[str, Any]:
    """Production places the audit key and the anchor outside the data directory."""
    return {"audit_key_file": tmp_path / "etc" / "audit-ed25519.pem",
            "audit_anchor_dir": tmp_path / "ancrage"}


def test_production_refuses_without_an_administrator(sqlite_url: str, make_container: Any,
                                                     outside: dict[str, Any]) -> None:
    c = make_container(sqlite_url, mode="production", secret_key=STRONG_KEY, **outside)
    with pytest.raises(GuetteurError, match="no enabled administrator"):
        check_production(c)


def test_production_refuses_a_placeholder_admin_password(sqlite_url: str, make_container: Any,
                                                         outside: dict[str, Any]) -> None:
    c = make_container(sqlite_url, mode="production", secret_key=STRONG_KEY, **outside)
    c.accounts.add_user("chef", "123456789012", "admin")
    with pytest.raises(GuetteurError, match="chef"):
        check_production(c)
    c.accounts.set_password("chef", "a-long-and-private-passphrase")
    check_production(c)  # now fine


def test_the_serve_command_refuses_to_start(tmp_path: Any, outside: dict[str, Any]) -> None:
    from support import ServerProcess

    server = ServerProcess(tmp_path / "var", mode="production", secret_key=STRONG_KEY,
                           **outside)
    res = server.cli("serve")
    assert res.returncode == 1
    assert "no enabled administrator" in res.stderr


def test_the_serve_command_refuses_the_audit_key_in_the_data_dir(tmp_path: Any) -> None:
    from support import ServerProcess

    server = ServerProcess(tmp_path / "var", mode="production", secret_key=STRONG_KEY)
    res = server.cli("serve")
    assert res.returncode == 1
    assert "GUETTEUR_AUDIT_KEY_FILE" in res.stderr and "dossier de données" in res.stderr
    assert not (tmp_path / "var" / "keys" / "audit-ed25519.pem").exists()
