"""Relevant sets per evaluation slice, and a tidy table comparing models on each slice.

The business goal is discovery: rooms a user had not visited in training. Repeat visits are
easy to predict from the user's own history, so metrics over all test rooms mostly reward
repeating it. Every model is therefore also scored on the discovery slice, after the rooms
each user saw in training are removed from its list. Further slices group users by
activity, isolate users new in the test window and rooms created in it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.metrics import MEAN_METRIC_NAMES, ranking_metrics_multi_k
from roomrec.split import parse_utc, utc_timestamp_literal
from roomrec.topk import exclude_seen

logger = logging.getLogger(__name__)

ALL = "all"
DISCOVERY = "discovery"
REPEAT = "repeat"
LIGHT = "light"
MEDIUM = "medium"
HEAVY = "heavy"
NEW_USERS = "new_users"
NEW_ROOMS = "new_rooms"

# Metrics in the table, in this order. n_users is the denominator of the others.
TABLE_METRICS = (*MEAN_METRIC_NAMES.values(), "n_users")

_TRAIN_VISITS = "_train_visits"


def _require_columns(frame: DataFrame, required: list[str], name: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing}; it has {frame.columns}. "
            f"Pass a DataFrame with {required}."
        )


def _activity_slices(
    test_pairs: DataFrame, train_interactions: DataFrame, relative_error: float
) -> dict[str, DataFrame]:
    """Split the test pairs by the user's training visit count into terciles and new users."""
    activity = train_interactions.groupBy(C.USER_IDX).agg(F.sum(C.VISIT_COUNT).alias(_TRAIN_VISITS))
    slices = {NEW_USERS: test_pairs.join(activity, on=C.USER_IDX, how="left_anti")}
    bounds = activity.approxQuantile(_TRAIN_VISITS, [1 / 3, 2 / 3], relative_error)
    if len(bounds) < 2:
        logger.warning("no training users, so the light, medium and heavy slices are empty")
        bounds = [math.inf, math.inf]
    lower, upper = bounds
    # NOTE: with many users at the same visit count (typically 1), the terciles collapse and
    # the light slice takes more than a third of the users.
    logger.info(
        "activity terciles of training visits: light <= %s < medium <= %s < heavy", lower, upper
    )
    visits = F.col(_TRAIN_VISITS)
    groups = {
        LIGHT: visits <= lower,
        MEDIUM: (visits > lower) & (visits <= upper),
        HEAVY: visits > upper,
    }
    for name, condition in groups.items():
        group_users = activity.filter(condition).select(C.USER_IDX)
        slices[name] = test_pairs.join(group_users, on=C.USER_IDX, how="left_semi")
    return slices


def _new_room_slice(
    test_pairs: DataFrame, test_visits: DataFrame, rooms: DataFrame, test_start: str
) -> DataFrame:
    _require_columns(rooms, [C.ROOM_IDX, C.CREATED_AT], "rooms")
    if test_start:
        start_literal = utc_timestamp_literal(parse_utc(test_start))
    else:
        _require_columns(test_visits, [C.START_TS], "test_visits_indexed")
        first_micros = test_visits.agg(
            F.min(F.expr(f"unix_micros({C.START_TS})")).alias("_first_micros")
        ).first()["_first_micros"]
        if first_micros is None:
            raise ValueError(
                "the new_rooms slice needs the start of the test window: pass test_start "
                "(for example TemporalSplit.test_start) or test visits with start_ts"
            )
        start_literal = F.expr(f"timestamp_micros({first_micros})")
    new_rooms = rooms.filter(F.col(C.CREATED_AT) >= start_literal).select(C.ROOM_IDX)
    return test_pairs.join(new_rooms, on=C.ROOM_IDX, how="left_semi").select(C.USER_IDX, C.ROOM_IDX)


def split_relevant(
    test_visits_indexed: DataFrame,
    train_interactions: DataFrame,
    *,
    rooms: DataFrame | None = None,
    test_start: str = "",
    relative_error: float = 0.001,
) -> dict[str, DataFrame]:
    """Build the relevant (user, room) pairs of each evaluation slice.

    Parameters
    ----------
    test_visits_indexed : DataFrame
        Test visits with ``user_idx`` and ``room_idx``. Rows with a null index are dropped.
    train_interactions : DataFrame
        Training interactions with ``user_idx``, ``room_idx`` and ``visit_count``.
    rooms : DataFrame, optional
        Rooms with ``room_idx`` and ``created_at``. Without it there is no ``new_rooms``
        slice.
    test_start : str
        Start of the test window (ISO 8601), used for ``new_rooms``. Empty uses the earliest
        ``start_ts`` of the test visits.
    relative_error : float
        Relative error of ``approxQuantile`` for the activity terciles; 0 computes them
        exactly at a higher cost.

    Returns
    -------
    dict of str to DataFrame
        Distinct (``user_idx``, ``room_idx``) pairs per slice:

        - ``all``: every test pair.
        - ``discovery``: test pairs the user had not visited in training.
        - ``repeat``: test pairs the user had visited in training.
        - ``light``, ``medium``, ``heavy``: test pairs of training users in the lower,
          middle and upper tercile of training visit counts (sum of ``visit_count``).
          A user at a tercile bound belongs to the lower group.
        - ``new_users``: test pairs of users without training interactions.
        - ``new_rooms``: test pairs of rooms whose ``created_at`` is at or after the test
          start, when ``rooms`` is given.

        The frames are lazy and recompute the joins on every use, so persist them when
        several models are evaluated.
    """
    _require_columns(test_visits_indexed, [C.USER_IDX, C.ROOM_IDX], "test_visits_indexed")
    _require_columns(
        train_interactions, [C.USER_IDX, C.ROOM_IDX, C.VISIT_COUNT], "train_interactions"
    )
    test_pairs = (
        test_visits_indexed.filter(F.col(C.USER_IDX).isNotNull() & F.col(C.ROOM_IDX).isNotNull())
        .select(C.USER_IDX, C.ROOM_IDX)
        .distinct()
    )
    train_pairs = train_interactions.select(C.USER_IDX, C.ROOM_IDX).distinct()
    slices = {
        ALL: test_pairs,
        DISCOVERY: test_pairs.join(train_pairs, on=[C.USER_IDX, C.ROOM_IDX], how="left_anti"),
        REPEAT: test_pairs.join(train_pairs, on=[C.USER_IDX, C.ROOM_IDX], how="left_semi"),
    }
    slices.update(_activity_slices(test_pairs, train_interactions, relative_error))
    if rooms is not None:
        slices[NEW_ROOMS] = _new_room_slice(test_pairs, test_visits_indexed, rooms, test_start)
    return slices


def _list_for_slice(model: str, lists: DataFrame | Mapping[str, DataFrame], slice_name: str):
    if isinstance(lists, DataFrame):
        return lists
    if slice_name in lists:
        return lists[slice_name]
    if ALL in lists:
        return lists[ALL]
    raise ValueError(
        f"model '{model}' has no list for slice '{slice_name}' and no '{ALL}' list; "
        f"its lists cover {sorted(lists)}. Add the slice or an '{ALL}' entry."
    )


def _add_lift(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    keys = ["slice", "k", "metric"]
    reference = table.loc[table["model"] == baseline, [*keys, "value"]].rename(
        columns={"value": "_baseline_value"}
    )
    merged = table.merge(reference, on=keys, how="left")
    usable = (merged["metric"] != "n_users") & (merged["_baseline_value"] > 0)
    merged["lift"] = float("nan")
    merged.loc[usable, "lift"] = merged.loc[usable, "value"] / merged.loc[usable, "_baseline_value"]
    return merged.drop(columns="_baseline_value")


def evaluate_models(
    lists: Mapping[str, DataFrame | Mapping[str, DataFrame]],
    relevant: Mapping[str, DataFrame],
    *,
    k_values: Sequence[int],
    users: DataFrame | None = None,
    baseline: str = "global_popularity",
    seen: DataFrame | None = None,
    seen_excluded_slices: Sequence[str] = (DISCOVERY,),
) -> pd.DataFrame:
    """Score every model on every slice and cutoff and return a tidy table with lift.

    Parameters
    ----------
    lists : mapping
        Model name to its recommendation list. A value may also be a mapping from slice
        name to list, for models whose list differs per slice. Slices missing from such a
        mapping use its ``all`` entry.
    relevant : mapping
        Slice name to relevant pairs, usually from :func:`split_relevant`.
    k_values : sequence of int
        Cutoffs.
    users : DataFrame, optional
        ``user_idx`` of the users to evaluate, such as a sample of test users. Every slice
        keeps only these users. The denominator of a slice is always its users with at
        least one relevant room.
    baseline : str
        Model the ``lift`` column compares with. An empty string skips lift.
    seen : DataFrame, optional
        (``user_idx``, ``room_idx``) pairs visited in training. When given, the lists
        scored on ``seen_excluded_slices`` first lose those rooms with
        :func:`roomrec.topk.exclude_seen` and are cut to the largest K. Lists produced for
        discovery should then hold more than K rooms per user, such as K plus a headroom,
        or already exclude seen rooms (a second exclusion changes nothing). Without
        ``seen``, pass discovery lists per slice.
    seen_excluded_slices : sequence of str
        Slices scored on lists without training rooms.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``slice``, ``k``, ``metric``, ``value`` and ``lift``. Metrics are
        ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate``, ``mrr`` (means over
        the slice's users) and ``n_users``. ``lift`` is value / baseline value in the same
        slice, K and metric: 1.0 equals the baseline. It is NaN for ``n_users`` and where
        the baseline value is 0.
    """
    if not k_values:
        raise ValueError("k_values is empty; pass at least one cutoff such as [10]")
    if baseline and baseline not in lists:
        raise ValueError(
            f"baseline model '{baseline}' is not in lists ({sorted(lists)}); add its list, "
            "choose another baseline, or pass baseline='' to skip lift"
        )
    if users is not None:
        _require_columns(users, [C.USER_IDX], "users")
        users = users.select(C.USER_IDX).distinct()
    k_values = list(dict.fromkeys(k_values))
    max_k = max(k_values)

    rows = []
    unfiltered: list[str] = []
    for model, model_lists in lists.items():
        for slice_name, slice_relevant in relevant.items():
            recs = _list_for_slice(model, model_lists, slice_name)
            if slice_name in seen_excluded_slices:
                if seen is not None:
                    recs = exclude_seen(recs, seen, k=max_k)
                elif isinstance(model_lists, DataFrame) or slice_name not in model_lists:
                    unfiltered.append(f"{model}/{slice_name}")
            if users is not None:
                slice_relevant = slice_relevant.join(users, on=C.USER_IDX, how="left_semi")
            results = ranking_metrics_multi_k(recs, slice_relevant, k_values=k_values)
            logger.info("evaluated model %s on slice %s", model, slice_name)
            for k in k_values:
                for metric in TABLE_METRICS:
                    rows.append((model, slice_name, k, metric, results[k][metric]))
    if unfiltered:
        logger.warning(
            "no seen pairs given and no list per slice for %s: those lists are scored as "
            "passed, including rooms the user visited in training",
            ", ".join(unfiltered),
        )

    table = pd.DataFrame(rows, columns=["model", "slice", "k", "metric", "value"])
    if baseline:
        return _add_lift(table, baseline)
    return table.assign(lift=float("nan"))
