"""Top-K ranking metrics and list metrics, computed in Spark over all evaluation users.

Every metric is computed with Spark built-in functions (joins, window functions and
higher-order array functions), so nothing but the final means reaches the driver.

Definitions (``K`` is the cutoff, ``R_u`` the distinct relevant rooms of user ``u``, and a
hit is a room of ``R_u`` at position ``p <= K`` of the user's list):

- precision@K = hits / K. The divisor is K even when the list is shorter than K.
- recall@K = hits / ``|R_u|``.
- NDCG@K = DCG / IDCG with binary gain: DCG = sum over hits of 1 / log2(p + 1), and IDCG is
  the DCG of a perfect list, summed over the first min(``|R_u|``, K) positions.
- AP@K = (sum over hit positions p of precision@p) / min(``|R_u|``, K), where precision@p
  counts the hits at positions 1..p. Its mean over users is MAP@K.
- hit = 1 when the top K contains at least one hit, else 0. Its mean is the hit rate.
- RR = 1 / (position of the first hit in the top K), 0 without a hit. Its mean is MRR@K.

Edge cases:

- A user with no recommendations scores 0 on every metric and stays in the denominator.
- A user with fewer than K relevant rooms can reach recall, NDCG and AP of 1, but precision
  of at most ``|R_u|`` / K.
- A room listed twice for a user counts once, at its first position. The later copy takes
  up its position without being a hit.
- Positions are taken as the list gives them. Producers break score ties by ``room_idx``.
- By default the evaluation users are those with at least one relevant room. A ``users``
  DataFrame replaces that set. Its users without relevant rooms score 0 on every metric.

docs/metrics.md compares these definitions with Spark's ``RankingMetrics`` and
``RankingEvaluator``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C

logger = logging.getLogger(__name__)

PER_USER_METRICS = (C.PRECISION, C.RECALL, C.NDCG, C.AP, C.HIT, C.RR)

# Key in ranking_metrics() for the mean of each per-user metric: the field's usual name.
MEAN_METRIC_NAMES = {
    C.PRECISION: "precision",
    C.RECALL: "recall",
    C.NDCG: "ndcg",
    C.AP: "map",
    C.HIT: "hit_rate",
    C.RR: "mrr",
}

_HIT_RANK = "_hit_rank"
_FIRST_POSITION = "_first_position"


def _require_columns(frame: DataFrame, required: Sequence[str], name: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}; it has {frame.columns}. "
            f"Pass a DataFrame with {list(required)}."
        )


def _require_positive_k(k_values: Sequence[int]) -> None:
    for k in k_values:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"invalid cutoff k={k!r}: K must be a positive int such as 10")


def ideal_dcg(relevant_count: Column, k: int) -> Column:
    """Build the IDCG@K column: sum of 1 / log2(i + 1) for i = 1..min(relevant_count, k).

    Returns 0.0 when ``relevant_count`` is 0 or null.
    """
    positions = F.least(F.coalesce(relevant_count, F.lit(0)), F.lit(k))
    total = F.aggregate(
        F.sequence(F.lit(1), positions),
        F.lit(0.0),
        lambda acc, i: acc + F.lit(1.0) / F.log2(i + F.lit(1)),
    )
    # sequence(1, 0) counts down to [1, 0], so an empty ideal list is handled here.
    return F.when(positions > 0, total).otherwise(F.lit(0.0))


def _hits(recs: DataFrame, relevant: DataFrame, max_k: int) -> DataFrame:
    """Return one row per hit in the top ``max_k``: user, position and the hit's rank.

    The hit rank counts the user's hits at this position or earlier, so precision at the
    hit's position is ``hit_rank / position``.
    """
    first_positions = (
        recs.filter(F.col(C.POSITION) <= max_k)
        .groupBy(C.USER_IDX, C.ROOM_IDX)
        .agg(F.min(C.POSITION).alias(_FIRST_POSITION))
    )
    by_position = Window.partitionBy(C.USER_IDX).orderBy(_FIRST_POSITION)
    return (
        first_positions.join(relevant, on=[C.USER_IDX, C.ROOM_IDX], how="inner")
        .withColumn(_HIT_RANK, F.row_number().over(by_position))
        .select(C.USER_IDX, F.col(_FIRST_POSITION).alias(C.POSITION), _HIT_RANK)
    )


def _evaluation_users(relevant: DataFrame, users: DataFrame | None) -> DataFrame:
    """Return the evaluation users with their relevant-room count (0 when they have none)."""
    relevant_counts = relevant.groupBy(C.USER_IDX).agg(F.count(F.lit(1)).alias(C.N_RELEVANT))
    if users is None:
        return relevant_counts
    return (
        users.select(C.USER_IDX)
        .distinct()
        .join(relevant_counts, on=C.USER_IDX, how="left")
        .withColumn(C.N_RELEVANT, F.coalesce(F.col(C.N_RELEVANT), F.lit(0)))
    )


def _hit_aggregates(hits: DataFrame, k_values: Sequence[int]) -> DataFrame:
    """Aggregate hits per user into hit count, DCG, AP sum and first hit for each K."""
    position = F.col(C.POSITION)
    aggregates = []
    for k in k_values:
        in_top = position <= k
        aggregates += [
            F.sum(F.when(in_top, 1).otherwise(0)).alias(f"_hits_{k}"),
            F.sum(F.when(in_top, 1.0 / F.log2(position + 1)).otherwise(0.0)).alias(f"_dcg_{k}"),
            F.sum(F.when(in_top, F.col(_HIT_RANK) / position).otherwise(0.0)).alias(f"_ap_{k}"),
            F.min(F.when(in_top, position)).alias(f"_first_{k}"),
        ]
    return hits.groupBy(C.USER_IDX).agg(*aggregates)


def _metric_columns(k: int) -> list[Column]:
    """Build the per-user metric columns at ``k`` from the columns of _hit_aggregates."""
    hit_count = F.coalesce(F.col(f"_hits_{k}"), F.lit(0))
    dcg = F.coalesce(F.col(f"_dcg_{k}"), F.lit(0.0))
    ap_sum = F.coalesce(F.col(f"_ap_{k}"), F.lit(0.0))
    first_hit = F.col(f"_first_{k}")
    relevant_count = F.col(C.N_RELEVANT)
    idcg = ideal_dcg(relevant_count, k)
    ap_divisor = F.least(relevant_count, F.lit(k))
    return [
        hit_count.cast("long").alias(f"{C.N_HITS}_{k}"),
        (hit_count / F.lit(float(k))).alias(f"{C.PRECISION}_{k}"),
        F.when(relevant_count > 0, hit_count / relevant_count)
        .otherwise(0.0)
        .alias(f"{C.RECALL}_{k}"),
        F.when(idcg > 0, dcg / idcg).otherwise(0.0).alias(f"{C.NDCG}_{k}"),
        F.when(ap_divisor > 0, ap_sum / ap_divisor).otherwise(0.0).alias(f"{C.AP}_{k}"),
        F.when(hit_count > 0, 1.0).otherwise(0.0).alias(f"{C.HIT}_{k}"),
        F.when(first_hit.isNotNull(), 1.0 / first_hit).otherwise(0.0).alias(f"{C.RR}_{k}"),
    ]


def per_user_metrics_multi_k(
    recs: DataFrame,
    relevant: DataFrame,
    *,
    k_values: Sequence[int],
    users: DataFrame | None = None,
) -> DataFrame:
    """Compute the per-user metrics for several cutoffs in one pass.

    Same definitions as :func:`per_user_metrics`. Columns are suffixed with the cutoff, for
    example ``precision_10`` and ``ndcg_20``, next to ``user_idx`` and ``n_relevant``.
    """
    _require_positive_k(k_values)
    if not k_values:
        raise ValueError("k_values is empty; pass at least one cutoff such as [10]")
    k_values = list(dict.fromkeys(k_values))
    _require_columns(recs, [C.USER_IDX, C.ROOM_IDX, C.POSITION], "recs")
    _require_columns(relevant, [C.USER_IDX, C.ROOM_IDX], "relevant")
    if users is not None:
        _require_columns(users, [C.USER_IDX], "users")

    relevant_pairs = relevant.select(C.USER_IDX, C.ROOM_IDX).distinct()
    evaluation_users = _evaluation_users(relevant_pairs, users)
    hits = _hits(recs, relevant_pairs, max(k_values))
    per_user = evaluation_users.join(_hit_aggregates(hits, k_values), on=C.USER_IDX, how="left")
    metric_columns = [column for k in k_values for column in _metric_columns(k)]
    return per_user.select(C.USER_IDX, F.col(C.N_RELEVANT).cast("long"), *metric_columns)


def per_user_metrics(
    recs: DataFrame,
    relevant: DataFrame,
    *,
    k: int,
    users: DataFrame | None = None,
) -> DataFrame:
    """Compute precision, recall, NDCG, AP, hit and RR at K for every evaluation user.

    Parameters
    ----------
    recs : DataFrame
        Recommendation lists: ``user_idx``, ``room_idx``, ``position`` (1-based). Rows with
        a position above ``k`` are ignored. A room listed twice counts at its first position.
    relevant : DataFrame
        (``user_idx``, ``room_idx``) pairs the user visited in the evaluation window.
        Duplicate pairs count once.
    k : int
        Cutoff K.
    users : DataFrame, optional
        ``user_idx`` of the evaluation users, the denominator of every mean. By default
        these are the users with at least one relevant room. Relevant rows of users outside
        ``users`` are ignored. Users in ``users`` without relevant rooms score 0.

    Returns
    -------
    DataFrame
        One row per evaluation user: ``user_idx``, ``n_relevant``, ``n_hits``, and the
        doubles ``precision``, ``recall``, ``ndcg``, ``ap``, ``hit`` and ``rr``. A user
        without recommendations gets 0 for every metric.

    Notes
    -----
    The definitions are in this module's docstring and in docs/metrics.md. Without
    duplicate rooms in a list, precision, recall, NDCG and AP match
    ``pyspark.mllib.evaluation.RankingMetrics.precisionAt``, ``recallAt``, ``ndcgAt`` and
    ``meanAveragePrecisionAt`` (Spark 3.0 and later) for the same users.
    """
    wide = per_user_metrics_multi_k(recs, relevant, k_values=[k], users=users)
    renamed = [F.col(f"{C.N_HITS}_{k}").alias(C.N_HITS)]
    renamed += [F.col(f"{name}_{k}").alias(name) for name in PER_USER_METRICS]
    return wide.select(C.USER_IDX, C.N_RELEVANT, *renamed)


def ranking_metrics_multi_k(
    recs: DataFrame,
    relevant: DataFrame,
    *,
    k_values: Sequence[int],
    users: DataFrame | None = None,
) -> dict[int, dict[str, float]]:
    """Compute the mean metrics of :func:`ranking_metrics` for several cutoffs in one job.

    Returns a dict from each cutoff to the dict that :func:`ranking_metrics` returns.
    """
    k_values = list(dict.fromkeys(k_values))
    per_user = per_user_metrics_multi_k(recs, relevant, k_values=k_values, users=users)
    means = [
        F.avg(f"{name}_{k}").alias(f"{name}_{k}") for k in k_values for name in PER_USER_METRICS
    ]
    row = per_user.agg(F.count(F.lit(1)).alias(C.N_USERS), *means).first()
    user_count = int(row[C.N_USERS])
    if user_count == 0:
        logger.warning("no evaluation users: every mean metric is NaN")
    results: dict[int, dict[str, float]] = {}
    for k in k_values:
        values = {}
        for name in PER_USER_METRICS:
            value = row[f"{name}_{k}"]
            values[MEAN_METRIC_NAMES[name]] = float("nan") if value is None else float(value)
        values["n_users"] = float(user_count)
        results[k] = values
    return results


def ranking_metrics(
    recs: DataFrame,
    relevant: DataFrame,
    *,
    k: int,
    users: DataFrame | None = None,
) -> dict[str, float]:
    """Compute the means over evaluation users of the metrics of :func:`per_user_metrics`.

    Parameters
    ----------
    recs, relevant, k, users
        As for :func:`per_user_metrics`.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``ndcg``, ``map`` (MAP@K), ``hit_rate``, ``mrr`` and
        ``n_users`` (the denominator). The means are NaN when there are no evaluation users.
    """
    return ranking_metrics_multi_k(recs, relevant, k_values=[k], users=users)[k]


def _gini(room_counts: DataFrame, n_rooms: int, recommended_rooms: int) -> float:
    """Return the Gini coefficient of recommendation counts over all ``n_rooms`` rooms.

    Rooms never recommended count 0 and come first in ascending order. With counts x sorted
    ascending and ranks i = 1..n: G = sum((2i - n - 1) * x_i) / (n * sum(x)).
    """
    never_recommended = n_rooms - recommended_rooms
    # A window without partition moves the counts to one partition. That is at most one
    # row per room, which is small even for 500k rooms.
    ascending = Window.orderBy(F.col("_count"), F.col(C.ROOM_IDX))
    rank = F.row_number().over(ascending) + F.lit(never_recommended)
    row = (
        room_counts.select(
            F.col("_count"),
            ((F.lit(2) * rank - F.lit(n_rooms + 1)) * F.col("_count")).alias("_weighted"),
        )
        .agg(
            F.sum("_weighted").alias("_weighted_sum"),
            F.sum("_count").alias("_total"),
        )
        .first()
    )
    if not row["_total"]:
        return float("nan")
    return float(row["_weighted_sum"]) / (n_rooms * float(row["_total"]))


def list_metrics(
    recs: DataFrame,
    *,
    k: int,
    n_rooms: int,
    room_popularity: DataFrame,
    popularity_col: str = C.N_USERS,
    n_train_users: int | None = None,
) -> dict[str, float]:
    """Compute catalog coverage, popularity bias and novelty of the top-K lists.

    Parameters
    ----------
    recs : DataFrame
        Recommendation lists with ``user_idx``, ``room_idx`` and ``position``. Only
        positions up to ``k`` count, and a room listed twice for a user counts once.
    k : int
        Cutoff K.
    n_rooms : int
        Number of rooms in the catalog, the denominator of coverage and the population of
        the Gini coefficient.
    room_popularity : DataFrame
        ``room_idx`` and ``popularity_col`` from training, for example the output of
        :func:`roomrec.baselines.room_popularity`.
    popularity_col : str
        Popularity column: distinct training users (``n_users``) or visit counts.
    n_train_users : int, optional
        Number of training users, the denominator of a room's user share in novelty. None
        uses the sum of ``popularity_col`` over rooms instead, so the share becomes the
        room's share of training interactions.

    Returns
    -------
    dict
        - ``coverage``: distinct rooms in all top-K lists / ``n_rooms``.
        - ``n_recommended_rooms``: those distinct rooms.
        - ``mean_popularity_rank``: mean over recommended (user, room) pairs of the room's
          popularity rank (1 = most popular, ties by ``room_idx``). Rooms absent from
          ``room_popularity`` get the rank after the last ranked room.
        - ``gini``: Gini coefficient of recommendation counts over all ``n_rooms`` rooms,
          0 when every room is recommended equally often, near 1 when a few rooms take all.
        - ``novelty``: mean over recommended pairs of -log2(share), where share is the
          room's popularity / ``n_train_users``. A room without training users counts as
          one user, so novelty stays finite.
        - ``n_users`` and ``n_recommendations``: users with a list and pairs counted.

        Means are NaN when there are no recommendations.
    """
    _require_positive_k([k])
    if n_rooms < 1:
        raise ValueError(f"invalid n_rooms={n_rooms}: pass the catalog size, at least 1")
    _require_columns(recs, [C.USER_IDX, C.ROOM_IDX, C.POSITION], "recs")
    _require_columns(room_popularity, [C.ROOM_IDX, popularity_col], "room_popularity")

    pairs = recs.filter(F.col(C.POSITION) <= k).select(C.USER_IDX, C.ROOM_IDX).distinct()
    popularity = room_popularity.select(
        C.ROOM_IDX, F.col(popularity_col).cast("double").alias("_popularity")
    )
    # One partition for the ranking is fine because it contains one row per room.
    by_popularity = Window.orderBy(F.desc("_popularity"), F.col(C.ROOM_IDX))
    ranked = popularity.withColumn(C.POPULARITY_RANK, F.row_number().over(by_popularity))
    totals = popularity.agg(
        F.count(F.lit(1)).alias("_ranked_rooms"),
        F.sum("_popularity").alias("_popularity_sum"),
    ).first()
    ranked_rooms = int(totals["_ranked_rooms"])
    share_denominator = (
        float(n_train_users) if n_train_users else float(totals["_popularity_sum"] or 0.0)
    )
    if share_denominator <= 0:
        raise ValueError(
            f"invalid popularity total {share_denominator}: room_popularity has no positive "
            f"'{popularity_col}' and n_train_users is not set; pass n_train_users"
        )

    scored = pairs.join(ranked, on=C.ROOM_IDX, how="left").select(
        C.USER_IDX,
        C.ROOM_IDX,
        F.coalesce(F.col(C.POPULARITY_RANK), F.lit(ranked_rooms + 1)).alias("_rank"),
        (
            -F.log2(
                F.greatest(F.coalesce(F.col("_popularity"), F.lit(0.0)), F.lit(1.0))
                / F.lit(share_denominator)
            )
        ).alias("_self_information"),
    )
    summary = scored.agg(
        F.count(F.lit(1)).alias("_pairs"),
        F.countDistinct(C.USER_IDX).alias("_users"),
        F.countDistinct(C.ROOM_IDX).alias("_rooms"),
        F.avg("_rank").alias("_mean_rank"),
        F.avg("_self_information").alias("_novelty"),
    ).first()
    recommended_rooms = int(summary["_rooms"])
    if recommended_rooms > n_rooms:
        raise ValueError(
            f"invalid n_rooms={n_rooms}: the lists contain {recommended_rooms} distinct rooms; "
            "pass the size of the whole catalog"
        )

    room_counts = pairs.groupBy(C.ROOM_IDX).agg(F.count(F.lit(1)).alias("_count"))
    mean_rank = summary["_mean_rank"]
    novelty = summary["_novelty"]
    return {
        "coverage": recommended_rooms / n_rooms,
        "n_recommended_rooms": float(recommended_rooms),
        "mean_popularity_rank": float("nan") if mean_rank is None else float(mean_rank),
        "gini": _gini(room_counts, n_rooms, recommended_rooms),
        "novelty": float("nan") if novelty is None else float(novelty),
        "n_users": float(summary["_users"]),
        "n_recommendations": float(summary["_pairs"]),
    }
