"""The final comparison of ALS with the baselines on the test window (``04_evaluate``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from roomrec import baselines as B
from roomrec import columns as C
from roomrec.als import fit_als, recommend_top_k
from roomrec.evaluation import ALL, DISCOVERY, evaluate_models, split_relevant
from roomrec.metrics import list_metrics
from roomrec.notebook import read_json
from roomrec.oracle import oracle_lists, read_affinities
from roomrec.pipeline import (
    Workspace,
    read_artifact,
    read_rooms_artifact,
    split_data,
    training_matrix,
    tuned_settings,
)
from roomrec.topk import fill_with_fallback

logger = logging.getLogger(__name__)

ALS = "als"
ORACLE = "oracle"


@dataclass
class EvaluationResult:
    """Metrics of every model on every slice, with views for the notebook."""

    table: pd.DataFrame  # model, slice, k, metric, value, lift
    list_table: pd.DataFrame  # coverage, popularity bias and novelty per model
    settings: dict
    window: dict
    extra: dict = field(default_factory=dict)

    def headline(self, k: int) -> pd.DataFrame:
        """Return discovery NDCG@K, its lift over global popularity and users per model."""
        rows = self.table[(self.table["slice"] == DISCOVERY) & (self.table["k"] == k)]
        ndcg = rows[rows["metric"] == "ndcg"].set_index("model")
        users = rows[rows["metric"] == "n_users"].set_index("model")["value"]
        return pd.DataFrame({
            f"ndcg@{k}": ndcg["value"],
            "lift_vs_global_popularity": ndcg["lift"],
            "users": users.astype("int64"),
        }).sort_values(f"ndcg@{k}", ascending=False)

    def wide(self, k: int) -> pd.DataFrame:
        """Return every metric at K as rows (slice, metric) by columns (model)."""
        rows = self.table[(self.table["k"] == k) & (self.table["metric"] != "n_users")]
        return rows.pivot_table(index=["slice", "metric"], columns="model", values="value")

    @property
    def summary(self) -> dict:
        """Return the headline numbers written to the run manifest."""
        k = self.settings["k"]
        headline = self.headline(k)
        column = f"ndcg@{k}"
        summary = {
            "metric": f"ndcg@{k}",
            "slice": DISCOVERY,
            "als": float(headline.loc[ALS, column]),
            "global_popularity": float(headline.loc[B.GLOBAL_POPULARITY, column]),
            "als_lift_vs_global_popularity": float(headline.loc[ALS, "lift_vs_global_popularity"]),
            "test_users": int(headline.loc[ALS, "users"]),
        }
        if ORACLE in headline.index:
            summary["oracle"] = float(headline.loc[ORACLE, column])
        return summary

    def to_json(self) -> dict:
        """Return everything for ``metrics.json``: headline, settings and the full table."""
        records = self.table.astype({"k": "int64"}).to_dict(orient="records")
        return {
            "headline": self.summary,
            "settings": self.settings,
            "window": self.window,
            "lists": self.list_table.reset_index().to_dict(orient="records"),
            "metrics": records,
        }


def evaluate(
    spark: SparkSession,
    ws: Workspace,
    *,
    split: str,
    validation_days: int,
    test_days: int,
    random_fractions: list,
    seed: int,
    k: int,
    k_values: list,
    recent_days: int,
    als_params: dict,
    matrix_options: dict,
) -> EvaluationResult:
    """Fit ALS with the tuned settings and score it and every baseline on the test window.

    Discovery-slice lists leave out rooms the user visited in training; lists for the other
    slices keep them. A user's own rooms are left out of every list, as in production.
    Users the model cannot score get the global popularity list, so they stay in every
    denominator.
    """
    if k not in k_values:
        raise ValueError(f"k={k} must be one of k_values={k_values}; add it to k_values")
    settings = tuned_settings(ws, als_params)
    max_k = max(k_values)
    parts = split_data(
        spark, ws, phase="test", split=split, validation_days=validation_days,
        test_days=test_days, random_fractions=random_fractions, seed=seed,
    )
    room_index = read_artifact(spark, ws, "room_index")
    user_index = read_artifact(spark, ws, "user_index")
    rooms = read_rooms_artifact(spark, ws)
    rooms_indexed = None if rooms is None else rooms.join(room_index, on=C.ROOM_ID, how="inner")

    relevant = split_relevant(
        parts.eval_pairs.filter(~F.col(C.IS_OWN_ROOM)),
        parts.train_pairs,
        rooms=rooms_indexed if split == "temporal" else None,
        test_start=parts.window.get("evaluate_from", ""),
    )
    relevant = {name: frame.cache() for name, frame in relevant.items()}
    users = relevant[ALL].select(C.USER_IDX).distinct().cache()

    own = _own_pairs(spark, rooms, user_index, room_index)
    seen = parts.train_pairs.select(C.USER_IDX, C.ROOM_IDX).unionByName(own).distinct().cache()

    matrix = training_matrix(parts.train_pairs, confidence_scheme=settings["confidence_scheme"],
                             **matrix_options).cache()
    model = fit_als(
        matrix, rank=settings["rank"], reg_param=settings["reg_param"],
        alpha=settings["alpha"], max_iter=settings["max_iter"], seed=seed,
    )
    popularity = {
        ALL: B.global_popularity(parts.train_pairs, users, k=max_k, exclude_seen=False),
        DISCOVERY: B.global_popularity(parts.train_pairs, users, k=max_k, exclude_seen=True),
    }
    lists: dict[str, Any] = {
        ALS: {
            ALL: _with_fallback(recommend_top_k(model, users, k=max_k, seen=own),
                                popularity[ALL], users, max_k),
            DISCOVERY: _with_fallback(recommend_top_k(model, users, k=max_k, seen=seen),
                                      popularity[DISCOVERY], users, max_k),
        },
        B.GLOBAL_POPULARITY: popularity,
        # Own history only repeats training rooms, so it scores 0 on discovery by design.
        B.OWN_HISTORY: _same_for_every_slice(
            B.own_history(parts.train_pairs.filter(~F.col(C.IS_OWN_ROOM)), users, k=max_k)
        ),
        B.RANDOM: {
            ALL: B.random_rooms(room_index, users, k=max_k, seed=seed),
            DISCOVERY: B.random_rooms(room_index, users, k=max_k, seed=seed, seen=seen),
        },
    }
    if parts.train_visits is not None:
        end = parts.window["evaluate_from"]
        lists[B.RECENT_POPULARITY] = {
            ALL: B.recent_popularity(parts.train_visits, users, k=max_k,
                                     window_days=recent_days, end_ts=end, exclude_seen=False),
            DISCOVERY: B.recent_popularity(parts.train_visits, users, k=max_k,
                                           window_days=recent_days, end_ts=end),
        }
    affinities = read_json(ws.artifacts_dir, "inputs", written_by="02_build_interactions").get(
        "affinities", ""
    )
    if affinities:
        planted = read_affinities(spark, affinities)
        lists[ORACLE] = {
            ALL: oracle_lists(planted, user_index, room_index, users, k=max_k, exclude=own),
            DISCOVERY: oracle_lists(planted, user_index, room_index, users, k=max_k,
                                    exclude=seen),
        }
    lists = {name: _cache_lists(value) for name, value in lists.items()}
    table = evaluate_models(lists, relevant, k_values=k_values,
                            baseline=B.GLOBAL_POPULARITY)
    list_table = _list_table(lists, parts.train_pairs, room_index, k=k)
    settings = {**settings, "k": k, "k_values": list(k_values), "seed": seed}
    return EvaluationResult(table, list_table, settings, parts.window)


def _own_pairs(spark, rooms, user_index: DataFrame, room_index: DataFrame) -> DataFrame:
    if rooms is None:
        return spark.createDataFrame([], f"{C.USER_IDX} int, {C.ROOM_IDX} int")
    return (
        rooms
        .select(F.col(C.OWNER_ID).alias(C.USER_ID), C.ROOM_ID)
        .join(user_index, on=C.USER_ID, how="inner")
        .join(room_index, on=C.ROOM_ID, how="inner")
        .select(C.USER_IDX, C.ROOM_IDX)
    )


def _same_for_every_slice(recs: DataFrame) -> dict:
    return {ALL: recs, DISCOVERY: recs}


def _with_fallback(recs: DataFrame, fallback: DataFrame, users: DataFrame, k: int) -> DataFrame:
    return fill_with_fallback(recs, fallback, users, k=k, primary_source=ALS)


def _cache_lists(value):
    if isinstance(value, DataFrame):
        return value.cache()
    return {name: frame.cache() for name, frame in value.items()}


def _list_table(lists: dict, train_pairs: DataFrame, room_index: DataFrame, *, k: int):
    popularity = B.room_popularity(train_pairs)
    n_rooms = room_index.count()
    n_users = train_pairs.select(C.USER_IDX).distinct().count()
    rows = {}
    for name, value in lists.items():
        recs = value if isinstance(value, DataFrame) else value[DISCOVERY]
        rows[name] = list_metrics(recs, k=k, n_rooms=n_rooms, room_popularity=popularity,
                                  n_train_users=n_users)
    table = pd.DataFrame(rows).T
    table.index.name = "model"
    return table
