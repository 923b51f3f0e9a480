"""The Arrow types of the stored columns: what every reader returns (batch side only).

Kept apart from :mod:`storage.columns` so the consumer, which writes the same
table, never needs pyarrow.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from rev_analytics.core.fields import Field, Kind
from storage.columns import COLUMNS, STORED

_TYPES: dict[Kind, pa.DataType] = {
    Kind.ID: pa.string(), Kind.TEXT: pa.string(), Kind.JSON: pa.string(),
    Kind.BOOL: pa.bool_(), Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(),
    Kind.TIME: pa.timestamp("us", tz="UTC"),
}


def arrow_type(field: Field) -> pa.DataType:
    return _TYPES[field.kind]


def arrow_schema(columns: Sequence[str] = COLUMNS) -> pa.Schema:
    """The Arrow schema of ``columns`` as every reader returns them."""
    unknown = [name for name in columns if name not in STORED]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; stored columns are {list(COLUMNS)}")
    return pa.schema([(name, arrow_type(STORED[name])) for name in columns])
