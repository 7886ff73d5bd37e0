"""CHECK constraints built from the API's `Literal` types, so the database and the schemas
allow the same values and a new value is added in one place."""

from typing import Any, get_args

from sqlalchemy import CheckConstraint


def one_of(column: str, values: Any, *, nullable: bool = False) -> CheckConstraint:
    """`column IN (...)` over the values of the `Literal` type `values`, named after the column."""
    allowed = ", ".join(f"'{value}'" for value in get_args(values))
    sql = f"{column} IN ({allowed})"
    return CheckConstraint(f"{column} IS NULL OR {sql}" if nullable else sql, name=column)
