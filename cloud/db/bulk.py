"""Statements for a batch of hundreds of rows: one parameter per batch on PostgreSQL, not one per value.

psycopg rewrites the text of a query with hundreds of placeholders (an IN list, a VALUES list) on every
run and binds each value alone; one JSON document or array is one parameter, read by the server in C.
SQLite runs in process, so it gets the plain forms (IN lists, executemany).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, Text, any_, bindparam, cast, column, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db.models import Base

# The new row's values (the statement's `excluded`) → what a stored row's columns become.
Changes = Callable[[Any], dict[str, ColumnElement[Any]]]


def is_postgres(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def among(db: Session, attribute: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`attribute IN values`; on PostgreSQL `= ANY(array)`, one parameter."""
    if is_postgres(db):
        array = bindparam(None, list(values), type_=postgresql.ARRAY(attribute.type))
        found: ColumnElement[bool] = attribute == any_(array)
    else:
        found = attribute.in_(values)
    return found


def insert_rows(db: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Plain INSERT of many rows (a duplicate key raises, as one row's INSERT would)."""
    if rows:
        _write(db, table_of(model), rows, None)


def upsert(
    db: Session, model: type[Base], keys: list[str], rows: list[dict[str, Any]], changes: Changes
) -> None:
    """Insert the rows, or change the stored ones with the same keys. No two rows may share keys (one
    statement touches a row once). Give rows in one order (sorted by key) so concurrent writers lock
    rows in the same order."""
    if rows:
        _write(db, table_of(model), rows, (keys, changes))


def table_of(model: type[Base]) -> Table:
    """The model's table, typed as one (statements on it skip the ORM's per-statement work)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _write(
    db: Session, table: Table, rows: list[dict[str, Any]], conflict: tuple[list[str], Changes] | None
) -> None:
    if not is_postgres(db):
        stmt: Any = sqlite.insert(table)
        if conflict is not None:
            stmt = stmt.on_conflict_do_update(index_elements=conflict[0], set_=conflict[1](stmt.excluded))
        db.execute(stmt, rows)
        return
    names = list(rows[0])
    document = cast(bindparam("rows", json.dumps(rows, default=_instant, allow_nan=False), type_=Text), JSON)
    records = func.json_to_recordset(document).table_valued(*(column(n, table.c[n].type) for n in names))
    records = records.render_derived(with_types=True)
    stmt = postgresql.insert(table).from_select(names, select(*records.c))
    if conflict is not None:
        stmt = stmt.on_conflict_do_update(index_elements=conflict[0], set_=conflict[1](stmt.excluded))
    db.execute(stmt)


@lru_cache(maxsize=4096)  # a batch repeats its few instants (its minutes, its `now`) on every row
def _instant(value: object) -> str:
    """Datetimes in the JSON document: UTC-aware only, as the UtcDateTime columns insist."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: vendfleet stores UTC, timezone-aware")
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} in a bulk row")
