"""Parse raw records into string fields without losing the raw text.

Every input format is turned into one frame. It has the raw record, its file, flags for
blank and malformed records, and the requested fields as strings (null when absent or JSON
null). Per field, a flag says whether its JSON value was a string. The callers in
:mod:`roomrec.ingest` and :mod:`roomrec.adapters` classify that frame. Nothing here drops
a record, apart from the header lines of delimited files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from roomrec import columns as C

logger = logging.getLogger(__name__)

EVENT_FIELDS = (C.EVENT_ID, C.TS, C.USER_ID, C.EVENT_TYPE, C.ROOM_ID, C.SCREEN)

# Internal columns of the parsed frame; the leading underscore keeps them apart from data.
BLANK = "_blank"
MALFORMED = "_malformed"
MALFORMED_REASON = "_malformed_reason"
_CORRUPT = "_corrupt_record"
_TEXT = "_text"


def type_ok_column(field: str) -> str:
    """Return the name of the flag column that is false when ``field`` was not a string."""
    return f"_type_ok_{field}"


def is_blank(column: Column) -> Column:
    """Return whether a string is empty or only whitespace (tabs and line breaks too)."""
    # F.trim strips only the space character, so a tab-only value would look non-empty.
    return column.rlike(r"^\s*$")


def _strip_bom(column: Column) -> Column:
    # A UTF-8 byte order mark survives decoding as U+FEFF at the start of the first line.
    return F.regexp_replace(column, "^\ufeff", "")


def _read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    return (
        spark.read.text(list(paths))
        .select(
            F.col("value").alias(C.RAW_RECORD),
            F.input_file_name().alias(C.SOURCE_FILE),
        )
        .withColumn(_TEXT, _strip_bom(F.col(C.RAW_RECORD)))
        .withColumn(BLANK, is_blank(F.col(_TEXT)))
    )


def _json_value_is_string(field: str) -> Column:
    """Return whether the raw line gives ``field`` a JSON string (or no value at all).

    Spark's JSON reader turns a number, boolean, object or array into its JSON text when
    the schema declares a string, so the type is read off the first character of the value
    in the raw line instead.
    """
    # NOTE: the pattern finds the first occurrence of the key, so a nested object that
    # repeats a top-level key before it can hide a wrong type. Generated and production
    # events are flat.
    first_char = F.regexp_extract(F.col(_TEXT), rf'"{field}"\s*:\s*(.)', 1)
    return F.col(field).isNull() | (first_char == F.lit('"'))


def parse_json_lines(
    spark: SparkSession,
    paths: Sequence[str],
    fields: Sequence[str] = EVENT_FIELDS,
    check_types: bool = True,
) -> DataFrame:
    """Parse JSON lines (plain or compressed) into the common parsed frame.

    Parameters
    ----------
    fields : sequence of str
        Top-level keys to extract, each as a string.
    check_types : bool
        Whether to flag values that are not JSON strings; when false, numbers and booleans
        are accepted as their JSON text.
    """
    schema = T.StructType(
        [T.StructField(field, T.StringType()) for field in fields]
        + [T.StructField(_CORRUPT, T.StringType())]
    )
    # Single-quoted keys and strings are not JSON, but Spark accepts them by default.
    options = {
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": _CORRUPT,
        "allowSingleQuotes": "false",
    }
    parsed = _read_lines(spark, paths).withColumn(
        "_json", F.from_json(F.col(_TEXT), schema, options)
    )
    # A top-level array, string or number also lands in the corrupt-record column.
    malformed = ~F.col(BLANK) & (F.col("_json").isNull() | F.col(f"_json.{_CORRUPT}").isNotNull())
    frame = parsed.select(
        C.RAW_RECORD,
        C.SOURCE_FILE,
        _TEXT,
        BLANK,
        malformed.alias(MALFORMED),
        F.lit("malformed_json").alias(MALFORMED_REASON),
        *[F.when(~malformed, F.col(f"_json.{field}")).alias(field) for field in fields],
    )
    for field in fields:
        type_ok = _json_value_is_string(field) if check_types else F.lit(True)
        frame = frame.withColumn(type_ok_column(field), type_ok)
    return frame.drop(_TEXT)


def first_line(spark: SparkSession, path: str) -> str:
    """Return the first line of a text file without a byte order mark, or ``""``."""
    first = spark.read.text(path).limit(1).collect()
    if not first:
        return ""
    return first[0][0].lstrip("\ufeff")


def split_header(line: str, sep: str) -> list[str]:
    """Split a header line into column names, dropping quotes and surrounding spaces."""
    return [name.strip().strip('"') for name in line.split(sep)]


def parse_csv_lines(
    spark: SparkSession,
    paths: Sequence[str],
    columns: Sequence[str],
    sep: str = ",",
    header_line: str = "",
    fields: Sequence[str] = EVENT_FIELDS,
) -> DataFrame:
    """Parse delimited text lines, keeping each raw line.

    Parameters
    ----------
    columns : sequence of str
        Names of the columns in file order.
    sep : str
        Column separator, for example ``","`` or ``"\\t"``.
    header_line : str
        The header line of the files, or ``""`` when they have none. Lines equal to it are
        skipped and are not counted as records.
    fields : sequence of str
        Columns to output; a field not among ``columns`` is null in every row.
    """
    names = [f"_csv_{index}" for index in range(len(columns))]
    schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in names]
        + [T.StructField(_CORRUPT, T.StringType())]
    )
    options = {"sep": sep, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    lines = _read_lines(spark, paths)
    if header_line:
        lines = lines.filter(F.trim(F.col(_TEXT)) != F.lit(header_line.strip()))
    parsed = lines.withColumn("_csv", F.from_csv(F.col(_TEXT), schema.simpleString(), options))
    # from_csv fills the corrupt-record column when a line has too few or too many columns.
    malformed = ~F.col(BLANK) & (F.col("_csv").isNull() | F.col(f"_csv.{_CORRUPT}").isNotNull())
    by_name = dict(zip(columns, names))
    selected = [
        F.when(~malformed, F.col(f"_csv.{by_name[field]}")).alias(field)
        if field in by_name
        else F.lit(None).cast("string").alias(field)
        for field in fields
    ]
    return parsed.select(
        C.RAW_RECORD,
        C.SOURCE_FILE,
        BLANK,
        malformed.alias(MALFORMED),
        F.lit("malformed_csv").alias(MALFORMED_REASON),
        *selected,
        *[F.lit(True).alias(type_ok_column(field)) for field in fields],
    )


def _parquet_field_as_text(data: DataFrame, field: str) -> Column:
    """Return a Parquet column as text; timestamps become ISO-8601 that parse back exactly."""
    if field not in data.columns:
        return F.lit(None).cast("string")
    data_type = data.schema[field].dataType
    if isinstance(data_type, T.TimestampType):
        # The offset written is the session time zone's, so the instant survives any zone.
        return F.date_format(F.col(field), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
    if isinstance(data_type, T.TimestampNTZType):
        # Without a zone the text path reads the value as UTC.
        return F.date_format(F.col(field), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
    return F.col(field).cast("string")


def parse_parquet(
    spark: SparkSession,
    paths: Sequence[str],
    fields: Sequence[str] = EVENT_FIELDS,
) -> DataFrame:
    """Read Parquet records with every field as text.

    Parquet carries its own schema, so a record cannot be malformed or blank. A field
    missing from the files reads as null, so the caller rejects it as a missing field. The
    raw record kept for rejected rows is the row as JSON.
    """
    data = spark.read.parquet(*paths)
    return data.select(
        F.to_json(F.struct(*[F.col(name) for name in data.columns])).alias(C.RAW_RECORD),
        F.input_file_name().alias(C.SOURCE_FILE),
        F.lit(False).alias(BLANK),
        F.lit(False).alias(MALFORMED),
        F.lit("malformed_parquet").alias(MALFORMED_REASON),
        *[_parquet_field_as_text(data, field).alias(field) for field in fields],
        *[F.lit(True).alias(type_ok_column(field)) for field in fields],
    )
