"""A hot path's SELECT (of one model, or of columns), sent on the transaction's asyncpg
connection.

`session.execute(select(Person)...)` costs SQLAlchemy's session, execution path and ORM
loading around the statement: 250 µs or more of CPU per select where the statement's own
round trip through asyncpg costs 85-150 µs (docs/benchmarks.md, issue 18). A route that reads
on every request loads its rows here instead:

    _BY_NUMBER = select(Person).where(Person.person_no == bindparam("person_no"))

    person = await load_one(session, _BY_NUMBER, person_no=person_no)

The statement is compiled once (cached on the statement object, so build it once, at module
level), sent prepared (asyncpg's per-connection statement cache) in the session's
transaction, and each row is built with SQLAlchemy's own result processors, so the values are
what the ORM would give (dates, zoned timestamps, JSONB, enums, numerics).

A select of columns (not of a model) gives its rows as tuples with `load_rows`, each value as
`session.execute` gives it, or as dicts keyed by the columns' names with `load_dicts`: what an
answer's pydantic model validates straight from the row. A hot read's answer is read that way,
its columns named by the model (`columns_for`): validating a model from an ORM object's
attributes cost 10.7 µs for ten columns against 3.4 from a dict, and building the object 3.3.

The objects are DETACHED and READ-ONLY: they are not in the session, so a change to one is
never written, and `session.get` or another ORM select returns a different object for the
same row. A caller that changes a row loads it with the ORM (a repository's `... for_update`).
The read sees what the transaction has written (flushed), not an ORM object's unflushed
changes, as the ORM's own select does with autoflush off (`mch_common.db.session_factory`).

A read before the transaction's first write is sent alone, without BEGIN
(`mch_common.db.on_driver_alone`): under READ COMMITTED every statement sees its own snapshot,
in a transaction or not, so BEGIN would cost a round trip and change nothing; a request that
only reads and records the access then sends no BEGIN and no COMMIT at all. A locking read
(`with_for_update()`) begins the transaction, which holds its locks until the end.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple, cast

from pydantic import BaseModel
from sqlalchemy import Select, inspect
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapper
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.types import TypeEngine

from mch_common.db import dialect_of, on_driver, on_driver_alone

_M = TypeVar("_M", bound=DeclarativeBase)
_Ts = TypeVarTuple("_Ts")
_AnySelect = Select[*tuple[Any, ...]]
_Processor = Callable[[Any], Any] | None


@dataclass
class _Load:
    """A statement as sent: its SQL, where each `$n` takes its value from, and how a row
    becomes an object. Fixed once compiled, but for its result processors, learnt once."""

    sql: str
    # Per `$n`: (the caller's parameter name, None) or (None, a value fixed in the statement).
    params: tuple[tuple[str | None, Any], ...]
    bind_processors: tuple[_Processor, ...]
    mapper: Mapper[Any] | None  # None: the rows are returned as tuples (`load_rows`)
    keys: tuple[str, ...]  # attribute key of each result column
    types: tuple[TypeEngine[Any], ...]  # SQLAlchemy type of each result column
    primary_key: tuple[int, ...]  # result column positions of the primary key
    locks: bool  # FOR UPDATE/SHARE: sent in the transaction, begun if it was not
    result_processors: tuple[_Processor, ...] | None  # known once the statement is prepared


_LOADS: dict[_AnySelect, _Load] = {}
# Statements are built once, at module level: a few dozen per service. Past this many, a
# caller builds them per call, and the cache stops growing (each such call compiles afresh).
_MOST_LOADS = 1000


async def load_all(session: AsyncSession, statement: Select[_M], **params: Any) -> list[_M]:
    """Every row of `statement` (a `select(Model)`, built once at module level, its parameters
    `bindparam`s given by name here) as detached, read-only `Model` objects."""
    load, rows = await _fetch(session, statement, params, entity=True)
    return [_instance(load, row) for row in rows]


async def load_one(session: AsyncSession, statement: Select[_M], **params: Any) -> _M | None:
    """The one row of `statement` as a detached, read-only object, or None; more than one row
    raises `MultipleResultsFound`, as `scalar_one_or_none` does."""
    rows = await load_all(session, statement, **params)
    if len(rows) > 1:
        raise MultipleResultsFound("load_one found more than one row")
    return rows[0] if rows else None


async def load_rows(
    session: AsyncSession, statement: Select[*_Ts], **params: Any
) -> list[tuple[*_Ts]]:
    """Every row of `statement` (a select of columns, built once at module level) as a tuple
    of its values, each as `session.execute` would give it."""
    load, rows = await _fetch(session, statement, params, entity=False)
    processors = load.result_processors or ()
    return [cast("tuple[*_Ts]", tuple(_values(processors, row))) for row in rows]


async def load_dicts(
    session: AsyncSession, statement: Select[*_Ts], **params: Any
) -> list[dict[str, Any]]:
    """Every row of `statement` (a select of columns, built once at module level) as a dict
    of its columns' names (their labels) to their values, each as `session.execute` gives
    it."""
    load, rows = await _fetch(session, statement, params, entity=False)
    keys = load.keys
    if not any(load.result_processors or ()):
        return [dict(zip(keys, row, strict=True)) for row in rows]
    processors = load.result_processors or ()
    return [dict(zip(keys, _values(processors, row), strict=True)) for row in rows]


def columns_for(model: type[BaseModel], entity: type[DeclarativeBase]) -> list[Any]:
    """`entity`'s columns named as `model`'s fields, in their order: the select of what an
    answer of `model` shows, for `load_dicts`. A field that is not a column of `entity` is
    refused (TypeError): such a model is built from the ORM object."""
    mapper: Mapper[Any] = inspect(entity)
    missing = [name for name in model.model_fields if name not in mapper.column_attrs]
    if missing:
        raise TypeError(f"{model.__name__}: not columns of {entity.__name__}: {missing}")
    columns = []
    for name in model.model_fields:
        column = getattr(entity, name)
        # Labelled where the attribute's column has another name: the dict's key is the field.
        columns.append(
            column if mapper.column_attrs[name].columns[0].name == name else column.label(name)
        )
    return columns


async def _fetch(
    session: AsyncSession, statement: _AnySelect, params: dict[str, Any], *, entity: bool
) -> tuple["_Load", list[Any]]:
    dialect = dialect_of(session)
    load = _compiled(statement, dialect, entity=entity)
    args = _arguments(load, params)

    async def fetch(driver: Any) -> Any:
        if load.result_processors is None:
            await _learn_result_types(driver, load, dialect)
        return await driver.fetch(load.sql, *args)

    send = on_driver if load.locks else on_driver_alone
    return load, await send(session, load.sql, fetch)


def _compiled(statement: _AnySelect, dialect: Dialect, *, entity: bool) -> _Load:
    load = _LOADS.get(statement)
    if load is None:
        load = _compile(statement, dialect, entity=entity)
        if len(_LOADS) < _MOST_LOADS:
            _LOADS[statement] = load
    if (load.mapper is not None) != entity:
        raise TypeError("load_all/load_one take a select() of one model, load_rows of columns")
    return load


def _compile(statement: _AnySelect, dialect: Dialect, *, entity: bool) -> _Load:
    """The statement as SQLAlchemy compiles it for asyncpg; refused (TypeError) where
    building the objects here would differ from the ORM's loading."""
    mapper = _entity_mapper(statement) if entity else None
    compiled = statement.compile(dialect=dialect)
    if compiled.post_compile_params:
        # SQLAlchemy renders an IN list's parameters per execution: a list takes `= any()`.
        raise TypeError("an IN list: write column == any_(bindparam(name, type_=ARRAY(...)))")
    keys: list[str] = []
    types: list[TypeEngine[Any]] = []
    for column in compiled._result_columns:
        keys.append(column.keyname if mapper is None else _attribute_key(mapper, column))
        types.append(column.type)
    primary_key: tuple[int, ...] = ()
    if mapper is not None:
        if set(keys) != {attribute.key for attribute in mapper.column_attrs}:
            raise TypeError(f"{mapper.class_.__name__} has deferred columns: use the ORM")
        primary_key = tuple(
            keys.index(mapper.get_property_by_column(column).key) for column in mapper.primary_key
        )
    fixed = compiled.construct_params(_check=False)
    params: list[tuple[str | None, Any]] = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        params.append((bind.key, None) if bind.required else (None, fixed[name]))
    return _Load(
        sql=compiled.string,
        params=tuple(params),
        bind_processors=tuple(
            compiled.binds[name].type._cached_bind_processor(dialect)
            for name in compiled.positiontup or ()
        ),
        mapper=mapper,
        keys=tuple(keys),
        types=tuple(types),
        primary_key=primary_key,
        locks=statement._for_update_arg is not None,
        result_processors=None,
    )


def _entity_mapper(statement: _AnySelect) -> Mapper[Any]:
    entities = statement.column_descriptions
    model = entities[0].get("entity") if len(entities) == 1 else None
    if model is None or entities[0]["expr"] is not model:
        raise TypeError("load_all/load_one take a select() of one mapped class")
    mapper: Mapper[Any] = inspect(model)
    if statement._with_options or mapper.inherits is not None or mapper.polymorphic_on is not None:
        raise TypeError("loader options and inheritance need the ORM's loading")
    if mapper.class_manager.dispatch.load:
        raise TypeError(f"{model.__name__} has load events: read it with the ORM")
    return mapper


def _attribute_key(mapper: Mapper[Any], column: Any) -> str:
    for element in column.objects:
        if element in mapper._columntoproperty:
            return str(mapper._columntoproperty[element].key)
    raise TypeError(f"result column {column.name} is not an attribute of {mapper.class_}")


def _arguments(load: _Load, params: dict[str, Any]) -> list[Any]:
    args = []
    for (name, fixed), process in zip(load.params, load.bind_processors, strict=True):
        value = fixed if name is None else params[name]
        args.append(value if process is None else process(value))
    return args


async def _learn_result_types(driver: Any, load: _Load, dialect: Dialect) -> None:
    """The result processors, chosen as SQLAlchemy chooses them: by each column's type and the
    PostgreSQL type the server reports for it (a numeric's Decimal or float depends on it).
    Once per statement and process: one extra prepare, on its first use."""
    attributes = (await driver.prepare(load.sql)).get_attributes()
    processors = tuple(
        type_._cached_result_processor(dialect, attribute.type.oid)
        for type_, attribute in zip(load.types, attributes, strict=True)
    )
    load.result_processors = processors


def _instance(load: _Load, row: Any) -> Any:
    """A detached object of the row, built as the ORM builds one (its state with an identity
    key and no session), without the session's identity map."""
    mapper = load.mapper
    if mapper is None:
        raise TypeError("load_rows' statement given to load_all")  # pragma: no cover
    values = _values(load.result_processors or (), row)
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(zip(load.keys, values, strict=True))
    instance_state(instance).key = mapper.identity_key_from_primary_key(
        tuple(values[n] for n in load.primary_key)
    )
    return instance


def _values(processors: tuple[_Processor, ...], row: Any) -> list[Any]:
    return [row[n] if process is None else process(row[n]) for n, process in enumerate(processors)]
