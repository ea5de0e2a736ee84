"""Evaluation slices and the model comparison table on tiny known cases."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from roomrec import columns as C
from roomrec.evaluation import evaluate_models, split_relevant

EXACT = 1e-9
LIST_SCHEMA = "user_idx int, room_idx int, score double, position int"


def pairs(frame) -> set[tuple[int, int]]:
    return {(row[C.USER_IDX], row[C.ROOM_IDX]) for row in frame.collect()}


@pytest.fixture(scope="module")
def slices(spark):
    # Training user i visited room i, i times in total, so the activity terciles of
    # users 1..6 are {1, 2}, {3, 4} and {5, 6}.
    train = spark.createDataFrame(
        [(user, user, user) for user in range(1, 7)],
        "user_idx int, room_idx int, visit_count long",
    )
    test_visits = spark.createDataFrame(
        [
            (1, 1, datetime(2024, 1, 8, 9, tzinfo=timezone.utc)),  # repeat, light user
            (1, 1, datetime(2024, 1, 9, 9, tzinfo=timezone.utc)),  # same pair again
            (1, 10, datetime(2024, 1, 9, tzinfo=timezone.utc)),  # discovery, light user
            (3, 11, datetime(2024, 1, 10, tzinfo=timezone.utc)),  # discovery, medium user
            (5, 5, datetime(2024, 1, 11, tzinfo=timezone.utc)),  # repeat, heavy user
            (7, 12, datetime(2024, 1, 12, tzinfo=timezone.utc)),  # new user, new room
            (None, 3, datetime(2024, 1, 12, tzinfo=timezone.utc)),  # unindexed user
        ],
        "user_idx int, room_idx int, start_ts timestamp",
    )
    rooms = spark.createDataFrame(
        [
            (11, datetime(2023, 5, 1, tzinfo=timezone.utc)),
            (12, datetime(2024, 1, 9, tzinfo=timezone.utc)),
        ],
        "room_idx int, created_at timestamp",
    )
    return split_relevant(test_visits, train, rooms=rooms, test_start="2024-01-08")


def test_split_relevant_discovery_and_repeat(slices):
    assert pairs(slices["all"]) == {(1, 1), (1, 10), (3, 11), (5, 5), (7, 12)}
    assert slices["all"].count() == 5
    assert pairs(slices["discovery"]) == {(1, 10), (3, 11), (7, 12)}
    assert pairs(slices["repeat"]) == {(1, 1), (5, 5)}


def test_split_relevant_activity_slices(slices):
    assert pairs(slices["light"]) == {(1, 1), (1, 10)}
    assert pairs(slices["medium"]) == {(3, 11)}
    assert pairs(slices["heavy"]) == {(5, 5)}
    assert pairs(slices["new_users"]) == {(7, 12)}


def test_split_relevant_new_rooms(slices):
    assert pairs(slices["new_rooms"]) == {(7, 12)}


def test_split_relevant_without_rooms(spark):
    train = spark.createDataFrame([(1, 1, 1)], "user_idx int, room_idx int, visit_count long")
    test = spark.createDataFrame([(1, 2)], "user_idx int, room_idx int")
    result = split_relevant(test, train)
    assert "new_rooms" not in result
    assert pairs(result["discovery"]) == {(1, 2)}


@pytest.fixture(scope="module")
def comparison(spark):
    relevant = {
        "all": spark.createDataFrame([(1, 1), (1, 2), (2, 3)], "user_idx int, room_idx int"),
        "discovery": spark.createDataFrame([(1, 2), (2, 3)], "user_idx int, room_idx int"),
    }
    perfect = spark.createDataFrame([(1, 1, 0.9, 1), (1, 2, 0.8, 2), (2, 3, 0.9, 1)], LIST_SCHEMA)
    popularity = spark.createDataFrame(
        [(1, 5, 9.0, 1), (1, 1, 8.0, 2), (2, 5, 9.0, 1), (2, 6, 8.0, 2)], LIST_SCHEMA
    )
    seen = spark.createDataFrame([(1, 1)], "user_idx int, room_idx int")
    table = evaluate_models(
        {"perfect": perfect, "global_popularity": popularity},
        relevant,
        k_values=[1, 2],
        seen=seen,
    )
    return table


def value(table, model: str, slice_name: str, k: int, metric: str, column: str = "value"):
    selected = table[
        (table["model"] == model)
        & (table["slice"] == slice_name)
        & (table["k"] == k)
        & (table["metric"] == metric)
    ]
    assert len(selected) == 1, (model, slice_name, k, metric)
    return selected.iloc[0][column]


def test_evaluate_models_table_shape(comparison):
    assert list(comparison.columns) == ["model", "slice", "k", "metric", "value", "lift"]
    # 2 models x 2 slices x 2 cutoffs x 7 metrics.
    assert len(comparison) == 56
    assert set(comparison["metric"]) == {
        "precision",
        "recall",
        "ndcg",
        "map",
        "hit_rate",
        "mrr",
        "n_users",
    }


def test_evaluate_models_values(comparison):
    # All slice, K = 1: perfect puts room 1 (user 1) and room 3 (user 2) first.
    assert value(comparison, "perfect", "all", 1, "precision") == pytest.approx(1.0, abs=EXACT)
    assert value(comparison, "perfect", "all", 1, "recall") == pytest.approx(0.75, abs=EXACT)
    # K = 2: perfect precision (2/2 + 1/2) / 2; popularity (1/2 + 0) / 2.
    assert value(comparison, "perfect", "all", 2, "precision") == pytest.approx(0.75, abs=EXACT)
    popularity_precision = value(comparison, "global_popularity", "all", 2, "precision")
    assert popularity_precision == pytest.approx(0.25, abs=EXACT)
    assert value(comparison, "perfect", "all", 2, "n_users") == 2


def test_evaluate_models_discovery_excludes_seen(comparison):
    # Room 1 was seen by user 1 in training, so it leaves the list and room 2 moves up to
    # position 1. Without the exclusion user 1 would miss at K = 1 and precision be 0.5.
    precision = value(comparison, "perfect", "discovery", 1, "precision")
    assert precision == pytest.approx(1.0, abs=EXACT)
    # Popularity loses room 1 for user 1 and has no hit left.
    popularity_hits = value(comparison, "global_popularity", "discovery", 2, "hit_rate")
    assert popularity_hits == pytest.approx(0.0, abs=EXACT)


def test_evaluate_models_lift(comparison):
    assert value(comparison, "perfect", "all", 2, "precision", "lift") == pytest.approx(
        3.0, abs=EXACT
    )
    baseline_lift = value(comparison, "global_popularity", "all", 2, "precision", "lift")
    assert baseline_lift == pytest.approx(1.0, abs=EXACT)
    # The baseline scores 0 at K = 1, so the lift is undefined.
    assert math.isnan(value(comparison, "perfect", "all", 1, "precision", "lift"))
    assert math.isnan(value(comparison, "perfect", "all", 2, "n_users", "lift"))


def test_evaluate_models_warns_unfiltered_discovery(spark, caplog):
    relevant = {"discovery": spark.createDataFrame([(1, 2)], "user_idx int, room_idx int")}
    recs = spark.createDataFrame([(1, 2, 1.0, 1)], LIST_SCHEMA)
    with caplog.at_level("WARNING", logger="roomrec.evaluation"):
        evaluate_models({"model": recs}, relevant, k_values=[1], baseline="")
    assert "model/discovery" in caplog.text


def test_evaluate_models_lists_per_slice(spark, caplog):
    relevant = {
        "all": spark.createDataFrame([(1, 1)], "user_idx int, room_idx int"),
        "discovery": spark.createDataFrame([(1, 2)], "user_idx int, room_idx int"),
    }
    all_list = spark.createDataFrame([(1, 1, 1.0, 1)], LIST_SCHEMA)
    discovery_list = spark.createDataFrame([(1, 2, 1.0, 1)], LIST_SCHEMA)
    with caplog.at_level("WARNING", logger="roomrec.evaluation"):
        table = evaluate_models(
            {"model": {"all": all_list, "discovery": discovery_list}},
            relevant,
            k_values=[1],
            baseline="",
        )
    # The discovery list was passed explicitly, so nothing is scored unfiltered.
    assert "discovery" not in caplog.text
    assert value(table, "model", "all", 1, "precision") == pytest.approx(1.0, abs=EXACT)
    assert value(table, "model", "discovery", 1, "precision") == pytest.approx(1.0, abs=EXACT)
    assert table["lift"].isna().all()


def test_evaluate_models_users_restrict_slices(spark):
    relevant = {"all": spark.createDataFrame([(1, 1), (2, 2)], "user_idx int, room_idx int")}
    recs = spark.createDataFrame([(1, 1, 1.0, 1)], LIST_SCHEMA)
    users = spark.createDataFrame([(1,), (3,)], "user_idx int")
    table = evaluate_models({"model": recs}, relevant, k_values=[1], users=users, baseline="")
    # User 2 is outside users and user 3 has no relevant room, so only user 1 counts.
    assert value(table, "model", "all", 1, "n_users") == 1
    assert value(table, "model", "all", 1, "precision") == pytest.approx(1.0, abs=EXACT)


def test_evaluate_models_requires_baseline(spark):
    relevant = {"all": spark.createDataFrame([(1, 1)], "user_idx int, room_idx int")}
    recs = spark.createDataFrame([(1, 1, 1.0, 1)], LIST_SCHEMA)
    with pytest.raises(ValueError, match="global_popularity"):
        evaluate_models({"als": recs}, relevant, k_values=[1])
