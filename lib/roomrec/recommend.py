"""Produce the top-N rooms for every user: the output the product serves."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.als import recommend_top_k, seen_headroom
from roomrec.baselines import global_popularity
from roomrec.topk import exclude_seen, fill_with_fallback

logger = logging.getLogger(__name__)


def excluded_pairs(
    interactions: DataFrame,
    rooms: DataFrame,
    user_index: DataFrame,
    room_index: DataFrame,
    *,
    exclude_visited: bool,
) -> DataFrame:
    """Return (``user_idx``, ``room_idx``) pairs never to recommend.

    A user's own rooms are always excluded (owners find their rooms without help), and
    the rooms they already visited when ``exclude_visited`` is set.
    """
    own = (
        rooms
        .select(F.col(C.OWNER_ID).alias(C.USER_ID), C.ROOM_ID)
        .join(user_index, on=C.USER_ID, how="inner")
        .join(room_index, on=C.ROOM_ID, how="inner")
        .select(C.USER_IDX, C.ROOM_IDX)
    )
    if not exclude_visited:
        return own
    visited = interactions.select(C.USER_IDX, C.ROOM_IDX)
    return own.unionByName(visited).distinct()


def recommend_for_all(
    model: ALSModel,
    interactions: DataFrame,
    rooms: DataFrame,
    user_index: DataFrame,
    room_index: DataFrame,
    *,
    top_n: int,
    exclude_visited: bool = True,
) -> DataFrame:
    """Return top-N rooms for every user in ``user_index``, with ids and sources.

    Non-public rooms and excluded pairs are removed from the ALS list. Users the model
    does not know (no training interactions), and users whose filtered list is short, get
    the most popular public rooms they may see, marked with source ``global_popularity``.

    Returns
    -------
    DataFrame
        ``user_id``, ``room_id``, ``position`` (1-based), ``score`` and ``source``.
    """
    public_rooms = (
        rooms
        .filter(F.col(C.IS_PUBLIC))
        .join(room_index, on=C.ROOM_ID, how="inner")
        .select(C.ROOM_IDX)
    )
    excluded = excluded_pairs(
        interactions, rooms, user_index, room_index, exclude_visited=exclude_visited
    )
    users = user_index.select(C.USER_IDX)
    headroom = seen_headroom(excluded, users) + _private_headroom(rooms, top_n)
    als_lists = (
        recommend_top_k(model, users, k=top_n + headroom)
        .join(public_rooms, on=C.ROOM_IDX, how="left_semi")
    )
    als_lists = exclude_seen(als_lists, excluded, k=top_n).withColumn(C.SOURCE, F.lit("als"))
    public_interactions = interactions.join(public_rooms, on=C.ROOM_IDX, how="left_semi")
    fallback = global_popularity(
        public_interactions, users, k=top_n + headroom, exclude_seen=False
    )
    fallback = exclude_seen(fallback, excluded, k=top_n)
    lists = fill_with_fallback(als_lists, fallback, users, k=top_n)
    return (
        lists
        .join(user_index, on=C.USER_IDX, how="inner")
        .join(room_index, on=C.ROOM_IDX, how="inner")
        .select(C.USER_ID, C.ROOM_ID, C.POSITION, C.SCORE, C.SOURCE)
    )


def _private_headroom(rooms: DataFrame, top_n: int) -> int:
    """Return extra rooms to fetch so that removing private rooms still leaves ``top_n``.

    The expected number of private rooms in a list of ``top_n`` public ones is
    ``top_n * p / (1 - p)`` for a private share ``p``; twice that covers most users.
    """
    # NOTE: this assumes private rooms score like public ones; users whose lists hold
    # more private rooms than that get the rest from the popularity fallback.
    share = rooms.agg(F.avg((~F.col(C.IS_PUBLIC)).cast("double")).alias("p")).first()["p"] or 0.0
    share = min(share, 0.9)
    return int(2 * top_n * share / (1 - share)) + 1


def cold_start_lists(
    new_users: DataFrame,
    interactions: DataFrame,
    rooms: DataFrame,
    room_index: DataFrame,
    *,
    top_n: int,
) -> DataFrame:
    """Return the most popular public rooms for users without any interaction.

    Every such user gets the same list apart from rooms they own, so the users are joined
    with a broadcast list of ``top_n`` plus the most rooms anyone owns, not with all rooms.

    Returns
    -------
    DataFrame
        ``user_id``, ``room_id``, ``position``, ``score`` and ``source`` =
        ``global_popularity``.
    """
    from roomrec.baselines import rank_by_popularity, room_popularity

    owned = rooms.filter(F.col(C.OWNER_ID).isNotNull()).groupBy(C.OWNER_ID).count()
    max_owned = owned.agg(F.max("count").alias("m")).first()["m"] or 0
    public = (
        rooms.filter(F.col(C.IS_PUBLIC)).join(room_index, on=C.ROOM_ID, how="inner")
    )
    popular = (
        rank_by_popularity(room_popularity(interactions))
        .join(public.select(C.ROOM_IDX, C.ROOM_ID), on=C.ROOM_IDX, how="inner")
        .orderBy(C.POPULARITY_RANK)
        .limit(top_n + max_owned)
        .select(C.ROOM_ID, F.col(C.N_USERS).cast("double").alias(C.SCORE), C.POPULARITY_RANK)
    )
    own = rooms.select(F.col(C.OWNER_ID).alias(C.USER_ID), C.ROOM_ID)
    by_user = Window.partitionBy(C.USER_ID).orderBy(C.POPULARITY_RANK)
    return (
        new_users
        .select(C.USER_ID)
        .distinct()
        .crossJoin(F.broadcast(popular))  # bounded: top_n + max_owned rooms per user
        .join(own, on=[C.USER_ID, C.ROOM_ID], how="left_anti")
        .withColumn(C.POSITION, F.row_number().over(by_user))
        .filter(F.col(C.POSITION) <= top_n)
        .select(C.USER_ID, C.ROOM_ID, C.POSITION, C.SCORE,
                F.lit("global_popularity").alias(C.SOURCE))
    )


def summarize_sources(recommendations: DataFrame) -> DataFrame:
    """Return rows and users per source, to see how much the fallback serves."""
    return (
        recommendations
        .groupBy(C.SOURCE)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.countDistinct(C.USER_ID).alias("users"),
        )
        .orderBy(C.SOURCE)
    )


@dataclass
class RecommendResult:
    """Output of :func:`recommend_stage`: settings, rows per source and a sample of lists."""

    settings: dict
    sources: Any  # pandas.DataFrame
    sample: Any  # pandas.DataFrame
    path: str


def recommend_stage(
    spark,
    ws,
    *,
    top_n: int,
    exclude_visited: bool,
    output_path: str,
    seed: int,
    als_params: dict,
    matrix_options: dict,
    sample_users: int = 3,
) -> RecommendResult:
    """Fit ALS with the tuned settings on all interactions and write every user's top-N.

    The lists go to ``output_path`` (Parquet), or the ``recommendations`` table of ``ws``
    (a :class:`roomrec.pipeline.Workspace`).
    """
    from roomrec.als import fit_als
    from roomrec.pipeline import (
        read_artifact,
        read_rooms_artifact,
        read_users_artifact,
        training_matrix,
        tuned_settings,
    )

    settings = tuned_settings(ws, als_params)
    pairs = read_artifact(spark, ws, "interactions")
    user_index = read_artifact(spark, ws, "user_index")
    room_index = read_artifact(spark, ws, "room_index")
    rooms = read_rooms_artifact(spark, ws)
    if rooms is None:
        # Without a rooms table every room is public and has no owner.
        rooms = room_index.select(
            C.ROOM_ID,
            F.lit(None).cast("string").alias(C.OWNER_ID),
            F.lit(True).alias(C.IS_PUBLIC),
        )
    matrix = training_matrix(
        pairs, confidence_scheme=settings["confidence_scheme"], **matrix_options
    ).cache()
    model = fit_als(
        matrix, rank=settings["rank"], reg_param=settings["reg_param"],
        alpha=settings["alpha"], max_iter=settings["max_iter"], seed=seed,
    )
    lists = recommend_for_all(
        model, pairs, rooms, user_index, room_index, top_n=top_n,
        exclude_visited=exclude_visited,
    )
    registered = read_users_artifact(spark, ws)
    if registered is not None:
        new_users = registered.join(user_index, on=C.USER_ID, how="left_anti")
        lists = lists.unionByName(
            cold_start_lists(new_users, pairs, rooms, room_index, top_n=top_n)
        )
    path = output_path or ws.table("recommendations")
    lists.write.mode("overwrite").parquet(path)
    written = spark.read.parquet(path)
    sources = summarize_sources(written).toPandas()
    first_users = (
        written.select(C.USER_ID).distinct().orderBy(C.USER_ID).limit(sample_users)
    )
    sample = (
        written
        .join(first_users, on=C.USER_ID, how="left_semi")
        .orderBy(C.USER_ID, C.POSITION)
        .toPandas()
    )
    settings = {**settings, "top_n": top_n, "exclude_visited": exclude_visited, "seed": seed}
    return RecommendResult(settings, sources, sample, path)
