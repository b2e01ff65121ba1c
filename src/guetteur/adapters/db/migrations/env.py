"""Alembic environment: runs against the engine handed over by `engine.migrate`."""

from __future__ import annotations

from alembic import context

from guetteur.adapters.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True)
    context.run_migrations()
