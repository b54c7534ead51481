"""Statements run for many rows at once, without SQLAlchemy's per-row work."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler


class Executemany:
    """A statement compiled once for one dialect and run with rows of positional values.

    ``conn.execute(statement, [dict, ...])`` makes SQLAlchemy build, check and
    type-process a parameter dict per row, which cost more CPU than anything
    else in recording a batch. Here a row is a tuple in ``names`` order that
    goes to the driver after the dialect's own bind processors have converted
    the values that need it (datetimes, JSON), so the SQL and the stored values
    are those SQLAlchemy would have sent. ``fixed`` values are the same for
    every row of a batch and are converted once per batch.
    """

    def __init__(
        self,
        statement: sa.ClauseElement,
        dialect: sa.Dialect,
        names: Sequence[str],
        fixed: Sequence[str] = (),
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        # Both drivers (sqlite3 and asyncpg) take positional parameters.
        assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
        self.sql = compiled.string
        self._fixed = tuple(fixed)
        self._multi_rowcount = dialect.supports_sane_multi_rowcount
        sources = {name: i for i, name in enumerate((*names, *fixed))}
        unknown = set(sources) - set(compiled.positiontup)
        if unknown:
            raise ValueError(f"not parameters of the statement: {sorted(unknown)}")
        processors: dict[str, Callable[[Any], Any] | None] = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in compiled.positiontup
        }
        self._row_processors = [
            (i, processor) for i, name in enumerate(names) if (processor := processors[name])
        ]
        self._fixed_processors = [processors[name] for name in fixed]
        constants: list[Any] = []
        picks = []
        for name in compiled.positiontup:
            if name in sources:
                picks.append(sources[name])
                continue
            bind = compiled.binds[name]
            if bind.required:
                raise ValueError(f"no value given for parameter {name!r}")
            # A value of the statement itself, such as the 'pending' of state = 'pending'.
            processor = processors[name]
            value = bind.effective_value
            constants.append(value if processor is None else processor(value))
            picks.append(len(sources) + len(constants) - 1)
        self._constants = tuple(constants)
        pick = operator.itemgetter(*picks)
        self._pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
            pick if len(picks) > 1 else lambda values: (pick(values),)
        )

    def parameters(self, rows: Iterable[Sequence[Any]], fixed: Sequence[Any]) -> list[Any]:
        """The driver's parameters for ``rows``, with ``fixed`` in the order given at creation."""
        tail = (
            *(v if p is None else p(v) for p, v in zip(self._fixed_processors, fixed, strict=True)),
            *self._constants,
        )
        pick, processors = self._pick, self._row_processors
        if not processors:
            return [pick((*row, *tail)) for row in rows]
        parameters = []
        for row in rows:
            values = [*row, *tail]
            for i, processor in processors:
                values[i] = processor(values[i])
            parameters.append(pick(tuple(values)))
        return parameters

    async def execute(
        self, conn: AsyncConnection, rows: Sequence[Sequence[Any]], *fixed: Any
    ) -> int | None:
        """Run the statement for each row; how many rows changed (None: the driver cannot tell)."""
        if not rows:
            return 0
        result = await conn.exec_driver_sql(self.sql, self.parameters(rows, fixed))
        if len(rows) > 1 and not self._multi_rowcount:
            return None
        return int(result.rowcount)
