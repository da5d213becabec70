"""What routes accept: every number and string bounded to what the domain and the database hold.

A value outside these bounds is a 422 at the edge, never an overflow in timedelta, SQLite or a
PostgreSQL INTEGER column. (Lone surrogates and NaN cannot arrive at all: cloud.api.bodies.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

INT32_MAX = 2**31 - 1  # INTEGER columns: row ids on PostgreSQL

RowId = Annotated[int, Path(ge=1, le=INT32_MAX)]
CabinetCode = Annotated[str, Path(min_length=1, max_length=64, description="the code printed in the QR")]
SessionId = Annotated[str, Path(min_length=1, max_length=64)]
CabinetFilter = Annotated[str | None, Query(min_length=1, max_length=64, description="a cabinet code")]
# Hours of history or planning ahead: up to a month (a timedelta holds far more; a person does not).
Hours = Annotated[float, Query(gt=0, le=24 * 31)]
Limit = Annotated[int, Query(ge=1, le=200)]

# Request bodies.
BusIndex = Annotated[int, Field(ge=0, le=255)]  # door, channel, lane: one byte on the serial bus
Sku = Annotated[str, Field(min_length=1, max_length=64)]
UserName = Annotated[str, Field(min_length=1, max_length=64)]
Password = Annotated[str, Field(min_length=1, max_length=256)]  # argon2 of more is work for nothing
