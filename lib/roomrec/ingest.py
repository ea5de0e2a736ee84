"""Read raw behavioural event logs, reject bad records with a reason, and count everything.

Every input record ends up in exactly one place: accepted, rejected with a reason code, or
removed as a duplicate of an accepted ``event_id``. :func:`reconcile` checks that these add
up. The reason codes are listed in ``docs/input-schemas.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.record_parsing import (
    BLANK,
    EVENT_FIELDS,
    MALFORMED,
    MALFORMED_REASON,
    first_line,
    is_blank,
    parse_csv_lines,
    parse_json_lines,
    parse_parquet,
    split_header,
    type_ok_column,
)
from roomrec.sources import resolve_input

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = (C.EVENT_ID, C.TS, C.USER_ID, C.EVENT_TYPE)
ID_FIELDS = (C.EVENT_ID, C.USER_ID, C.ROOM_ID)

# ISO-8601 date and time with optional fraction and zone; a missing zone means UTC.
ISO_TS_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$"
_ZONE_PATTERN = r"(Z|[+-]\d{2}:?\d{2})$"
_DUPLICATE_RANK = "_duplicate_rank"


class RejectedShareError(ValueError):
    """Raised when the share of rejected records is above ``max_rejected_share``."""


class ReconciliationError(ValueError):
    """Raised when the counts of a stage do not add up to the records it read."""


@dataclass
class IngestResult:
    """Outcome of reading one log.

    Attributes
    ----------
    accepted : DataFrame
        Typed records that passed every check, duplicates removed.
    rejected : DataFrame
        ``raw`` (the input record as text), ``reason`` (a reason code) and ``source_file``.
    counts : dict
        ``read``, ``accepted``, ``rejected`` (reason code to count), ``duplicates_removed``,
        ``repaired`` (repair code to count of records changed but kept), plus ``source``,
        ``input_format`` and ``files``. Plain Python values, small enough to log.
    stored : DataFrame or None
        The persisted frame that ``accepted`` and ``rejected`` are read from.
    """

    accepted: DataFrame
    rejected: DataFrame
    counts: dict[str, Any] = field(default_factory=dict)
    stored: DataFrame | None = field(default=None, repr=False)

    def unpersist(self) -> None:
        """Release the persisted frame behind ``accepted`` and ``rejected``."""
        if self.stored is not None:
            self.stored.unpersist()


def parse_utc_bound(value: str, name: str) -> int:
    """Parse an ISO-8601 date or timestamp into microseconds since the epoch, UTC.

    A value without a zone is read as UTC.

    Raises
    ------
    ValueError
        If ``value`` is not ISO-8601.
    """
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(
            f"invalid {name} {value!r}: expected an ISO-8601 date or timestamp such as "
            "'2000-01-01' or '2026-01-05T13:04:55Z'"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (moment - epoch) // dt.timedelta(microseconds=1)


def ts_bounds(min_ts: str, max_ts: str) -> tuple[int, int]:
    """Return the plausible ``ts`` range in epoch microseconds; empty ``max_ts`` is now + 1 day.

    Raises
    ------
    ValueError
        If a bound is not ISO-8601 or the range is empty.
    """
    min_micros = parse_utc_bound(min_ts, "min_ts")
    if max_ts:
        max_micros = parse_utc_bound(max_ts, "max_ts")
    else:
        tomorrow = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        max_micros = parse_utc_bound(tomorrow.isoformat(), "max_ts")
    if max_micros <= min_micros:
        raise ValueError(f"max_ts {max_ts!r} must be later than min_ts {min_ts!r}")
    return min_micros, max_micros


def parse_iso_ts(text: Column) -> Column:
    """Convert ISO-8601 strings to UTC timestamps; null where the text is not ISO-8601.

    An offset such as ``+02:00`` is applied; a string without ``Z`` or offset is read as
    UTC whatever the session time zone is.
    """
    trimmed = F.trim(text)
    zoned = F.when(trimmed.rlike(_ZONE_PATTERN), trimmed).otherwise(F.concat(trimmed, F.lit("Z")))
    # The pattern admits impossible values such as month 13. A plain cast turns those into
    # null on Spark 3.5 but raises on Spark 4, where ANSI mode is on by default, so the
    # conversion goes through try_to_timestamp, which returns null on both.
    return F.when(trimmed.rlike(ISO_TS_PATTERN), F.try_to_timestamp(zoned))


def first_failing_reason(checks: list[tuple[Column, str]]) -> Column:
    """Return the reason of the first failing check, or null when all pass."""
    reason = F.lit(None).cast("string")
    for failed, code in reversed(checks):
        reason = F.when(failed, F.lit(code)).otherwise(reason)
    return reason


def _rejection_reason(ts: Column, min_micros: int, max_micros: int, max_id_length: int) -> Column:
    """Build the reason-code column; the order of the checks is the documented precedence."""
    is_room_event = F.col(C.EVENT_TYPE).isin(*C.ROOM_EVENT_TYPES)
    checks: list[tuple[Column, str]] = [
        (F.col(BLANK), "blank_line"),
        (F.col(MALFORMED), "malformed"),
    ]
    checks += [(F.col(name).isNull(), f"missing_field:{name}") for name in REQUIRED_FIELDS]
    checks += [(~F.col(type_ok_column(name)), f"wrong_type:{name}") for name in EVENT_FIELDS]
    for name in ID_FIELDS:
        empty = is_blank(F.col(name))
        if name == C.ROOM_ID:
            empty = empty & is_room_event
        checks.append((empty, f"empty_id:{name}"))
    checks += [
        (F.length(F.col(name)) > F.lit(max_id_length), f"id_too_long:{name}") for name in ID_FIELDS
    ]
    checks += [
        (~F.col(C.EVENT_TYPE).isin(*C.EVENT_TYPES), "unknown_event_type"),
        (is_room_event & F.col(C.ROOM_ID).isNull(), "missing_room_id"),
        (ts.isNull(), "invalid_ts"),
        (
            (F.unix_micros(ts) < F.lit(min_micros)) | (F.unix_micros(ts) > F.lit(max_micros)),
            "ts_out_of_range",
        ),
    ]
    reason = first_failing_reason(checks)
    # The malformed check carries the format-specific code (malformed_json, malformed_csv).
    return F.when(reason == F.lit("malformed"), F.col(MALFORMED_REASON)).otherwise(reason)


def classify_events(
    parsed: DataFrame, *, min_micros: int, max_micros: int, max_id_length: int
) -> DataFrame:
    """Add typed ``ts``, ``reason`` and duplicate rank columns to a parsed event frame."""
    ts = parse_iso_ts(F.col(C.TS))
    reason = _rejection_reason(F.col("_ts_parsed"), min_micros, max_micros, max_id_length)
    # An empty room_id on an event that needs no room carries no information.
    room_id = F.when(~is_blank(F.col(C.ROOM_ID)), F.col(C.ROOM_ID))
    classified = (
        parsed.withColumn("_ts_parsed", ts)
        .withColumn(C.REASON, reason)
        .withColumn(C.ROOM_ID, room_id)
    )
    # Duplicates keep the first copy by content, so the survivor does not depend on file
    # order. Rejected rows are spread by a hash of their text instead of one null key.
    valid = F.col(C.REASON).isNull()
    dedup_key = F.when(valid, F.col(C.EVENT_ID)).otherwise(
        F.xxhash64(F.col(C.RAW_RECORD), F.col(C.SOURCE_FILE)).cast("string")
    )
    by_event_id = Window.partitionBy(valid, dedup_key).orderBy(
        F.col("_ts_parsed").asc(),
        F.col(C.USER_ID).asc(),
        F.col(C.EVENT_TYPE).asc(),
        F.col(C.ROOM_ID).asc_nulls_first(),
        F.col(C.SCREEN).asc_nulls_first(),
        F.col(C.RAW_RECORD).asc(),
        F.col(C.SOURCE_FILE).asc(),
    )
    return classified.withColumn(_DUPLICATE_RANK, F.row_number().over(by_event_id))


def count_classified(classified: DataFrame) -> tuple[int, dict[str, int], int, int]:
    """Count read, rejected per reason, duplicates removed and accepted in one Spark job."""
    rows = (
        classified.groupBy(C.REASON)
        .agg(
            F.count(F.lit(1)).alias("records"),
            F.sum(F.when(F.col(_DUPLICATE_RANK) > 1, 1).otherwise(0)).alias("duplicates"),
        )
        .collect()
    )
    read = 0
    rejected: dict[str, int] = {}
    duplicates = 0
    accepted = 0
    for row in rows:
        read += row["records"]
        if row[C.REASON] is None:
            duplicates += row["duplicates"]
            accepted += row["records"] - row["duplicates"]
        else:
            rejected[row[C.REASON]] = row["records"]
    return read, dict(sorted(rejected.items())), duplicates, accepted


def read_events(
    spark: SparkSession,
    path: str,
    *,
    input_format: str = "auto",
    start_date: str = "",
    end_date: str = "",
    min_ts: str = "2000-01-01",
    max_ts: str = "",
    max_id_length: int = 256,
) -> IngestResult:
    """Read raw events, reject invalid records with a reason and remove duplicate ids.

    Parameters
    ----------
    spark : SparkSession
        Active session.
    path : str
        Events folder (``<data_dir>/events`` with ``date=YYYY-MM-DD`` folders), a file or a
        glob; local, ``hdfs://`` or ``s3://``.
    input_format : str
        ``auto`` (from file suffixes), ``json`` (JSON lines, optionally compressed),
        ``csv`` (with a header line) or ``parquet``.
    start_date, end_date : str
        Inclusive ``YYYY-MM-DD`` range of ``date=`` folders to read; empty reads all.
    min_ts, max_ts : str
        Plausible range of ``ts`` (ISO-8601, UTC unless a zone is given). Empty ``max_ts``
        means one day after now, which tolerates clock skew but not a wrong year.
    max_id_length : int
        Longest accepted ``event_id``, ``user_id`` or ``room_id``, in characters.

    Returns
    -------
    IngestResult
        ``accepted`` has event_id, ts (UTC timestamp), user_id, event_type, room_id and
        screen. ``counts`` is computed here, by one Spark job over the input.

    Notes
    -----
    ``accepted`` and ``rejected`` come from one frame persisted with MEMORY_AND_DISK and
    filled by the counting job. Call ``IngestResult.unpersist()`` when done with them.

    A compressed file that is cut short (for example a ``.gz`` from an interrupted copy)
    fails the counting job with Spark's read error, because its remaining lines cannot be
    read or counted.
    """
    files = resolve_input(spark, path, input_format, start_date, end_date)
    min_micros, max_micros = ts_bounds(min_ts, max_ts)
    if max_id_length < 1:
        raise ValueError(f"max_id_length must be at least 1, got {max_id_length}")

    if files.input_format == "json":
        parsed = parse_json_lines(spark, files.paths)
    elif files.input_format == "csv":
        header_line = first_line(spark, files.paths[0])
        columns = split_header(header_line, ",")
        parsed = parse_csv_lines(spark, files.paths, columns, sep=",", header_line=header_line)
    else:
        parsed = parse_parquet(spark, files.paths)

    classified = classify_events(
        parsed, min_micros=min_micros, max_micros=max_micros, max_id_length=max_id_length
    )
    # The counting job below parses the input once and fills this persisted frame, so later
    # actions (bots, visits, rejected records) do not parse it again. Only rejected rows
    # keep their raw text, which is most of a row's size.
    is_rejected = F.col(C.REASON).isNotNull()
    stored = classified.select(
        C.EVENT_ID,
        "_ts_parsed",
        C.USER_ID,
        C.EVENT_TYPE,
        C.ROOM_ID,
        C.SCREEN,
        C.REASON,
        _DUPLICATE_RANK,
        F.when(is_rejected, F.col(C.RAW_RECORD)).alias(C.RAW_RECORD),
        F.when(is_rejected, F.col(C.SOURCE_FILE)).alias(C.SOURCE_FILE),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    accepted = stored.filter(
        F.col(C.REASON).isNull() & (F.col(_DUPLICATE_RANK) == F.lit(1))
    ).select(
        C.EVENT_ID,
        F.col("_ts_parsed").alias(C.TS),
        C.USER_ID,
        C.EVENT_TYPE,
        C.ROOM_ID,
        C.SCREEN,
    )
    rejected = stored.filter(is_rejected).select(C.RAW_RECORD, C.REASON, C.SOURCE_FILE)
    read, rejected_counts, duplicates, accepted_count = count_classified(stored)
    counts: dict[str, Any] = {
        "source": path,
        "input_format": files.input_format,
        "files": len(files.paths),
        "read": read,
        "accepted": accepted_count,
        "rejected": rejected_counts,
        "duplicates_removed": duplicates,
        "repaired": {},
    }
    logger.info(
        "read %d event records from %d files: %d accepted, %d rejected, %d duplicates removed",
        read,
        len(files.paths),
        accepted_count,
        sum(rejected_counts.values()),
        duplicates,
    )
    return IngestResult(accepted=accepted, rejected=rejected, counts=counts, stored=stored)


def rejected_share(counts: dict[str, Any]) -> float:
    """Return rejected records over records read; 0.0 when nothing was read."""
    read = counts.get("read", 0)
    if not read:
        return 0.0
    return sum(counts.get("rejected", {}).values()) / read


def check_rejected_share(
    counts: dict[str, Any], max_rejected_share: float = 0.05, source: str = ""
) -> float:
    """Raise when too large a share of the records was rejected; return the share.

    Raises
    ------
    RejectedShareError
        If rejected / read is above ``max_rejected_share``.
    """
    share = rejected_share(counts)
    where = source or counts.get("source", "") or "the input"
    if counts.get("read", 0) == 0:
        logger.warning("no records were read from %s", where)
    if share > max_rejected_share:
        reasons = counts.get("rejected", {})
        top = sorted(reasons.items(), key=lambda item: -item[1])[:3]
        listed = ", ".join(f"{code}={number}" for code, number in top)
        raise RejectedShareError(
            f"{share:.1%} of the {counts.get('read', 0)} records read from {where} were "
            f"rejected, above max_rejected_share={max_rejected_share:.1%} (top reasons: "
            f"{listed}). A sudden rise usually means the upstream format changed: inspect "
            "the rejected records with write_rejected(), then fix the input or raise "
            "max_rejected_share."
        )
    logger.info(
        "rejected share of %s: %.3f%% (limit %.3f%%)", where, 100 * share, 100 * max_rejected_share
    )
    return share


class HasRejected(Protocol):
    """Any result with a ``rejected`` frame: IngestResult, AdapterResult or LoadResult."""

    rejected: DataFrame


def write_rejected(result: HasRejected, out_dir: str) -> None:
    """Write rejected records as JSON lines under ``out_dir/reason=<code>/``, overwriting."""
    result.rejected.write.mode("overwrite").partitionBy(C.REASON).json(out_dir)
    logger.info("wrote rejected records to %s", out_dir)


def _table_row(stage: str, reason: str, count: int, base: int) -> dict[str, Any]:
    return {
        "stage": stage,
        "reason": reason,
        "count": int(count),
        "share": (count / base) if base else 0.0,
    }


def reconcile(counts: dict[str, Any]) -> pd.DataFrame:
    """Build the data-quality table and check that every record is accounted for.

    Rows have ``stage``, ``reason``, ``count`` and ``share``. Read-stage shares are of the
    records read; visit-stage shares are of the ``room_enter`` events that reached
    sessionization.

    Raises
    ------
    ReconciliationError
        If read != accepted + rejected + duplicates removed, or if the visit counts do not
        add up to the room_enter events.
    """
    read = int(counts.get("read", 0))
    accepted = int(counts.get("accepted", 0))
    rejected = counts.get("rejected", {})
    duplicates = int(counts.get("duplicates_removed", 0))
    rows = [
        _table_row("read", "", read, read),
        _table_row("accepted", "", accepted, read),
    ]
    rows += [_table_row("rejected", code, number, read) for code, number in rejected.items()]
    rows.append(_table_row("repaired", "duplicate_removed", duplicates, read))
    # Other repairs change accepted records without removing them, for example a capped dwell.
    for code, number in counts.get("repaired", {}).items():
        rows.append(_table_row("repaired", code, number, read))
    total = accepted + sum(rejected.values()) + duplicates
    if total != read:
        raise ReconciliationError(
            f"records do not add up for {counts.get('source', 'the input')}: read={read} but "
            f"accepted={accepted} + rejected={sum(rejected.values())} + "
            f"duplicates_removed={duplicates} = {total}; a stage lost or duplicated records"
        )

    bots = counts.get("bots")
    if bots:
        rows.append(_table_row("bots", "bot_users", bots.get("users", 0), read))
        rows.append(_table_row("bots", "bot_events_removed", bots.get("events_removed", 0), read))

    visits = counts.get("visits")
    if visits:
        enters = int(visits.get("room_enters", 0))
        for key, value in visits.items():
            rows.append(_table_row("visits", key, value, enters))
        built = int(visits.get("visits", 0)) + int(visits.get("unknown_room_removed", 0))
        if built != enters:
            raise ReconciliationError(
                f"visits do not add up: {enters} room_enter events but visits="
                f"{visits.get('visits', 0)} + unknown_room_removed="
                f"{visits.get('unknown_room_removed', 0)}; each room_enter must give one visit"
            )
    return pd.DataFrame(rows, columns=["stage", "reason", "count", "share"])
