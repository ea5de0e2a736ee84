"""Turn visits into the user x room interaction matrix that ALS trains on.

Each (user, room) pair becomes one row with its visit count, total dwell time, first and
last visit and an own-room flag. A confidence scheme turns these into the single value
ALS reads; in implicit-feedback ALS (Hu, Koren and Volinsky, 2008) that value r becomes
the confidence ``1 + alpha * r`` that the user prefers the room.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C

logger = logging.getLogger(__name__)

CONFIDENCE_SCHEMES = ("visits", "log_visits", "dwell", "visits_dwell", "bm25")
NORMALIZATIONS = ("none", "user_max")


def aggregate_visits(visits: DataFrame, rooms: DataFrame | None = None) -> DataFrame:
    """Aggregate visits to one row per (user, room).

    Parameters
    ----------
    visits : DataFrame
        Visits with ``user_id``, ``room_id``, ``start_ts``, ``dwell_s`` and ``visit_count``.
        ``dwell_s`` may be null (check-ins have no duration); it then counts as 0.
    rooms : DataFrame, optional
        Rooms table with ``room_id`` and ``owner_id``; without it no room is marked as the
        user's own.

    Returns
    -------
    DataFrame
        ``user_id``, ``room_id``, ``visit_count``, ``dwell_total_s``, ``first_visit_ts``,
        ``last_visit_ts``, ``is_own_room``.
    """
    pairs = (
        visits
        .groupBy(C.USER_ID, C.ROOM_ID)
        .agg(
            F.sum(F.coalesce(F.col(C.VISIT_COUNT), F.lit(1))).cast("long").alias(C.VISIT_COUNT),
            F.sum(F.coalesce(F.col(C.DWELL_S), F.lit(0.0))).alias(C.DWELL_TOTAL_S),
            F.min(C.START_TS).alias(C.FIRST_VISIT_TS),
            F.max(C.START_TS).alias(C.LAST_VISIT_TS),
        )
    )
    if rooms is None:
        return pairs.withColumn(C.IS_OWN_ROOM, F.lit(False))
    owners = rooms.select(
        F.col(C.ROOM_ID),
        F.col(C.OWNER_ID).alias("_owner_id"),
    )
    return (
        pairs
        .join(owners, on=C.ROOM_ID, how="left")
        .withColumn(
            C.IS_OWN_ROOM,
            F.coalesce(F.col("_owner_id") == F.col(C.USER_ID), F.lit(False)),
        )
        .drop("_owner_id")
        .select(C.USER_ID, C.ROOM_ID, C.VISIT_COUNT, C.DWELL_TOTAL_S,
                C.FIRST_VISIT_TS, C.LAST_VISIT_TS, C.IS_OWN_ROOM)
    )


def confidence_value(
    scheme: str,
    *,
    dwell_unit_s: float = 60.0,
    dwell_weight: float = 1.0,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
) -> Column:
    """Return the Spark expression of a confidence scheme, before normalization.

    Parameters
    ----------
    scheme : str
        ``visits``: the visit count n. ``log_visits``: log(1 + n), which tapers the users
        who sit in one room all day. ``dwell``: log(1 + dwell / dwell_unit_s).
        ``visits_dwell``: log(1 + n) + dwell_weight * log(1 + dwell / dwell_unit_s).
        ``bm25``: the BM25 term weight of n, n (k1 + 1) / (n + k1 (1 - b + b L / L_avg)),
        where L is the user's total visits and L_avg its mean over users, times the room's
        inverse document frequency log(N / df); it tapers heavy repeat visitors and
        rooms that everybody enters. The ``bm25`` expression reads the helper columns
        that :func:`add_confidence` adds.
    dwell_unit_s : float
        Seconds per dwell unit; with 60, dwell is counted in minutes.
    dwell_weight : float
        Weight of the dwell term in ``visits_dwell``.
    bm25_k1, bm25_b : float
        BM25 saturation and length-normalization constants.

    Raises
    ------
    ValueError
        If ``scheme`` is not one of :data:`CONFIDENCE_SCHEMES`.
    """
    visits = F.col(C.VISIT_COUNT).cast("double")
    dwell = F.log1p(F.col(C.DWELL_TOTAL_S) / F.lit(float(dwell_unit_s)))
    if scheme == "visits":
        return visits
    if scheme == "log_visits":
        return F.log1p(visits)
    if scheme == "dwell":
        return dwell
    if scheme == "visits_dwell":
        return F.log1p(visits) + F.lit(float(dwell_weight)) * dwell
    if scheme == "bm25":
        length_ratio = F.col("_user_visits") / F.col("_mean_user_visits")
        saturation = (visits * F.lit(bm25_k1 + 1.0)) / (
            visits + F.lit(bm25_k1) * (F.lit(1.0 - bm25_b) + F.lit(bm25_b) * length_ratio)
        )
        idf = F.log(F.col("_n_users") / F.col("_room_users"))
        return saturation * idf
    raise ValueError(
        f"unknown confidence_scheme {scheme!r}; choose one of {', '.join(CONFIDENCE_SCHEMES)}"
    )


def add_confidence(
    interactions: DataFrame,
    scheme: str = "log_visits",
    *,
    own_room_weight: float = 0.0,
    normalization: str = "none",
    dwell_unit_s: float = 60.0,
    dwell_weight: float = 1.0,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
) -> DataFrame:
    """Add the ``confidence`` column that ALS trains on.

    Parameters
    ----------
    interactions : DataFrame
        Output of :func:`aggregate_visits`.
    scheme : str
        Confidence scheme; see :func:`confidence_value`.
    own_room_weight : float
        Multiplier for rows of rooms the user owns. Owners enter their own rooms far more
        often than any other, which reveals little about taste and would dominate the
        factors; 0 (the default) drops those rows.
    normalization : str
        ``none``, or ``user_max`` to divide each user's values by that user's maximum so
        heavy and light users span the same 0-1 range and alpha means the same for both.
    dwell_unit_s, dwell_weight, bm25_k1, bm25_b : float
        Passed to :func:`confidence_value`.

    Returns
    -------
    DataFrame
        The input with ``confidence`` added, rows with a confidence of 0 or less removed.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"unknown confidence_normalization {normalization!r}; "
            f"choose one of {', '.join(NORMALIZATIONS)}"
        )
    if own_room_weight < 0:
        raise ValueError(
            f"own_room_weight must be 0 or more, got {own_room_weight}; use 0 to drop "
            "own-room visits"
        )
    frame = interactions
    if own_room_weight == 0:
        frame = frame.filter(~F.col(C.IS_OWN_ROOM))
    if scheme == "bm25":
        frame = _with_bm25_statistics(frame)
    value = confidence_value(
        scheme,
        dwell_unit_s=dwell_unit_s,
        dwell_weight=dwell_weight,
        bm25_k1=bm25_k1,
        bm25_b=bm25_b,
    )
    weight = F.when(F.col(C.IS_OWN_ROOM), F.lit(float(own_room_weight))).otherwise(F.lit(1.0))
    frame = frame.withColumn(C.CONFIDENCE, value * weight)
    if normalization == "user_max":
        by_user = Window.partitionBy(C.USER_ID)
        frame = frame.withColumn(
            C.CONFIDENCE, F.col(C.CONFIDENCE) / F.max(C.CONFIDENCE).over(by_user)
        )
    helper_columns = [name for name in frame.columns if name.startswith("_")]
    return frame.drop(*helper_columns).filter(F.col(C.CONFIDENCE) > 0)


def _with_bm25_statistics(frame: DataFrame) -> DataFrame:
    by_user = Window.partitionBy(C.USER_ID)
    by_room = Window.partitionBy(C.ROOM_ID)
    totals = frame.agg(
        F.countDistinct(C.USER_ID).cast("double").alias("_n_users"),
        F.sum(C.VISIT_COUNT).cast("double").alias("_all_visits"),
    )
    return (
        frame
        .withColumn("_user_visits", F.sum(C.VISIT_COUNT).over(by_user).cast("double"))
        .withColumn("_room_users", F.count(F.lit(1)).over(by_room).cast("double"))
        .crossJoin(F.broadcast(totals))  # one row of totals, not users x rooms
        .withColumn("_mean_user_visits", F.col("_all_visits") / F.col("_n_users"))
        # A room entered by every user would get idf 0; +1 keeps its rows in the matrix.
        .withColumn("_n_users", F.col("_n_users") + F.lit(1.0))
    )


@dataclass
class SupportFilterResult:
    """Interactions kept by :func:`filter_support` and how many were removed."""

    interactions: DataFrame
    counts: dict


def filter_support(
    interactions: DataFrame, *, min_user_rooms: int = 1, min_room_users: int = 1
) -> SupportFilterResult:
    """Keep users with at least ``min_user_rooms`` rooms and rooms with ``min_room_users`` users.

    One pass of each filter, rooms first: a second pass could remove more, but repeating
    until nothing changes would cost a job per round for little effect on ALS.
    """
    counts = {"pairs_in": interactions.count()}
    room_users = interactions.groupBy(C.ROOM_ID).agg(F.count(F.lit(1)).alias("_users"))
    kept = (
        interactions
        .join(room_users.filter(F.col("_users") >= min_room_users), on=C.ROOM_ID, how="left_semi")
    )
    user_rooms = kept.groupBy(C.USER_ID).agg(F.count(F.lit(1)).alias("_rooms"))
    kept = kept.join(
        user_rooms.filter(F.col("_rooms") >= min_user_rooms), on=C.USER_ID, how="left_semi"
    )
    counts["pairs_out"] = kept.count()
    counts["pairs_removed"] = counts["pairs_in"] - counts["pairs_out"]
    logger.info("support filter kept %d of %d pairs", counts["pairs_out"], counts["pairs_in"])
    return SupportFilterResult(kept, counts)


def build_index(frame: DataFrame, id_column: str, index_column: str) -> DataFrame:
    """Map distinct string ids to dense integers 0..n-1, in id order.

    ALS needs integer ids within the int range. ``StringIndexer`` would collect every
    label to the driver, and ``zipWithIndex`` ships every id through Python workers. Here
    the ids are sorted, each row gets its partition id and position, and only one count
    per partition reaches the driver to turn positions into global offsets. The index is
    the id's rank in sort order, so it does not depend on how the sort split the data.
    """
    spark = frame.sparkSession
    ordered = (
        frame
        .select(id_column)
        .distinct()
        .orderBy(id_column)
        .withColumn("_partition", F.spark_partition_id())
        .withColumn("_row", F.monotonically_increasing_id())
        .cache()
    )
    sizes = (
        ordered
        .groupBy("_partition")
        .agg(F.count(F.lit(1)).alias("_rows"), F.min("_row").alias("_first_row"))
        .orderBy("_partition")
        .collect()
    )
    offsets, total = [], 0
    for row in sizes:
        offsets.append((row["_partition"], total - row["_first_row"]))
        total += row["_rows"]
    if total >= 2**31:
        raise ValueError(
            f"{total} distinct {id_column} values exceed the int range ALS accepts"
        )
    offset_frame = spark.createDataFrame(offsets, "_partition int, _offset long")
    return (
        ordered
        .join(F.broadcast(offset_frame), on="_partition", how="inner")
        .select(
            id_column,
            (F.col("_row") + F.col("_offset")).cast("int").alias(index_column),
        )
    )


def apply_index(frame: DataFrame, user_index: DataFrame, room_index: DataFrame) -> DataFrame:
    """Add ``user_idx`` and ``room_idx``; rows whose ids are missing from the maps are dropped.

    Dropping is intended for evaluation windows, where a room or user unknown to the
    training data cannot be scored by the model anyway; callers that need those rows
    (cold-start evaluation) join on the raw ids instead.
    """
    return (
        frame
        .join(user_index, on=C.USER_ID, how="inner")
        .join(room_index, on=C.ROOM_ID, how="inner")
    )
