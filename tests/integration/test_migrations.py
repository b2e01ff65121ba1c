"""The Alembic migrations build exactly the schema of `models.py`, on SQLite and PostgreSQL:
a table, column, index or constraint added to a model without its revision fails here."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from guetteur.adapters.db.engine import make_engine, migrate
from guetteur.adapters.db.models import Base


def test_migrated_schema_matches_the_models(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff: list[Any] = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
