"""Fit implicit-feedback ALS on the interaction matrix and produce top-K room lists."""

from __future__ import annotations

import logging

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.topk import exclude_seen, from_array_recommendations

logger = logging.getLogger(__name__)


def fit_als(
    train: DataFrame,
    *,
    rank: int = 32,
    reg_param: float = 0.1,
    alpha: float = 10.0,
    max_iter: int = 10,
    seed: int = 42,
    num_blocks: int = 8,
    checkpoint_interval: int = 5,
    nonnegative: bool = False,
) -> ALSModel:
    """Fit Spark ML ALS with implicit preferences on ``user_idx``, ``room_idx``, ``confidence``.

    Parameters
    ----------
    train : DataFrame
        Indexed interactions with ``user_idx``, ``room_idx`` and ``confidence``.
    rank, reg_param, alpha, max_iter, seed, nonnegative
        Spark's ``rank``, ``regParam``, ``alpha``, ``maxIter``, ``seed`` and
        ``nonnegative``. ``alpha`` scales confidence: ALS weighs an observed pair by
        ``1 + alpha * confidence``.
    num_blocks : int
        User and room blocks. Fixed rather than derived from the cores so that the same
        seed gives the same factors on a laptop and in CI; raise it on a cluster to about
        the number of executor cores.
    checkpoint_interval : int
        Checkpoint the factor RDDs every this many iterations, which keeps the lineage
        short. It takes effect only if the context has a checkpoint directory, which
        :func:`roomrec.spark.get_spark` always sets.
    """
    estimator = ALS(
        userCol=C.USER_IDX,
        itemCol=C.ROOM_IDX,
        ratingCol=C.CONFIDENCE,
        implicitPrefs=True,
        rank=rank,
        regParam=reg_param,
        alpha=alpha,
        maxIter=max_iter,
        seed=seed,
        numUserBlocks=num_blocks,
        numItemBlocks=num_blocks,
        checkpointInterval=checkpoint_interval,
        nonnegative=nonnegative,
        coldStartStrategy="drop",
    )
    logger.debug("fitting ALS rank=%d reg_param=%g alpha=%g max_iter=%d",
                 rank, reg_param, alpha, max_iter)
    return estimator.fit(train)


def seen_headroom(seen: DataFrame, users: DataFrame, *, quantile: float = 0.99) -> int:
    """Return how many extra rooms to fetch so most users still have K after seen filtering.

    ``recommendForUserSubset`` takes one list length for all users. Fetching K plus the
    largest seen count would multiply the output by that count for every user, so the
    headroom is a high quantile of the seen counts instead. Users above it may end with
    fewer than K rooms; the fallback list fills them.
    """
    seen_counts = (
        seen
        .join(users.select(C.USER_IDX), on=C.USER_IDX, how="left_semi")
        .groupBy(C.USER_IDX)
        .agg(F.count(F.lit(1)).alias("seen"))
    )
    bounds = seen_counts.approxQuantile("seen", [quantile], 0.001)
    return int(bounds[0]) if bounds else 0


def recommend_top_k(
    model: ALSModel,
    users: DataFrame,
    *,
    k: int,
    seen: DataFrame | None = None,
    headroom: int | None = None,
) -> DataFrame:
    """Return the model's top-K rooms for ``users`` as a recommendation list.

    Scoring goes through ``recommendForUserSubset``, which multiplies factor blocks and keeps
    a bounded top list per user, never a join of every user with every room.

    Parameters
    ----------
    model : ALSModel
        Fitted model.
    users : DataFrame
        Users to score, with ``user_idx``. Users the model does not know get no rows.
    k : int
        List length.
    seen : DataFrame, optional
        (``user_idx``, ``room_idx``) pairs to leave out, such as the rooms visited in
        training.
    headroom : int, optional
        Extra rooms fetched before seen filtering; None derives it with
        :func:`seen_headroom`.

    Returns
    -------
    DataFrame
        ``user_idx``, ``room_idx``, ``score``, ``position`` and ``source`` = ``als``.
    """
    subset = users.select(C.USER_IDX).distinct()
    fetch = k
    if seen is not None:
        fetch = k + (seen_headroom(seen, subset) if headroom is None else headroom)
    raw = model.recommendForUserSubset(subset, fetch)
    recs = from_array_recommendations(raw)
    if seen is not None:
        recs = exclude_seen(recs, seen, k=k)
    return recs.withColumn(C.SOURCE, F.lit("als"))
