"""Load visits from any supported kind of log through one entry point.

Besides raw events (see :mod:`roomrec.ingest` and :mod:`roomrec.visits`), three kinds of
log are turned into the visits schema here, with the same accounting as events: records
read, accepted and rejected per reason code.

- visits logs: one row per stay, with user, room, start and end;
- check-ins: user, room and time, without duration (``user\\troom\\tunix_time`` in public
  check-in data sets);
- aggregated interactions: user, room and a count or a total duration (for example
  ``User_ID\\tGame_ID\\tHours``).

:func:`load_visits` dispatches on the kind and adds the data-quality table.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.bots import exclude_bots, flag_bots
from roomrec.ingest import (
    first_failing_reason,
    parse_iso_ts,
    read_events,
    reconcile,
    ts_bounds,
)
from roomrec.record_parsing import (
    BLANK,
    MALFORMED,
    MALFORMED_REASON,
    first_line,
    is_blank,
    parse_csv_lines,
    parse_json_lines,
    parse_parquet,
    split_header,
)
from roomrec.sources import resolve_input
from roomrec.visits import VISIT_COLUMNS, build_visits

logger = logging.getLogger(__name__)

LOAD_FORMATS = ("events", "visits", "checkins", "aggregated")
TIME_FORMATS = ("iso", "unix_s", "unix_ms")
VALUE_KINDS = ("count", "duration", "none")
SECONDS_PER_UNIT = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}
VALUE = "value"

# Epoch numbers beyond this many microseconds (about year 5100) are read as invalid_ts.
_MAX_EPOCH_MICROS = 1e17
_DWELL_CAPPED = "_dwell_capped"


@dataclass
class AdapterResult:
    """Visits read from a visits log, check-ins or aggregated interactions.

    Attributes
    ----------
    visits : DataFrame
        Accepted records in the visits schema (:data:`roomrec.visits.VISIT_COLUMNS`).
    rejected : DataFrame
        ``raw``, ``reason`` and ``source_file`` of each rejected record.
    counts : dict
        ``read``, ``accepted``, ``rejected`` (reason code to count), ``duplicates_removed``
        (always 0: these logs have no record id), ``repaired``, ``source``,
        ``input_format`` and ``files``.
    """

    visits: DataFrame
    rejected: DataFrame
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadResult:
    """Visits of one input with everything needed to judge its quality.

    Attributes
    ----------
    visits : DataFrame
        Visits schema: user_id, room_id, start_ts, end_ts, dwell_s, visit_count,
        is_imputed.
    rejected : DataFrame
        Rejected records: raw, reason, source_file.
    bots : DataFrame or None
        Flagged bot users for raw events; None for the other kinds.
    counts : dict
        Read-stage counts, plus ``bots`` and ``visits`` sub-dicts for raw events.
    quality : pandas.DataFrame
        :func:`roomrec.ingest.reconcile` of ``counts``.
    events : DataFrame or None
        Accepted raw events, bots included, for exploring the log; None for the other
        kinds.
    """

    visits: DataFrame
    rejected: DataFrame
    bots: DataFrame | None
    counts: dict[str, Any] = field(default_factory=dict)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: DataFrame | None = None


def _check_choice(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise ValueError(
            f"unknown {name} {value!r}; choose one of " + ", ".join(repr(c) for c in choices)
        )


def _read_fields(
    spark: SparkSession,
    path: str,
    *,
    input_format: str,
    sep: str,
    header: bool,
    columns: Sequence[str] | None,
    renames: dict[str, str],
) -> tuple[DataFrame, dict[str, Any]]:
    """Read the source columns in ``renames`` as strings and rename them to roomrec's names.

    Raises
    ------
    ValueError
        If a requested column is not in the header, ``columns`` or the Parquet schema.
    """
    files = resolve_input(spark, path, input_format)
    sources = list(renames)
    if files.input_format == "json":
        parsed = parse_json_lines(spark, files.paths, sources, check_types=False)
    elif files.input_format == "csv":
        header_line = first_line(spark, files.paths[0]) if header else ""
        if columns:
            names = list(columns)
        elif header:
            names = split_header(header_line, sep)
        else:
            # Without a header or explicit names, the requested columns are the file order.
            names = sources
        _check_columns_present(sources, names, path)
        parsed = parse_csv_lines(spark, files.paths, names, sep, header_line, sources)
    else:
        _check_columns_present(sources, spark.read.parquet(*files.paths).columns, path)
        parsed = parse_parquet(spark, files.paths, sources)
    renamed = parsed.select(
        C.RAW_RECORD,
        C.SOURCE_FILE,
        BLANK,
        MALFORMED,
        MALFORMED_REASON,
        *[F.col(source).alias(target) for source, target in renames.items()],
    )
    counts = {"source": path, "input_format": files.input_format, "files": len(files.paths)}
    return renamed, counts


def _check_columns_present(requested: Sequence[str], available: Sequence[str], path: str) -> None:
    missing = [name for name in requested if name not in available]
    if missing:
        raise ValueError(
            f"columns {missing} not found in {path!r}; available: {list(available)}. "
            "Set the *_col parameters to the names the file uses"
        )


# A decimal number as text: digits with an optional fraction and exponent, or "nan"/"inf".
_NUMBER_PATTERN = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|(?i)nan|(?i)inf(inity)?)$"


def parse_number(text: Column) -> Column:
    """Cast text to double, or null when it is not a number.

    A plain cast returns null on PySpark 3.5 but raises on PySpark 4, where ANSI mode is on
    by default, so only text that looks like a number reaches the cast.
    """
    trimmed = F.trim(text)
    return F.when(trimmed.rlike(_NUMBER_PATTERN), trimmed.cast("double"))


def parse_time(text: Column, time_format: str) -> Column:
    """Convert text to a UTC timestamp: ISO-8601, or seconds or milliseconds since the epoch.

    Returns null for text that does not parse.
    """
    if time_format == "iso":
        return parse_iso_ts(text)
    number = parse_number(text)
    micros = number * F.lit(1e6 if time_format == "unix_s" else 1e3)
    plausible = number.isNotNull() & ~F.isnan(number) & (F.abs(micros) < F.lit(_MAX_EPOCH_MICROS))
    return F.when(plausible, F.timestamp_micros(F.round(micros).cast("long")))


def _id_checks(max_id_length: int) -> list[tuple[Column, str]]:
    checks: list[tuple[Column, str]] = []
    for name in (C.USER_ID, C.ROOM_ID):
        checks.append((is_blank(F.col(name)), f"empty_id:{name}"))
    for name in (C.USER_ID, C.ROOM_ID):
        checks.append((F.length(F.col(name)) > F.lit(max_id_length), f"id_too_long:{name}"))
    return checks


def _missing_checks(names: Sequence[str]) -> list[tuple[Column, str]]:
    return [(F.col(name).isNull(), f"missing_field:{name}") for name in names]


def _format_checks() -> list[tuple[Column, str]]:
    return [(F.col(BLANK), "blank_line"), (F.col(MALFORMED), "malformed")]


def _out_of_range(ts: Column, min_micros: int, max_micros: int) -> Column:
    micros = F.unix_micros(ts)
    return (micros < F.lit(min_micros)) | (micros > F.lit(max_micros))


def _with_reason(parsed: DataFrame, checks: list[tuple[Column, str]]) -> DataFrame:
    reason = first_failing_reason(checks)
    reason = F.when(reason == F.lit("malformed"), F.col(MALFORMED_REASON)).otherwise(reason)
    return parsed.withColumn(C.REASON, reason)


def _finish(
    classified: DataFrame, visits: DataFrame, counts: dict[str, Any], kind: str
) -> AdapterResult:
    """Count the classified records in one Spark job and package the result."""
    rows = (
        classified.groupBy(C.REASON)
        .agg(
            F.count(F.lit(1)).alias("records"),
            F.sum(F.when(F.col(_DWELL_CAPPED), 1).otherwise(0)).alias("capped"),
        )
        .collect()
    )
    rejected = {row[C.REASON]: int(row["records"]) for row in rows if row[C.REASON] is not None}
    accepted_rows = [row for row in rows if row[C.REASON] is None]
    accepted = int(accepted_rows[0]["records"]) if accepted_rows else 0
    capped = int(accepted_rows[0]["capped"] or 0) if accepted_rows else 0
    counts.update(
        {
            "read": accepted + sum(rejected.values()),
            "accepted": accepted,
            "rejected": dict(sorted(rejected.items())),
            "duplicates_removed": 0,
            "repaired": {"dwell_capped": capped} if kind == "visits" else {},
        }
    )
    logger.info(
        "read %d %s records from %s: %d accepted, %d rejected",
        counts["read"],
        kind,
        counts["source"],
        accepted,
        sum(rejected.values()),
    )
    rejected_frame = classified.filter(F.col(C.REASON).isNotNull()).select(
        C.RAW_RECORD, C.REASON, C.SOURCE_FILE
    )
    return AdapterResult(visits=visits, rejected=rejected_frame, counts=counts)


def read_visits_log(
    spark: SparkSession,
    path: str,
    *,
    input_format: str = "auto",
    sep: str = ",",
    header: bool = True,
    columns: Sequence[str] | None = None,
    user_col: str = C.USER_ID,
    room_col: str = C.ROOM_ID,
    start_col: str = C.START_TS,
    end_col: str = C.END_TS,
    time_format: str = "iso",
    min_ts: str = "2000-01-01",
    max_ts: str = "",
    max_dwell_s: float = 4 * 3600,
    max_id_length: int = 256,
) -> AdapterResult:
    """Read a log that already has one row per visit: user, room, start and end.

    Parameters
    ----------
    spark : SparkSession
        Active session.
    path : str
        File, folder or glob; JSON lines, delimited text or Parquet.
    input_format : str
        ``auto`` (from file suffixes), ``json``, ``csv`` or ``parquet``.
    sep, header, columns
        Delimited text only: the separator, whether each file starts with a header line,
        and the column names in file order. Without a header and without ``columns``, the
        file order is user, room, start, end (the ``*_col`` names in that order).
    user_col, room_col, start_col, end_col : str
        Source column names of the user, room, start and end.
    time_format : str
        ``iso`` (ISO-8601, UTC unless an offset is given), ``unix_s`` or ``unix_ms``.
    min_ts, max_ts : str
        Plausible range of start and end; empty ``max_ts`` means now + 1 day.
    max_dwell_s : float
        Dwell cap in seconds; capped visits are kept and counted in
        ``counts["repaired"]["dwell_capped"]``.
    max_id_length : int
        Longest accepted user or room id, in characters.

    Returns
    -------
    AdapterResult
        Visits with measured dwell (is_imputed false) and the accounting.
    """
    _check_choice(time_format, TIME_FORMATS, "time_format")
    min_micros, max_micros = ts_bounds(min_ts, max_ts)
    renames = {user_col: C.USER_ID, room_col: C.ROOM_ID, start_col: C.START_TS, end_col: C.END_TS}
    parsed, counts = _read_fields(
        spark,
        path,
        input_format=input_format,
        sep=sep,
        header=header,
        columns=columns,
        renames=renames,
    )
    start = parse_time(F.col(C.START_TS), time_format)
    end = parse_time(F.col(C.END_TS), time_format)
    typed = parsed.withColumn("_start", start).withColumn("_end", end)
    checks = _format_checks()
    checks += _missing_checks((C.USER_ID, C.ROOM_ID, C.START_TS, C.END_TS))
    checks += _id_checks(max_id_length)
    checks += [
        (F.col("_start").isNull() | F.col("_end").isNull(), "invalid_ts"),
        (
            _out_of_range(F.col("_start"), min_micros, max_micros)
            | _out_of_range(F.col("_end"), min_micros, max_micros),
            "ts_out_of_range",
        ),
        (F.col("_end") < F.col("_start"), "end_before_start"),
    ]
    dwell = (F.unix_micros(F.col("_end")) - F.unix_micros(F.col("_start"))).cast("double") / 1e6
    cap_micros = int(round(max_dwell_s * 1e6))
    classified = (
        _with_reason(typed, checks)
        .withColumn("_dwell", dwell)
        .withColumn(_DWELL_CAPPED, F.col(C.REASON).isNull() & (F.col("_dwell") > max_dwell_s))
    )
    capped_end = F.timestamp_micros(F.unix_micros(F.col("_start")) + F.lit(cap_micros))
    visits = classified.filter(F.col(C.REASON).isNull()).select(
        C.USER_ID,
        C.ROOM_ID,
        F.col("_start").alias(C.START_TS),
        F.when(F.col(_DWELL_CAPPED), capped_end).otherwise(F.col("_end")).alias(C.END_TS),
        F.least(F.col("_dwell"), F.lit(float(max_dwell_s))).alias(C.DWELL_S),
        F.lit(1).cast("long").alias(C.VISIT_COUNT),
        F.lit(False).alias(C.IS_IMPUTED),
    )
    return _finish(classified, visits, counts, "visits")


def read_checkins(
    spark: SparkSession,
    path: str,
    *,
    input_format: str = "auto",
    sep: str = "\t",
    header: bool = False,
    columns: Sequence[str] | None = None,
    user_col: str = C.USER_ID,
    room_col: str = C.ROOM_ID,
    ts_col: str = C.TS,
    time_format: str = "unix_s",
    min_ts: str = "2000-01-01",
    max_ts: str = "",
    max_id_length: int = 256,
) -> AdapterResult:
    """Read check-ins (user, room, time) without duration; each is one visit.

    The defaults read tab-separated ``user\\troom\\tunix_seconds`` lines without a header,
    the layout of public check-in data sets. Parameters are those of
    :func:`read_visits_log`, with ``ts_col`` naming the time column.

    Returns
    -------
    AdapterResult
        Visits with start_ts = end_ts = the check-in time, dwell_s null, visit_count 1.
    """
    _check_choice(time_format, TIME_FORMATS, "time_format")
    min_micros, max_micros = ts_bounds(min_ts, max_ts)
    parsed, counts = _read_fields(
        spark,
        path,
        input_format=input_format,
        sep=sep,
        header=header,
        columns=columns,
        renames={user_col: C.USER_ID, room_col: C.ROOM_ID, ts_col: C.TS},
    )
    typed = parsed.withColumn("_ts", parse_time(F.col(C.TS), time_format))
    checks = _format_checks()
    checks += _missing_checks((C.USER_ID, C.ROOM_ID, C.TS))
    checks += _id_checks(max_id_length)
    checks += [
        (F.col("_ts").isNull(), "invalid_ts"),
        (_out_of_range(F.col("_ts"), min_micros, max_micros), "ts_out_of_range"),
    ]
    classified = _with_reason(typed, checks).withColumn(_DWELL_CAPPED, F.lit(False))
    visits = classified.filter(F.col(C.REASON).isNull()).select(
        C.USER_ID,
        C.ROOM_ID,
        F.col("_ts").alias(C.START_TS),
        F.col("_ts").alias(C.END_TS),
        F.lit(None).cast("double").alias(C.DWELL_S),
        F.lit(1).cast("long").alias(C.VISIT_COUNT),
        F.lit(False).alias(C.IS_IMPUTED),
    )
    return _finish(classified, visits, counts, "checkins")


def read_aggregated(
    spark: SparkSession,
    path: str,
    *,
    input_format: str = "auto",
    sep: str = "\t",
    header: bool = True,
    columns: Sequence[str] | None = None,
    user_col: str = C.USER_ID,
    room_col: str = C.ROOM_ID,
    value_col: str = VALUE,
    value_kind: str = "count",
    value_unit: str = "seconds",
    max_id_length: int = 256,
) -> AdapterResult:
    """Read aggregated interactions: one row per user and room with a count or a duration.

    Parameters
    ----------
    value_col : str
        Source column of the value; ignored when ``value_kind`` is ``none``.
    value_kind : str
        ``count`` (a whole number of visits, at least 1), ``duration`` (total time spent,
        at least 0) or ``none`` (presence only).
    value_unit : str
        Unit of a duration: ``seconds``, ``minutes``, ``hours`` or ``days``.

    Other parameters are those of :func:`read_visits_log`. For tab-separated
    ``User_ID\\tGame_ID\\tHours`` files pass ``user_col="User_ID"``,
    ``room_col="Game_ID"``, ``value_col="Hours"``, ``value_kind="duration"`` and
    ``value_unit="hours"``.

    Returns
    -------
    AdapterResult
        Visits with start_ts and end_ts null. dwell_s is the duration in seconds, or null
        unless ``value_kind`` is ``duration``. visit_count is the count, or 1 unless
        ``value_kind`` is ``count``.
    """
    _check_choice(value_kind, VALUE_KINDS, "value_kind")
    _check_choice(value_unit, tuple(SECONDS_PER_UNIT), "value_unit")
    renames = {user_col: C.USER_ID, room_col: C.ROOM_ID}
    if value_kind != "none":
        renames[value_col] = VALUE
    parsed, counts = _read_fields(
        spark,
        path,
        input_format=input_format,
        sep=sep,
        header=header,
        columns=columns,
        renames=renames,
    )
    checks = _format_checks()
    checks += _missing_checks((C.USER_ID, C.ROOM_ID) + ((VALUE,) if value_kind != "none" else ()))
    checks += _id_checks(max_id_length)
    number = parse_number(F.col(VALUE)) if value_kind != "none" else F.lit(0.0)
    typed = parsed.withColumn("_value", number)
    if value_kind != "none":
        value = F.col("_value")
        not_finite = value.isNull() | F.isnan(value) | (F.abs(value) == F.lit(float("inf")))
        checks.append((not_finite, "invalid_value"))
        checks.append((value < F.lit(0.0), "negative_value"))
    if value_kind == "count":
        checks.append((F.col("_value") != F.floor(F.col("_value")), "invalid_value"))
        checks.append((F.col("_value") == F.lit(0.0), "zero_count"))
    classified = _with_reason(typed, checks).withColumn(_DWELL_CAPPED, F.lit(False))

    if value_kind == "duration":
        dwell = F.col("_value") * F.lit(SECONDS_PER_UNIT[value_unit])
    else:
        dwell = F.lit(None).cast("double")
    if value_kind == "count":
        visit_count = F.col("_value").cast("long")
    else:
        visit_count = F.lit(1).cast("long")
    visits = classified.filter(F.col(C.REASON).isNull()).select(
        C.USER_ID,
        C.ROOM_ID,
        F.lit(None).cast("timestamp").alias(C.START_TS),
        F.lit(None).cast("timestamp").alias(C.END_TS),
        dwell.alias(C.DWELL_S),
        visit_count.alias(C.VISIT_COUNT),
        F.lit(False).alias(C.IS_IMPUTED),
    )
    return _finish(classified, visits, counts, "aggregated")


def _split_options(
    options: dict[str, Any], function: Any, reserved: Sequence[str] = ()
) -> dict[str, Any]:
    """Move the keyword arguments that ``function`` accepts out of ``options``."""
    names = [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in reserved
    ]
    return {name: options.pop(name) for name in names if name in options}


def _load_events(spark: SparkSession, path: str, options: dict[str, Any]) -> LoadResult:
    read_options = _split_options(options, read_events)
    bot_options = _split_options(options, flag_bots)
    visit_options = _split_options(options, build_visits)
    _reject_unknown(options, "events", (read_events, flag_bots, build_visits))

    ingested = read_events(spark, path, **read_options)
    bot_result = flag_bots(ingested.accepted, **bot_options)
    human_events = exclude_bots(ingested.accepted, bot_result.bots)
    visits_result = build_visits(human_events, **visit_options)
    counts = dict(ingested.counts)
    counts["bots"] = bot_result.counts
    counts["visits"] = visits_result.counts
    return LoadResult(
        visits=visits_result.visits,
        rejected=ingested.rejected,
        bots=bot_result.bots,
        counts=counts,
        quality=reconcile(counts),
        events=ingested.accepted,
    )


def _reject_unknown(options: dict[str, Any], kind: str, functions: Sequence[Any]) -> None:
    if not options:
        return
    known = sorted(
        {
            name
            for function in functions
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
    )
    raise ValueError(
        f"unknown options for input_format={kind!r}: {sorted(options)}; known: " + ", ".join(known)
    )


_ADAPTERS = {
    "visits": read_visits_log,
    "checkins": read_checkins,
    "aggregated": read_aggregated,
}


def load_visits(spark: SparkSession, *, input_format: str, path: str, **options: Any) -> LoadResult:
    """Read a log of the given kind and return its visits, bots, counts and quality table.

    Parameters
    ----------
    spark : SparkSession
        Active session.
    input_format : str
        Kind of log: ``events`` (raw events; runs read_events, flag_bots, exclude_bots and
        build_visits), ``visits`` (:func:`read_visits_log`), ``checkins``
        (:func:`read_checkins`) or ``aggregated`` (:func:`read_aggregated`).
    path : str
        Input path, as the reader of that kind takes it.
    **options
        Keyword arguments of that kind's functions. The file format, which those functions
        call ``input_format``, is passed here as ``file_format``.

    Raises
    ------
    ValueError
        If ``input_format`` is not one of the kinds above, an option is unknown, or the
        counts do not reconcile.
    """
    _check_choice(input_format, LOAD_FORMATS, "input_format")
    options = dict(options)
    if "file_format" in options:
        options["input_format"] = options.pop("file_format")
    if input_format == "events":
        return _load_events(spark, path, options)

    reader = _ADAPTERS[input_format]
    reader_options = _split_options(options, reader)
    _reject_unknown(options, input_format, (reader,))
    result = reader(spark, path, **reader_options)
    return LoadResult(
        visits=result.visits.select(*VISIT_COLUMNS),
        rejected=result.rejected,
        bots=None,
        counts=result.counts,
        quality=reconcile(result.counts),
    )
