"""Top-K recommendation list utilities: seen filtering, fallback filling and ALS output.

A recommendation list is a DataFrame with ``user_idx``, ``room_idx``, ``score`` (double),
``position`` (int, 1-based and contiguous per user, at most K rows per user) and optionally
``source`` (the model that produced the row).
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C

logger = logging.getLogger(__name__)

_TIER = "_tier"
_ORIGINAL_POSITION = "_original_position"


def _require_columns(frame: DataFrame, required: list[str], name: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}; it has {frame.columns}. "
            f"Pass a DataFrame with {required}."
        )


def _require_positive_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"invalid list length k={k!r}: K must be a positive int such as 10")


def renumber_positions(recs: DataFrame, *, k: int, order: list[Column]) -> DataFrame:
    """Number each user's rows 1, 2, ... in ``order`` and keep the first ``k``.

    ``room_idx`` is appended to the order, so ties always resolve the same way.
    """
    by_user = Window.partitionBy(C.USER_IDX).orderBy(*order, F.col(C.ROOM_IDX))
    return recs.withColumn(C.POSITION, F.row_number().over(by_user)).filter(F.col(C.POSITION) <= k)


def exclude_seen(recs: DataFrame, seen: DataFrame, *, k: int) -> DataFrame:
    """Remove the rooms each user has already visited and renumber positions 1..k.

    Parameters
    ----------
    recs : DataFrame
        Recommendation list, possibly longer than ``k`` per user so that ``k`` rooms remain
        after filtering.
    seen : DataFrame
        (``user_idx``, ``room_idx``) pairs to remove, such as the training interactions.
    k : int
        Maximum list length after filtering.

    Returns
    -------
    DataFrame
        The same columns as ``recs``. Positions follow the original order and are
        contiguous from 1. A user keeps fewer than ``k`` rows when the input ran short.
    """
    _require_positive_k(k)
    _require_columns(recs, [C.USER_IDX, C.ROOM_IDX, C.POSITION], "recs")
    _require_columns(seen, [C.USER_IDX, C.ROOM_IDX], "seen")
    seen_pairs = seen.select(C.USER_IDX, C.ROOM_IDX)
    unseen = recs.join(seen_pairs, on=[C.USER_IDX, C.ROOM_IDX], how="left_anti")
    renumbered = renumber_positions(
        unseen.withColumnRenamed(C.POSITION, _ORIGINAL_POSITION),
        k=k,
        order=[F.col(_ORIGINAL_POSITION)],
    )
    return renumbered.select(*recs.columns)


def _with_source(frame: DataFrame, default: str) -> DataFrame:
    if C.SOURCE in frame.columns:
        return frame
    return frame.withColumn(C.SOURCE, F.lit(default))


def fill_with_fallback(
    primary: DataFrame,
    fallback: DataFrame,
    users: DataFrame,
    *,
    k: int,
    primary_source: str = "primary",
    fallback_source: str = "fallback",
) -> DataFrame:
    """Complete each user's list to ``k`` rooms with fallback rooms not already listed.

    This is how users unknown to the model (cold start) get the popularity list that
    production would show them, and how users whose model list ran short after seen
    filtering get topped up.

    Parameters
    ----------
    primary : DataFrame
        Model list: ``user_idx``, ``room_idx``, ``score``, ``position``. Rows of users
        outside ``users`` and positions above ``k`` are dropped.
    fallback : DataFrame
        Fallback list with ``room_idx``, ``score`` and ``position``. With a ``user_idx``
        column it is per user, such as the output of
        :func:`roomrec.baselines.global_popularity` for the same users. Without
        ``user_idx`` it is one global list applied to every user. A global list should
        have at least 2 * ``k`` rows, because rooms already in a user's primary list are
        skipped.
    users : DataFrame
        ``user_idx`` of every user who must get a list.
    k : int
        List length.
    primary_source, fallback_source : str
        ``source`` values for rows whose input has no ``source`` column.

    Returns
    -------
    DataFrame
        ``user_idx``, ``room_idx``, ``score``, ``position`` and ``source``: the user's
        primary rows first in their order, then fallback rows in fallback order, renumbered
        1..k. A fallback room already in the primary list is skipped.
    """
    _require_positive_k(k)
    _require_columns(primary, [C.USER_IDX, C.ROOM_IDX, C.SCORE, C.POSITION], "primary")
    _require_columns(fallback, [C.ROOM_IDX, C.SCORE, C.POSITION], "fallback")
    _require_columns(users, [C.USER_IDX], "users")
    list_columns = [C.USER_IDX, C.ROOM_IDX, C.SCORE, C.POSITION, C.SOURCE]
    target_users = users.select(C.USER_IDX).distinct()

    primary_rows = (
        _with_source(primary, primary_source)
        .filter(F.col(C.POSITION) <= k)
        .join(target_users, on=C.USER_IDX, how="left_semi")
        .select(*list_columns)
        .withColumn(_TIER, F.lit(0))
    )
    fallback_rows = _fallback_for_users(_with_source(fallback, fallback_source), target_users)
    fallback_rows = (
        fallback_rows.select(*list_columns)
        .join(
            primary_rows.select(C.USER_IDX, C.ROOM_IDX),
            on=[C.USER_IDX, C.ROOM_IDX],
            how="left_anti",
        )
        .withColumn(_TIER, F.lit(1))
    )
    combined = primary_rows.unionByName(fallback_rows)
    filled = renumber_positions(
        combined.withColumnRenamed(C.POSITION, _ORIGINAL_POSITION),
        k=k,
        order=[F.col(_TIER), F.col(_ORIGINAL_POSITION)],
    )
    return filled.select(*list_columns)


MAX_GLOBAL_FALLBACK_ROWS = 10_000


def _fallback_for_users(fallback: DataFrame, users: DataFrame) -> DataFrame:
    """Return fallback rows per user: a per-user list as is, a global list for every user."""
    if C.USER_IDX in fallback.columns:
        return fallback.join(users, on=C.USER_IDX, how="left_semi")

    # A global list is copied to every user as a literal array that each user row explodes.
    # A join would need a key, and a join without one plans as a nested loop join.
    entries = fallback.limit(MAX_GLOBAL_FALLBACK_ROWS + 1).collect()
    if len(entries) > MAX_GLOBAL_FALLBACK_ROWS:
        raise ValueError(
            f"invalid global fallback list: more than {MAX_GLOBAL_FALLBACK_ROWS} rows would be "
            "copied to every user; pass a shorter list or a per-user list with user_idx"
        )
    structs = [
        F.struct(
            F.lit(entry[C.POSITION]).cast("int").alias(C.POSITION),
            F.lit(entry[C.ROOM_IDX]).cast("int").alias(C.ROOM_IDX),
            F.lit(entry[C.SCORE]).cast("double").alias(C.SCORE),
            F.lit(entry[C.SOURCE]).cast("string").alias(C.SOURCE),
        )
        for entry in entries
    ]
    entry_type = f"struct<{C.POSITION}:int,{C.ROOM_IDX}:int,{C.SCORE}:double,{C.SOURCE}:string>"
    literal = F.array(*structs) if structs else F.array().cast(f"array<{entry_type}>")
    return users.select(C.USER_IDX, F.explode(literal).alias("_entry")).select(
        C.USER_IDX, "_entry.*"
    )


def from_array_recommendations(
    recs: DataFrame,
    *,
    user_col: str = C.USER_IDX,
    item_col: str = C.ROOM_IDX,
    recommendations_col: str = "recommendations",
    rating_field: str = "rating",
) -> DataFrame:
    """Turn ALS ``recommendForUserSubset`` output into a recommendation list.

    Parameters
    ----------
    recs : DataFrame
        One row per user: ``user_col`` and ``recommendations``, an
        ``array<struct<item_col, rating>>`` sorted by rating, highest first, as
        ``pyspark.ml.recommendation.ALSModel.recommendForUserSubset`` returns it.
    user_col, item_col : str
        The ALS model's ``userCol`` and ``itemCol``.
    recommendations_col, rating_field : str
        Array column and score field names, as ALS writes them.

    Returns
    -------
    DataFrame
        ``user_idx``, ``room_idx``, ``score`` (double) and ``position`` (1-based array
        order). A user with an empty array gets no rows.

    Notes
    -----
    Positions follow the array order. ALS sorts each array by rating, but the order of
    rooms with exactly equal ratings is whatever its top-K heap left.
    """
    _require_columns(recs, [user_col, recommendations_col], "recs")
    return recs.select(
        F.col(user_col).alias(C.USER_IDX),
        F.posexplode(recommendations_col).alias("_index", "_entry"),
    ).select(
        F.col(C.USER_IDX).cast("int").alias(C.USER_IDX),
        F.col(f"_entry.{item_col}").cast("int").alias(C.ROOM_IDX),
        F.col(f"_entry.{rating_field}").cast("double").alias(C.SCORE),
        (F.col("_index") + 1).cast("int").alias(C.POSITION),
    )
