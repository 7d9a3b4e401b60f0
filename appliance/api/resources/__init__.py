"""What the resource routers do, as plain typed functions over a Session and an organization id.

Routers stay thin (parse, authorise, call one of these, audit); these modules hold the rules (validation, tenant
scoping, secrets, pagination) and are testable without HTTP. Each module also holds its pydantic schemas.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator

from appliance.errors import VocalIQError


def as_utc(value: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite hands them back naive, PostgreSQL aware. Always answer aware."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def db_utc(value: dt.datetime, *, is_sqlite: bool) -> dt.datetime:
    """A UTC instant in the form the column compares correctly with (naive on SQLite)."""
    aware = as_utc(value)
    return aware.replace(tzinfo=None) if is_sqlite else aware


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]


class Invalid(VocalIQError):
    """A request that is well-formed but inconsistent with itself or the stored object (400 with the reason)."""
