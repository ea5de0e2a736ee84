"""Parse raw event records into string fields without losing the raw text.

Every input format is turned into one frame with the raw record, its file, flags for
blank and malformed records, the six event fields as strings (null when absent or JSON
null) and, per field, whether its JSON value was a string. :mod:`roomrec.ingest` then
classifies that frame; nothing here drops a record.
"""

from __future__ import annotations

import logging

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
TS_VALUE = "_ts_value"  # already a timestamp (Parquet); null for text formats
_CORRUPT = "_corrupt_record"
_TEXT = "_text"


def type_ok_column(field: str) -> str:
    """Return the name of the flag column that is false when ``field`` was not a string."""
    return f"_type_ok_{field}"


def _strip_bom(column: Column) -> Column:
    # A UTF-8 byte order mark survives decoding as U+FEFF at the start of the first line.
    return F.regexp_replace(column, "^\ufeff", "")


def _read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    return (
        spark.read.text(paths)
        .select(
            F.col("value").alias(C.RAW_RECORD),
            F.input_file_name().alias(C.SOURCE_FILE),
        )
        .withColumn(_TEXT, _strip_bom(F.col(C.RAW_RECORD)))
        .withColumn(BLANK, F.trim(F.col(_TEXT)) == F.lit(""))
    )


def _json_value_is_string(field: str) -> Column:
    """Return whether the raw line gives ``field`` a JSON string (or no value at all).

    Spark's JSON reader turns a number, boolean, object or array into its JSON text when
    the schema asks for a string, so the type is read off the first character of the value
    in the raw line instead.
    """
    # NOTE: the pattern finds the first occurrence of the key, so a nested object that
    # repeats a top-level key before it can hide a wrong type. Generated and production
    # events are flat.
    first_char = F.regexp_extract(F.col(_TEXT), rf'"{field}"\s*:\s*(.)', 1)
    return F.col(field).isNull() | (first_char == F.lit('"'))


def parse_json_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Parse JSON lines (plain or compressed) into the common parsed frame."""
    schema = T.StructType(
        [T.StructField(field, T.StringType()) for field in EVENT_FIELDS]
        + [T.StructField(_CORRUPT, T.StringType())]
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
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
        *[F.when(~malformed, F.col(f"_json.{field}")).alias(field) for field in EVENT_FIELDS],
        F.lit(None).cast("timestamp").alias(TS_VALUE),
    )
    for field in EVENT_FIELDS:
        frame = frame.withColumn(type_ok_column(field), _json_value_is_string(field))
    return frame.drop(_TEXT)


def csv_header(spark: SparkSession, path: str, sep: str) -> list[str]:
    """Read the column names from the first line of a CSV file."""
    first = spark.read.text(path).limit(1).collect()
    if not first:
        return []
    line = first[0][0].lstrip("\ufeff")
    return [name.strip().strip('"') for name in line.split(sep)]


def parse_csv_lines(
    spark: SparkSession,
    paths: list[str],
    columns: list[str],
    sep: str = ",",
    header: bool = True,
) -> DataFrame:
    """Parse delimited text lines, keeping each raw line.

    Parameters
    ----------
    columns : list of str
        Names of the fields in file order. Names outside the event fields are parsed and
        ignored.
    sep : str
        Field separator.
    header : bool
        Whether each file starts with a header line; lines equal to the header are skipped
        and not counted as records.
    """
    names = [f"_csv_{index}" for index in range(len(columns))]
    schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in names]
        + [T.StructField(_CORRUPT, T.StringType())]
    )
    options = {"sep": sep, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    lines = _read_lines(spark, paths)
    if header:
        header_line = sep.join(columns)
        lines = lines.filter(F.trim(F.col(_TEXT)) != F.lit(header_line))
    parsed = lines.withColumn("_csv", F.from_csv(F.col(_TEXT), schema.simpleString(), options))
    # from_csv fills the corrupt-record column when a line has too few or too many fields.
    malformed = ~F.col(BLANK) & (F.col("_csv").isNull() | F.col(f"_csv.{_CORRUPT}").isNotNull())
    by_name = dict(zip(columns, names))
    fields = [
        F.when(~malformed, F.col(f"_csv.{by_name[field]}")).alias(field)
        if field in by_name
        else F.lit(None).cast("string").alias(field)
        for field in EVENT_FIELDS
    ]
    return parsed.select(
        C.RAW_RECORD,
        C.SOURCE_FILE,
        BLANK,
        malformed.alias(MALFORMED),
        F.lit("malformed_csv").alias(MALFORMED_REASON),
        *fields,
        F.lit(None).cast("timestamp").alias(TS_VALUE),
        *[F.lit(True).alias(type_ok_column(field)) for field in EVENT_FIELDS],
    )


def parse_parquet(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Read Parquet events; ids are cast to strings and a timestamp ``ts`` is kept as is.

    Parquet carries its own schema, so a record cannot be malformed or blank. A column
    missing from the files reads as null and is rejected as a missing field. The raw record
    kept for rejected rows is the row as JSON.
    """
    data = spark.read.parquet(*paths)
    present = set(data.columns)
    # A zone-less TimestampNTZ column goes through the text path, which reads it as UTC.
    ts_is_timestamp = C.TS in present and isinstance(data.schema[C.TS].dataType, T.TimestampType)
    fields = []
    for field in EVENT_FIELDS:
        if field in present:
            fields.append(F.col(field).cast("string").alias(field))
        else:
            fields.append(F.lit(None).cast("string").alias(field))
    ts_value = F.col(C.TS) if ts_is_timestamp else F.lit(None).cast("timestamp")
    return data.select(
        F.to_json(F.struct(*[F.col(name) for name in data.columns])).alias(C.RAW_RECORD),
        F.input_file_name().alias(C.SOURCE_FILE),
        F.lit(False).alias(BLANK),
        F.lit(False).alias(MALFORMED),
        F.lit("malformed_parquet").alias(MALFORMED_REASON),
        *fields,
        ts_value.alias(TS_VALUE),
        *[F.lit(True).alias(type_ok_column(field)) for field in EVENT_FIELDS],
    )
