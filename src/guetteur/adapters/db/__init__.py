"""Database adapter: SQLAlchemy 2 models, engine, Alembic migrations and repositories.

SQLite (WAL) is the embedded default; PostgreSQL is supported and tested. Times are integer UTC
microseconds (`*_utc_us`), sizes bytes (`*_bytes`).
"""
