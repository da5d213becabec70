"""INSERT … ON CONFLICT DO UPDATE of many rows in one statement, on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db.models import Base

# The new row's values (the statement's `excluded`) → what a stored row's columns become.
Changes = Callable[[Any], dict[str, ColumnElement[Any]]]


def upsert(
    db: Session, model: type[Base], keys: list[str], rows: list[dict[str, Any]], changes: Changes
) -> None:
    """Insert the rows, or change the stored ones with the same keys. No two rows may share keys (one
    statement touches a row once). Give rows in one order (sorted by key) and concurrent writers lock
    alike."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    if is_postgres(db):
        _postgres(db, table, keys, rows, changes)
    else:
        stmt = sqlite.insert(table)
        db.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changes(stmt.excluded)), rows)


def _postgres(
    db: Session, table: Table, keys: list[str], rows: list[dict[str, Any]], changes: Changes
) -> None:
    """The rows as one array per column, unnested: a statement planned and bound once with a parameter per
    column, where executemany runs it once per row and a VALUES list binds thousands of parameters."""
    names = list(rows[0])
    arrays = [bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in names]
    unnested = func.unnest(*arrays).table_valued(*names).render_derived()
    stmt = postgresql.insert(table).from_select(names, select(*unnested.c))
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changes(stmt.excluded))
    db.execute(stmt, {name: [row[name] for row in rows] for name in names})


def is_postgres(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"
