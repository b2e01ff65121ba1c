"""Role parsing (decision 0011)."""

from __future__ import annotations

import pytest

from guetteur.domain.errors import InvalidInput
from guetteur.roles import ALL, format_roles, parse_roles, refuse_cluster_on_sqlite


def test_parse_roles() -> None:
    assert parse_roles("all") == ALL
    assert parse_roles([]) == ALL
    assert parse_roles("web") == {"web"}
    assert parse_roles(["web,worker"]) == {"web", "worker"}
    assert parse_roles(["worker", "Web"]) == {"web", "worker"}
    assert parse_roles(["web", "all"]) == ALL
    assert format_roles(parse_roles("worker,recorder")) == "recorder,worker"


def test_unknown_role_is_refused_in_french() -> None:
    with pytest.raises(InvalidInput, match="Rôle inconnu : cuisine"):
        parse_roles("web,cuisine")


def test_sqlite_refuses_a_cluster_role() -> None:
    refuse_cluster_on_sqlite(ALL, "sqlite:///x.db")
    refuse_cluster_on_sqlite(frozenset({"web"}), "postgresql://h/db")
    with pytest.raises(InvalidInput, match="SQLite ne sert qu'à un nœud unique"):
        refuse_cluster_on_sqlite(frozenset({"recorder"}), "sqlite:///x.db")
