"""Column names a reader would silently rename: a header that names a column twice.

DuckDB's CSV and Parquet readers rename the second ``email`` to ``email_1``, so the loader
would carry a column the user never named and drop a value silently; the loader refuses the
file instead (exit 4).
"""

from __future__ import annotations

import csv
from collections import Counter


def duplicated_columns(path: str, kind: str) -> list[str]:
    """Column names that appear more than once in a CSV header or a Parquet schema.

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("id,email,email\\n1,a,b\\n")
        >>> duplicated_columns(str(p), "csv")
        ['email']
    """
    if kind == "csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            names = next(csv.reader(fh), [])
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException):
            return []  # not Parquet at all: the reader reports the file as unreadable
    else:
        return []
    return [n for n, k in Counter(n.strip() for n in names).items() if k > 1]
