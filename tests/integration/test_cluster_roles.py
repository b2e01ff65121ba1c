"""Nodes with roles on one PostgreSQL database (decision 0011): registry, routes, drain."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tests.support import ServerProcess


@pytest.fixture
def pg_url(pg_db_url: str) -> str:
    return pg_db_url


def test_web_and_worker_nodes_share_postgresql(pg_url: str, tmp_path: Path) -> None:
    web = ServerProcess(tmp_path / "web", database_url=pg_url, roles="web", node_name="web-1",
                        node_heartbeat_s=1)
    work = ServerProcess(tmp_path / "work", database_url=pg_url, roles="worker",
                         node_name="work-1", node_heartbeat_s=1)
    web.start()
    try:
        work.start()
        try:
            assert httpx.get(web.base_url + "/login", timeout=5).status_code == 200
            assert httpx.get(work.base_url + "/login", timeout=5).status_code == 404
            assert httpx.get(work.base_url + "/api/cameras", timeout=5).status_code == 404
            listed = web.cli("node", "list", "--json")
            assert listed.returncode == 0, listed.stderr
            nodes = {n["name"]: n for n in json.loads(listed.stdout)}
            assert set(nodes) == {"web-1", "work-1"}
            assert nodes["web-1"]["roles"] == "web" and nodes["work-1"]["roles"] == "worker"
            assert all(n["age_s"] < 5 and not n["stopped"] for n in nodes.values())
            assert "cpu_pct" in nodes["work-1"]["stats"]
            table = web.cli("node", "list").stdout
            assert "dernier signe de vie" in table and "work-1" in table

            assert web.cli("node", "drain", "work-1").returncode == 0
            nodes = {n["name"]: n for n in json.loads(web.cli("node", "list", "--json").stdout)}
            assert nodes["work-1"]["draining"] and not nodes["web-1"]["draining"]
            assert web.cli("node", "resume", "work-1").returncode == 0
            nodes = {n["name"]: n for n in json.loads(web.cli("node", "list", "--json").stdout)}
            assert not nodes["work-1"]["draining"]
            unknown = web.cli("node", "drain", "nulle-part")
            assert unknown.returncode == 1 and "Nœud inconnu" in unknown.stderr
        finally:
            work.stop()
    finally:
        web.stop()
    nodes = {n["name"]: n for n in json.loads(web.cli("node", "list", "--json").stdout)}
    assert nodes["web-1"]["stopped"] and nodes["work-1"]["stopped"]


def test_sqlite_refuses_a_recorder_only_node(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "var", roles="recorder")
    result = server.cli("serve", "--role", "recorder")
    assert result.returncode == 1
    assert "SQLite ne sert qu'à un nœud unique" in result.stderr
    bad = server.cli("serve", "--role", "cuisine")
    assert bad.returncode == 1 and "Rôle inconnu" in bad.stderr


def test_sqlite_refuses_a_second_live_node(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path / "var", node_name="a", node_heartbeat_s=1).start()
    try:
        second = ServerProcess(tmp_path / "var", node_name="b")
        result = second.cli("serve")
        assert result.returncode == 1, result.stderr
        assert "fonctionne déjà sur cette base SQLite" in result.stderr
    finally:
        first.stop()
