"""Make deleted rows physically go away from the database files.

SQLite keeps deleted content in free pages of the main file and in the -wal file until they are overwritten:
checkpoint the WAL into the main file, VACUUM (rewrites the file from live rows only; in WAL mode that goes
through the WAL too), and checkpoint again with TRUNCATE so the -wal file ends at zero bytes.
PostgreSQL: a VACUUM of the touched tables prunes the dead rows (VACUUM FULL, at a maintenance window,
rewrites the table files; PostgreSQL's own WAL archive is outside our reach, see docs/gdpr.md).
"""

from __future__ import annotations

import time

from sqlalchemy import text

from appliance.errors import StorageError
from appliance.store.db import Database


def compact(db: Database, tables: tuple[str, ...] = ()) -> None:
    """Rewrite the database so erased rows leave no bytes behind (SQLite), or vacuum `tables` (PostgreSQL)."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if not db.is_sqlite:
            for table in tables:
                conn.execute(text(f'VACUUM "{table}"'))
            return
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
        for _ in range(50):  # a reader still on an old snapshot keeps the WAL busy for a moment
            busy, _frames, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            if not busy:
                return
            time.sleep(0.1)
    raise StorageError("could not truncate the SQLite WAL: another connection keeps reading; erase again later")
