"""One helper for the package's upserts: the dialect's own INSERT, which has ON CONFLICT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Any) -> Any:
    """An INSERT for ``table`` that offers ``on_conflict_do_nothing``/``_do_update`` on both
    SQLite and PostgreSQL (the generic ``insert`` does not)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
