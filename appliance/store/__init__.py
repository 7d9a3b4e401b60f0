"""Storage: SQLAlchemy models, the Database (SQLite WAL default, PostgreSQL), migrations, repositories."""

from appliance.store.db import Database, open_database

__all__ = ["Database", "open_database"]
