"""Train, validation and test splits: temporal for logs with timestamps, random otherwise.

A temporal split evaluates the model the way it is used: trained on the past, asked about
the next days. Validation is for tuning, with train ending where validation starts. The
final model trains on train plus validation and is scored on test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from roomrec import columns as C

logger = logging.getLogger(__name__)

TRAIN = "train"
VALIDATION = "validation"
TEST = "test"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Hash values are reduced modulo this number to a fraction in [0, 1).
_HASH_BUCKETS = 1_000_000_000


@dataclass(frozen=True)
class TemporalSplit:
    """Visits split at two cut timestamps.

    Attributes
    ----------
    train : DataFrame
        Visits with ``start_ts`` before ``validation_start``.
    validation : DataFrame
        Visits with ``validation_start <= start_ts < test_start``.
    test : DataFrame
        Visits with ``start_ts >= test_start``.
    validation_start, test_start : str
        Cut timestamps, ISO 8601 in UTC. A visit exactly at a cut belongs to the later part.
    end : str
        Latest ``start_ts`` in the data, ISO 8601 in UTC.
    """

    train: DataFrame
    validation: DataFrame
    test: DataFrame
    validation_start: str
    test_start: str
    end: str

    @property
    def train_plus_validation(self) -> DataFrame:
        """Visits before ``test_start``: the training data of the final model."""
        return self.train.unionByName(self.validation)


@dataclass(frozen=True)
class RandomSplit:
    """Interactions split at random per (user, room) pair and stored as Parquet.

    Attributes
    ----------
    train, validation, test : DataFrame
        The parts, read back from ``path``. Each has the input columns plus ``split``.
    path : str
        Parquet folder, partitioned by ``split``.
    seed : int
        Hash seed of the assignment.
    fractions : tuple of float
        Train, validation and test fractions.
    """

    train: DataFrame
    validation: DataFrame
    test: DataFrame
    path: str
    seed: int
    fractions: tuple[float, float, float]

    @property
    def train_plus_validation(self) -> DataFrame:
        """Pairs outside the test part: the training data of the final model."""
        return self.train.unionByName(self.validation)


def parse_utc(value: str) -> datetime:
    """Parse an ISO 8601 date or timestamp, taking a value without an offset as UTC."""
    try:
        stamp = pd.Timestamp(value)
    except ValueError as error:
        raise ValueError(
            f"invalid timestamp {value!r}: use ISO 8601 such as '2024-03-25' or "
            "'2024-03-25T00:00:00Z'"
        ) from error
    if pd.isna(stamp):
        raise ValueError(f"invalid timestamp {value!r}: use ISO 8601 such as '2024-03-25'")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _epoch_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def utc_timestamp_literal(moment: datetime) -> Column:
    """Build a Spark timestamp literal for ``moment``; a naive datetime is taken as UTC.

    The literal is built from integer epoch microseconds, which are exact and, unlike a
    timestamp string, do not depend on the session time zone.
    """
    return F.expr(f"timestamp_micros({_epoch_micros(moment)})")


def latest_timestamp(frame: DataFrame, column: str = C.START_TS) -> tuple[datetime | None, int]:
    """Return the latest value of a timestamp column as an aware UTC datetime, and its nulls.

    The latest value is None when the column is all null or the frame is empty. Reading it
    as epoch microseconds keeps it exact and independent of the Python process time zone,
    which collected timestamps would be converted to.
    """
    summary = frame.agg(
        F.max(F.expr(f"unix_micros({column})")).alias("_max_micros"),
        F.sum(F.when(F.col(column).isNull(), 1).otherwise(0)).alias("_null_count"),
    ).first()
    null_count = int(summary["_null_count"] or 0)
    if summary["_max_micros"] is None:
        return None, null_count
    return _EPOCH + timedelta(microseconds=summary["_max_micros"]), null_count


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _start_of_next_utc_day(moment: datetime) -> datetime:
    day = moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def _require_non_negative_days(name: str, days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"invalid {name}={days!r}: pass a whole number of days, 0 or more")


def temporal_split(
    visits: DataFrame,
    *,
    validation_days: int = 7,
    test_days: int = 7,
    test_start: str = "",
    validation_start: str = "",
) -> TemporalSplit:
    """Split visits by ``start_ts`` into train, validation and test.

    Parameters
    ----------
    visits : DataFrame
        Visits with ``start_ts`` (timestamp). Visits with a null ``start_ts`` fall in no
        part, and their count is logged.
    validation_days : int
        Length of the validation window before ``test_start``, used when
        ``validation_start`` is empty. 0 gives an empty validation part.
    test_days : int
        Length of the test window, used when ``test_start`` is empty.
    test_start : str
        Start of the test window (ISO 8601, UTC when no offset is given). Empty derives it
        from the data: test covers the last ``test_days`` UTC calendar days up to the day of
        the latest ``start_ts``, so the cut falls on a UTC midnight.
    validation_start : str
        Start of the validation window. Empty means ``test_start`` minus
        ``validation_days`` days.

    Returns
    -------
    TemporalSplit
        The three parts and the cut timestamps. A visit exactly at a cut goes to the later
        part.

    Raises
    ------
    ValueError
        If ``start_ts`` is missing or all null, or if ``validation_start`` is after
        ``test_start``.
    """
    _require_non_negative_days("validation_days", validation_days)
    _require_non_negative_days("test_days", test_days)
    if C.START_TS not in visits.columns:
        raise ValueError(
            f"visits has no '{C.START_TS}' column (columns: {visits.columns}); a temporal "
            "split needs visit timestamps, so use random_split for data without them"
        )

    end, null_count = latest_timestamp(visits, C.START_TS)
    if end is None:
        raise ValueError(
            f"every '{C.START_TS}' is null, so a temporal split is impossible; "
            "use random_split for data without timestamps"
        )
    if null_count:
        logger.warning("%d visits have no %s and belong to no split part", null_count, C.START_TS)

    if test_start:
        test_cut = parse_utc(test_start)
    else:
        test_cut = _start_of_next_utc_day(end) - timedelta(days=test_days)
    if validation_start:
        validation_cut = parse_utc(validation_start)
    else:
        validation_cut = test_cut - timedelta(days=validation_days)
    if validation_cut > test_cut:
        raise ValueError(
            f"invalid cuts: validation_start {_iso(validation_cut)} is after test_start "
            f"{_iso(test_cut)}; pass a validation_start on or before test_start"
        )

    start_ts = F.col(C.START_TS)
    validation_literal = utc_timestamp_literal(validation_cut)
    test_literal = utc_timestamp_literal(test_cut)
    split = TemporalSplit(
        train=visits.filter(start_ts < validation_literal),
        validation=visits.filter((start_ts >= validation_literal) & (start_ts < test_literal)),
        test=visits.filter(start_ts >= test_literal),
        validation_start=_iso(validation_cut),
        test_start=_iso(test_cut),
        end=_iso(end),
    )
    logger.info(
        "temporal split: validation_start=%s test_start=%s end=%s",
        split.validation_start,
        split.test_start,
        split.end,
    )
    return split


def _validate_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    values = tuple(float(value) for value in fractions)
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(
            f"invalid fractions {fractions!r}: pass three non-negative numbers (train, "
            "validation, test) that sum to 1, such as (0.8, 0.1, 0.1)"
        )
    return values  # type: ignore[return-value]


def assign_random_split(
    interactions: DataFrame,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
) -> DataFrame:
    """Add ``split`` from a hash of (``user_id``, ``room_id``, seed), without writing.

    The hash depends only on the row's ids and the seed, never on partitioning or row
    order, so the same pair lands in the same part on every run.
    """
    train_fraction, validation_fraction, _ = _validate_fractions(fractions)
    missing = [name for name in (C.USER_ID, C.ROOM_ID) if name not in interactions.columns]
    if missing:
        raise ValueError(
            f"interactions is missing {missing} (columns: {interactions.columns}); the split "
            "hashes the raw string ids so that it does not depend on the dense indexes"
        )
    hashed = F.xxhash64(F.col(C.USER_ID), F.col(C.ROOM_ID), F.lit(seed))
    fraction = F.pmod(hashed, F.lit(_HASH_BUCKETS)) / F.lit(float(_HASH_BUCKETS))
    part = (
        F.when(fraction < train_fraction, TRAIN)
        .when(fraction < train_fraction + validation_fraction, VALIDATION)
        .otherwise(TEST)
    )
    return interactions.withColumn(C.SPLIT, part)


def random_split(
    interactions: DataFrame,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    path: str,
) -> RandomSplit:
    """Split (user, room) interactions at random, write the split to Parquet and read it back.

    Parameters
    ----------
    interactions : DataFrame
        One row per (user, room) with ``user_id`` and ``room_id``.
    fractions : tuple of float
        Train, validation and test fractions, summing to 1. The realized fractions are close
        to these but not exact.
    seed : int
        Hash seed: another seed gives another split.
    path : str
        Parquet folder for the split, partitioned by ``split``. It is overwritten.

    Returns
    -------
    RandomSplit
        The parts, read back from ``path``.
    """
    values = _validate_fractions(fractions)
    assigned = assign_random_split(interactions, fractions=values, seed=seed)
    # The split is written and read back because Spark recomputes an unpersisted DataFrame
    # from its lineage each time it is used. The hash is stable, but the input may not be:
    # an upstream sample, a rand() column or a changed source file would give train and
    # test of different runs, so pairs could leak between them. Disk pins one assignment.
    assigned.write.mode("overwrite").partitionBy(C.SPLIT).parquet(path)
    stored = interactions.sparkSession.read.parquet(path)
    logger.info("random split with seed %d written to %s", seed, path)
    return RandomSplit(
        train=stored.filter(F.col(C.SPLIT) == TRAIN),
        validation=stored.filter(F.col(C.SPLIT) == VALIDATION),
        test=stored.filter(F.col(C.SPLIT) == TEST),
        path=path,
        seed=seed,
        fractions=values,
    )
