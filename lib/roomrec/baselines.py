"""Baseline recommenders that ALS must beat: popularity, recent popularity, own history, random.

Each baseline returns a recommendation list (``user_idx``, ``room_idx``, ``score``,
``position``, ``source``) for a given DataFrame of users. None of them joins every user with
every room. The popularity lists number the rooms by popularity rank and give each user the
first K ranks that are not among the ranks of the rooms they have seen, which needs K plus
the user's seen count candidates per user. The random list draws a bounded number of
hashed room slots per user.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.split import latest_timestamp, parse_utc, utc_timestamp_literal
from roomrec.topk import renumber_positions

logger = logging.getLogger(__name__)

GLOBAL_POPULARITY = "global_popularity"
RECENT_POPULARITY = "recent_popularity"
OWN_HISTORY = "own_history"
RANDOM = "random"

_INDEX = "_index"
_SEEN_RANKS = "_seen_ranks"
_SEEN_COUNT = "_seen_count"
_SLOT = "_slot"
_DRAW = "_draw"


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


def _distinct_users(users: DataFrame) -> DataFrame:
    _require_columns(users, [C.USER_IDX], "users")
    return users.select(C.USER_IDX).distinct()


def room_popularity(interactions: DataFrame) -> DataFrame:
    """Count the distinct users of each room.

    Parameters
    ----------
    interactions : DataFrame
        Pairs with ``user_idx`` and ``room_idx``, such as the training interactions.

    Returns
    -------
    DataFrame
        ``room_idx`` and ``n_users`` (long), one row per room with at least one user.
    """
    _require_columns(interactions, [C.USER_IDX, C.ROOM_IDX], "interactions")
    return interactions.groupBy(C.ROOM_IDX).agg(F.countDistinct(C.USER_IDX).alias(C.N_USERS))


def rank_by_popularity(popularity: DataFrame) -> DataFrame:
    """Add ``popularity_rank``: 1 for the room with most users, ties broken by ``room_idx``.

    The ranking window has no partition, so Spark moves the rows to one partition. That is
    one row per room, which is small even for 500k rooms.
    """
    by_popularity = Window.orderBy(F.desc(C.N_USERS), F.col(C.ROOM_IDX))
    return popularity.withColumn(C.POPULARITY_RANK, F.row_number().over(by_popularity))


def _popularity_lists(
    ranked: DataFrame,
    users: DataFrame,
    seen: DataFrame | None,
    *,
    k: int,
    source: str,
) -> DataFrame:
    """Give each user the K most popular rooms, skipping the rooms in ``seen`` when given."""
    target = _distinct_users(users)
    # The ranking has one row per room, small enough to broadcast. A shuffle join on
    # room_idx or on the rank would send the rows of every user for the most popular
    # rooms to a handful of tasks.
    ranked = F.broadcast(ranked)
    if seen is None:
        candidates = target
        ranks = F.sequence(F.lit(1), F.lit(k))
    else:
        seen_ranks = (
            seen.select(C.USER_IDX, C.ROOM_IDX)
            .distinct()
            .join(ranked.select(C.ROOM_IDX, C.POPULARITY_RANK), on=C.ROOM_IDX, how="inner")
            .groupBy(C.USER_IDX)
            .agg(F.collect_list(C.POPULARITY_RANK).alias(_SEEN_RANKS))
        )
        candidates = target.join(seen_ranks, on=C.USER_IDX, how="left").withColumn(
            _SEEN_RANKS, F.coalesce(F.col(_SEEN_RANKS), F.array().cast("array<int>"))
        )
        # Among ranks 1..K+s, at most s belong to the user's s seen rooms, so at least K
        # unseen ranks remain while the catalog lasts.
        all_candidates = F.sequence(F.lit(1), F.lit(k) + F.size(_SEEN_RANKS))
        ranks = F.slice(F.array_sort(F.array_except(all_candidates, F.col(_SEEN_RANKS))), 1, k)

    # Ranks beyond the last ranked room find no row in the join. They are the highest ranks
    # of a list, so the remaining positions stay contiguous.
    return (
        candidates.select(C.USER_IDX, F.posexplode(ranks).alias(_INDEX, C.POPULARITY_RANK))
        .join(ranked, on=C.POPULARITY_RANK, how="inner")
        .select(
            F.col(C.USER_IDX).cast("int").alias(C.USER_IDX),
            F.col(C.ROOM_IDX).cast("int").alias(C.ROOM_IDX),
            F.col(C.N_USERS).cast("double").alias(C.SCORE),
            (F.col(_INDEX) + 1).cast("int").alias(C.POSITION),
            F.lit(source).alias(C.SOURCE),
        )
    )


def global_popularity(
    train_interactions: DataFrame,
    users: DataFrame,
    *,
    k: int,
    exclude_seen: bool = True,
) -> DataFrame:
    """Recommend the rooms with the most distinct training users.

    Parameters
    ----------
    train_interactions : DataFrame
        Training pairs with ``user_idx`` and ``room_idx``.
    users : DataFrame
        ``user_idx`` of the users to recommend to. Users absent from training get the
        plain top K.
    k : int
        List length.
    exclude_seen : bool
        Skip the rooms each user visited in training, so every user gets the K most popular
        rooms new to them.

    Returns
    -------
    DataFrame
        Recommendation list with ``score`` = distinct training users of the room and
        ``source`` = ``global_popularity``. Rooms are ranked by that count, ties by
        ``room_idx``. A user gets fewer than K rows only when fewer unseen rooms exist.
    """
    _require_positive_k(k)
    ranked = rank_by_popularity(room_popularity(train_interactions))
    seen = train_interactions if exclude_seen else None
    return _popularity_lists(ranked, users, seen, k=k, source=GLOBAL_POPULARITY)


def _as_utc(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return parse_utc(value.isoformat())
    return parse_utc(value)


def recent_popularity(
    train_visits_indexed: DataFrame,
    users: DataFrame,
    *,
    k: int,
    window_days: int = 7,
    end_ts: str | datetime | None = None,
    exclude_seen: bool = True,
) -> DataFrame:
    """Recommend the rooms with the most distinct users in the last days of training.

    Parameters
    ----------
    train_visits_indexed : DataFrame
        Training visits with ``user_idx``, ``room_idx`` and ``start_ts``. Visits without a
        ``start_ts`` are outside every window but still count as seen.
    users : DataFrame
        ``user_idx`` of the users to recommend to.
    k : int
        List length.
    window_days : int
        Length of the popularity window in days.
    end_ts : str or datetime, optional
        Exclusive end of the window, normally the end of training (``validation_start`` or
        ``test_start`` of the temporal split). None uses the latest ``start_ts`` in the
        data and includes it.
    exclude_seen : bool
        Skip the rooms each user visited anywhere in training, not only in the window.

    Returns
    -------
    DataFrame
        Recommendation list with ``score`` = distinct users in the window and ``source`` =
        ``recent_popularity``. A user gets fewer than K rows when the window has fewer
        rooms new to them. :func:`roomrec.topk.fill_with_fallback` can top those up.
    """
    _require_positive_k(k)
    _require_columns(
        train_visits_indexed, [C.USER_IDX, C.ROOM_IDX, C.START_TS], "train_visits_indexed"
    )
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(f"invalid window_days={window_days!r}: pass a whole number, 1 or more")

    start_ts = F.col(C.START_TS)
    if end_ts is None:
        end, _ = latest_timestamp(train_visits_indexed, C.START_TS)
        if end is None:
            raise ValueError(
                f"every '{C.START_TS}' of train_visits_indexed is null; recent popularity "
                "needs visit timestamps, so use global_popularity for data without them"
            )
        before_end: Column = start_ts <= utc_timestamp_literal(end)
    else:
        end = _as_utc(end_ts)
        before_end = start_ts < utc_timestamp_literal(end)
    window_start = end - timedelta(days=window_days)
    logger.info("recent popularity window: %s to %s", window_start.isoformat(), end.isoformat())

    recent = train_visits_indexed.filter(
        (start_ts >= utc_timestamp_literal(window_start)) & before_end
    )
    ranked = rank_by_popularity(room_popularity(recent))
    seen = train_visits_indexed if exclude_seen else None
    return _popularity_lists(ranked, users, seen, k=k, source=RECENT_POPULARITY)


def own_history(train_interactions: DataFrame, users: DataFrame, *, k: int) -> DataFrame:
    """Recommend each user's own most-visited training rooms again.

    Parameters
    ----------
    train_interactions : DataFrame
        Training interactions with ``user_idx``, ``room_idx``, ``visit_count`` and
        ``dwell_total_s``.
    users : DataFrame
        ``user_idx`` of the users to recommend to. Users without training rooms get no rows.
    k : int
        List length.

    Returns
    -------
    DataFrame
        Recommendation list ordered by ``visit_count``, then ``dwell_total_s`` (nulls
        last), then ``room_idx``, with ``score`` = ``visit_count`` and ``source`` =
        ``own_history``. It measures how far repeat visits alone go, so evaluate it on the
        repeat slice and not on discovery.
    """
    _require_positive_k(k)
    _require_columns(
        train_interactions,
        [C.USER_IDX, C.ROOM_IDX, C.VISIT_COUNT, C.DWELL_TOTAL_S],
        "train_interactions",
    )
    history = train_interactions.join(_distinct_users(users), on=C.USER_IDX, how="left_semi")
    ranked = renumber_positions(
        history,
        k=k,
        order=[F.desc(C.VISIT_COUNT), F.desc_nulls_last(C.DWELL_TOTAL_S)],
    )
    return ranked.select(
        F.col(C.USER_IDX).cast("int").alias(C.USER_IDX),
        F.col(C.ROOM_IDX).cast("int").alias(C.ROOM_IDX),
        F.col(C.VISIT_COUNT).cast("double").alias(C.SCORE),
        F.col(C.POSITION).cast("int").alias(C.POSITION),
        F.lit(OWN_HISTORY).alias(C.SOURCE),
    )


def random_rooms(
    rooms: DataFrame,
    users: DataFrame,
    *,
    k: int,
    seed: int = 42,
    seen: DataFrame | None = None,
) -> DataFrame:
    """Recommend K rooms per user drawn at random from the catalog, reproducibly.

    Parameters
    ----------
    rooms : DataFrame
        The catalog, with ``room_idx``.
    users : DataFrame
        ``user_idx`` of the users to recommend to.
    k : int
        List length.
    seed : int
        Seed of the draws: the same seed, rooms and users give the same lists on any
        partitioning.
    seen : DataFrame, optional
        (``user_idx``, ``room_idx``) pairs to skip, usually the training interactions.

    Returns
    -------
    DataFrame
        Recommendation list with ``source`` = ``random`` and ``score`` = 1 / position,
        because random lists have no model score.

    Notes
    -----
    Rooms are numbered 0..M-1 in ``room_idx`` order. A user with s seen rooms draws
    ceil(2 (K + 8) M / (M - s)) slots, at most 20 (K + 8), as xxhash64(seed, user_idx,
    draw) mod M. Duplicate and seen rooms are dropped, and the first K rooms in draw order
    remain. The number of draws per user does not grow with the catalog, so there is no
    join of every user with every room.
    """
    _require_positive_k(k)
    _require_columns(rooms, [C.ROOM_IDX], "rooms")
    by_room = Window.orderBy(C.ROOM_IDX)
    numbered = (
        rooms.select(C.ROOM_IDX)
        .distinct()
        .withColumn(_SLOT, (F.row_number().over(by_room) - 1).cast("long"))
    )
    room_count = numbered.count()
    target = _distinct_users(users)
    if seen is not None:
        _require_columns(seen, [C.USER_IDX, C.ROOM_IDX], "seen")
        seen = seen.select(C.USER_IDX, C.ROOM_IDX).distinct()
        seen_counts = seen.groupBy(C.USER_IDX).agg(F.count(F.lit(1)).alias(_SEEN_COUNT))
        target = target.join(seen_counts, on=C.USER_IDX, how="left")
    else:
        target = target.withColumn(_SEEN_COUNT, F.lit(0))
    if room_count == 0:
        logger.warning("random_rooms got an empty room catalog, so every list is empty")
        room_count = 1

    # NOTE: a user who has seen more than about 90% of the catalog may get fewer than K
    # rooms, because the draws are capped at 20 (K + 8).
    unseen_share = F.greatest(
        F.lit(room_count) - F.coalesce(F.col(_SEEN_COUNT), F.lit(0)), F.lit(1)
    ) / F.lit(float(room_count))
    draws = F.least(
        F.ceil(F.lit(2.0 * (k + 8)) / unseen_share),
        F.lit(20 * (k + 8)),
    ).cast("int")
    sampled = (
        target.select(C.USER_IDX, F.explode(F.sequence(F.lit(0), draws - 1)).alias(_DRAW))
        .withColumn(_SLOT, F.pmod(F.xxhash64(F.lit(seed), C.USER_IDX, _DRAW), F.lit(room_count)))
        .join(F.broadcast(numbered), on=_SLOT, how="inner")
    )
    if seen is not None:
        sampled = sampled.join(seen, on=[C.USER_IDX, C.ROOM_IDX], how="left_anti")
    first_draws = sampled.groupBy(C.USER_IDX, C.ROOM_IDX).agg(F.min(_DRAW).alias(_DRAW))
    ranked = renumber_positions(first_draws, k=k, order=[F.col(_DRAW)])
    return ranked.select(
        F.col(C.USER_IDX).cast("int").alias(C.USER_IDX),
        F.col(C.ROOM_IDX).cast("int").alias(C.ROOM_IDX),
        (F.lit(1.0) / F.col(C.POSITION)).alias(C.SCORE),
        F.col(C.POSITION).cast("int").alias(C.POSITION),
        F.lit(RANDOM).alias(C.SOURCE),
    )
